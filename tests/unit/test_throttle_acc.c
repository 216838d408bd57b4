// link: daemon/throttle_acc.c
// SPDX-License-Identifier: GPL-2.0
/*
 * Throttling counters that never go down (daemon/throttle_acc.c) while the
 * cgroups feeding them change: readings are given by hand, the way
 * vm_throttle.c gives them from cpu.stat at rescans and views.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "throttle_acc.h"

#define MS 1000000ull

/* A VM's sources and its counter, as vm_throttle.c keeps them */
struct vm {
	struct throttle_set set;
	struct throttle_counter total;
};

/* path is a source of the rescan under way, joining with reading (owned: the VM's own cgroup) */
static size_t use(struct vm *vm, const char *path, bool owned, uint64_t reading)
{
	bool joined, first;
	size_t idx;

	assert_int_equal(throttle_set_use(&vm->set, path, true, &idx, &joined, &first), 0);
	if (joined)
		throttle_src_join(&vm->set.src[idx], first, owned, true, reading);
	return idx;
}

/* A view: source idx reads reading; the counter as it is then */
static uint64_t read_src(struct vm *vm, size_t idx, uint64_t reading)
{
	throttle_counter_add(&vm->total, throttle_src_growth(&vm->set.src[idx], reading));
	return vm->total.ns;
}

static void own_cgroup__first_seen__counts_from_zero(void **state)
{
	struct vm vm = { 0 };
	size_t a;

	throttle_set_begin(&vm.set);
	a = use(&vm, "/vm/libvirt/vcpu0", true, 300 * MS);
	throttle_set_end(&vm.set, NULL);
	assert_false(vm.total.known);
	assert_int_equal(read_src(&vm, a, 300 * MS), 300 * MS);
	assert_true(vm.total.known);
	assert_int_equal(read_src(&vm, a, 450 * MS), 450 * MS);
	throttle_set_free(&vm.set);
}

static void shared_cgroup__first_seen__counts_from_its_reading_then(void **state)
{
	struct vm vm = { 0 };
	size_t a;

	throttle_set_begin(&vm.set);
	a = use(&vm, "/user.slice", false, 9000 * MS);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, a, 9000 * MS), 0);
	assert_true(vm.total.known); /* read once: the series exists, at 0 */
	assert_int_equal(read_src(&vm, a, 9040 * MS), 40 * MS);
	throttle_set_free(&vm.set);
}

static void moved__to_another_cgroup__keeps_value_adds_only_growth(void **state)
{
	struct vm vm = { 0 };
	uint64_t before;
	size_t a, b;

	throttle_set_begin(&vm.set);
	a = use(&vm, "/vm/libvirt/vcpu0", true, 0);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, a, 700 * MS), 700 * MS);
	/* the rescan reads the leaving source a last time, then the thread is elsewhere */
	before = read_src(&vm, a, 710 * MS);
	throttle_set_begin(&vm.set);
	b = use(&vm, "/other", false, 5000 * MS);
	throttle_set_end(&vm.set, NULL);
	assert_false(vm.set.src[a].live);
	assert_true(vm.set.src[b].live);
	assert_int_equal(read_src(&vm, b, 5000 * MS), before);
	assert_int_equal(read_src(&vm, b, 5020 * MS), before + 20 * MS);
	throttle_set_free(&vm.set);
}

static void moved_back__to_a_former_source__counts_from_its_reading_then(void **state)
{
	struct vm vm = { 0 };
	bool joined, first;
	size_t a, b, again;

	throttle_set_begin(&vm.set);
	a = use(&vm, "/vm/vcpu0", true, 0);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, a, 100 * MS), 100 * MS);
	throttle_set_begin(&vm.set);
	b = use(&vm, "/vm/vcpu0-moved", true, 0);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, b, 30 * MS), 130 * MS);
	/* back in vcpu0, throttled meanwhile (not the VM's): neither its 100 ms again nor that */
	throttle_set_begin(&vm.set);
	assert_int_equal(throttle_set_use(&vm.set, "/vm/vcpu0", true, &again, &joined, &first), 0);
	assert_int_equal(again, a);
	assert_true(joined);
	assert_false(first);
	throttle_src_join(&vm.set.src[again], first, true, true, 180 * MS);
	throttle_set_end(&vm.set, NULL);
	assert_false(vm.set.src[b].live);
	assert_int_equal(read_src(&vm, a, 180 * MS), 130 * MS);
	assert_int_equal(read_src(&vm, a, 185 * MS), 135 * MS);
	throttle_set_free(&vm.set);
}

static void reading__below_the_last__no_decrease_new_baseline(void **state)
{
	struct vm vm = { 0 };
	size_t a;

	throttle_set_begin(&vm.set);
	a = use(&vm, "/vm", true, 0);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, a, 500 * MS), 500 * MS);
	assert_int_equal(read_src(&vm, a, 20 * MS), 500 * MS);
	assert_int_equal(read_src(&vm, a, 25 * MS), 505 * MS);
	throttle_set_free(&vm.set);
}

static void unreadable_at_join__shared__first_reading_is_baseline(void **state)
{
	struct vm vm = { 0 };
	bool joined, first;
	size_t a;

	throttle_set_begin(&vm.set);
	assert_int_equal(throttle_set_use(&vm.set, "/shared", true, &a, &joined, &first), 0);
	throttle_src_join(&vm.set.src[a], first, false, false, 0);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, a, 800 * MS), 0);
	assert_int_equal(read_src(&vm, a, 801 * MS), 1 * MS);
	throttle_set_free(&vm.set);
}

static void unreadable_at_join__own_and_first__counts_from_zero(void **state)
{
	struct vm vm = { 0 };
	bool joined, first;
	size_t a;

	throttle_set_begin(&vm.set);
	assert_int_equal(throttle_set_use(&vm.set, "/vm", true, &a, &joined, &first), 0);
	throttle_src_join(&vm.set.src[a], first, true, false, 0);
	throttle_set_end(&vm.set, NULL);
	assert_int_equal(read_src(&vm, a, 800 * MS), 800 * MS);
	throttle_set_free(&vm.set);
}

static void use__same_path_twice_in_a_rescan__one_source_joined_once(void **state)
{
	struct vm vm = { 0 };
	bool joined, first;
	size_t a, b;

	throttle_set_begin(&vm.set);
	assert_int_equal(throttle_set_use(&vm.set, "/vm", true, &a, &joined, &first), 0);
	assert_true(joined && first);
	assert_int_equal(throttle_set_use(&vm.set, "/vm", true, &b, &joined, &first), 0);
	assert_int_equal(a, b);
	assert_false(joined);
	assert_false(first);
	/* the same path in the other hierarchy is another cgroup */
	assert_int_equal(throttle_set_use(&vm.set, "/vm", false, &b, &joined, &first), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(vm.set.n, 2);
	throttle_set_free(&vm.set);
}

static int left;
static void count_leave(struct throttle_src *src)
{
	(void)src;
	left++;
}

static void end__unseen_live_sources__leave_once(void **state)
{
	struct vm vm = { 0 };

	left = 0;
	throttle_set_begin(&vm.set);
	use(&vm, "/a", true, 0);
	use(&vm, "/b", true, 0);
	throttle_set_end(&vm.set, count_leave);
	assert_int_equal(left, 0);
	throttle_set_begin(&vm.set);
	use(&vm, "/b", true, 0);
	throttle_set_end(&vm.set, count_leave);
	assert_int_equal(left, 1);
	throttle_set_begin(&vm.set);
	use(&vm, "/b", true, 0);
	throttle_set_end(&vm.set, count_leave);
	assert_int_equal(left, 1);
	throttle_set_free(&vm.set);
}

static void set__full_of_live_sources__enospc_then_reuses_a_gone_one(void **state)
{
	struct vm vm = { 0 };
	bool joined, first;
	char path[32];
	size_t idx;

	throttle_set_begin(&vm.set);
	for (int i = 0; i < THROTTLE_MAX_SOURCES; i++) {
		snprintf(path, sizeof(path), "/c%d", i);
		use(&vm, path, true, 0);
	}
	assert_int_equal(throttle_set_use(&vm.set, "/one-more", true, &idx, &joined, &first),
			 -ENOSPC);
	throttle_set_end(&vm.set, NULL);
	throttle_set_begin(&vm.set); /* only /c0 stays: the others leave at the end */
	use(&vm, "/c0", true, 0);
	assert_int_equal(throttle_set_use(&vm.set, "/one-more", true, &idx, &joined, &first),
			 -ENOSPC);
	throttle_set_end(&vm.set, NULL);
	throttle_set_begin(&vm.set);
	use(&vm, "/c0", true, 0);
	assert_int_equal(throttle_set_use(&vm.set, "/one-more", true, &idx, &joined, &first), 0);
	assert_true(first);
	assert_int_not_equal(idx, 0);
	assert_int_equal(vm.set.n, THROTTLE_MAX_SOURCES);
	throttle_set_free(&vm.set);
}

/* A rescan's reading taken before the lock, counted after a view's newer one */
/* A rescan in which a shared cgroup joins, read at 100 ms: its index */
static size_t shared_at_100(struct vm *vm)
{
	size_t a;

	throttle_set_begin(&vm->set);
	a = use(vm, "/user.slice", false, 100 * MS);
	throttle_set_end(&vm->set, NULL);
	return a;
}

static void growth_since__reading_older_than_the_last__nothing_counted_twice(void **state)
{
	struct vm vm = { 0 };
	size_t a = shared_at_100(&vm);

	assert_int_equal(read_src(&vm, a, 130 * MS), 30 * MS); /* a view, after the reading */
	assert_int_equal(throttle_src_growth_since(&vm.set.src[a], 120 * MS), 0);
	assert_int_equal(vm.set.src[a].last, 130 * MS);
	assert_int_equal(read_src(&vm, a, 150 * MS), 50 * MS);
	throttle_set_free(&vm.set);
}

static void growth_since__reading_newer_or_first__as_growth(void **state)
{
	struct vm vm = { 0 };
	size_t a = shared_at_100(&vm);

	assert_int_equal(throttle_src_growth_since(&vm.set.src[a], 110 * MS), 10 * MS);
	assert_int_equal(vm.set.src[a].last, 110 * MS);
	vm.set.src[a].has_base = false; /* unreadable when it joined: the reading is the base */
	assert_int_equal(throttle_src_growth_since(&vm.set.src[a], 90 * MS), 0);
	assert_int_equal(vm.set.src[a].last, 90 * MS);
	assert_true(vm.set.src[a].has_base);
	throttle_set_free(&vm.set);
}

static void counter__add__saturates_and_is_known_at_zero(void **state)
{
	struct throttle_counter c = { 0 };

	throttle_counter_add(&c, 0);
	assert_true(c.known);
	assert_int_equal(c.ns, 0);
	throttle_counter_add(&c, UINT64_MAX - 1);
	throttle_counter_add(&c, 5);
	assert_int_equal(c.ns, UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(own_cgroup__first_seen__counts_from_zero),
		cmocka_unit_test(shared_cgroup__first_seen__counts_from_its_reading_then),
		cmocka_unit_test(moved__to_another_cgroup__keeps_value_adds_only_growth),
		cmocka_unit_test(moved_back__to_a_former_source__counts_from_its_reading_then),
		cmocka_unit_test(reading__below_the_last__no_decrease_new_baseline),
		cmocka_unit_test(unreadable_at_join__shared__first_reading_is_baseline),
		cmocka_unit_test(unreadable_at_join__own_and_first__counts_from_zero),
		cmocka_unit_test(use__same_path_twice_in_a_rescan__one_source_joined_once),
		cmocka_unit_test(end__unseen_live_sources__leave_once),
		cmocka_unit_test(set__full_of_live_sources__enospc_then_reuses_a_gone_one),
		cmocka_unit_test(growth_since__reading_older_than_the_last__nothing_counted_twice),
		cmocka_unit_test(growth_since__reading_newer_or_first__as_growth),
		cmocka_unit_test(counter__add__saturates_and_is_known_at_zero),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
