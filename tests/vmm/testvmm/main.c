// SPDX-License-Identifier: GPL-2.0
/* testvmm: options, signals and main(); testvmm.h describes the VMM */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

#include "testvmm.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: testvmm [options]\n"
		"  --vcpus N          vCPUs, 1..%d (default 1)\n"
		"  --cpu C            pin every vCPU thread to CPU C\n"
		"  --seconds S        run time (default 10), then exit 0\n"
		"  --name NAME        process name (comm)\n"
		"  --report FILE      append JSON lines (start, register, probe, guest, pause,\n"
		"                     resume, rw_mmap, exit events)\n"
		"  --control PATH     register with stealtimed on this control socket\n"
		"  --region-ipa A     guest physical address of the region (default 0x%x)\n"
		"  --no-set-ipa       register, but give no vCPU a record\n"
		"  --initial-ns V     initial stolen_ns of every record (set_ipa initial_ns)\n"
		"  --try-rw-mmap      try to map the region writable; report the outcome\n"
		"  --pause-file F     while F exists, vCPUs do not run\n"
		"  --snapshot-out F   at exit, write the daemon's per-vCPU values as JSON\n"
		"  --request JSON     after setting up, send JSON raw on the registered\n"
		"                     connection and report the reply (repeatable)\n"
		"  --cycles N         before registering for good, connect/register/close N times\n"
		"  --control-rounds N after registering, N timed snapshot requests (reported)\n"
		"  --idle-us N        sleep N us after each guest heartbeat (mostly idle vCPUs)\n"
		"  --handoff-after S  after S seconds vCPU 0 continues on a new thread (the old\n"
		"                     one sleeps until the VM stops)\n"
		"  --handoff-exit     ... or rather, its thread exits and no thread runs it\n"
		"SIGHUP, once registered: close the connection, register on a new one (st_vmm_reconnect)\n"
		"and report whether the region is the same\n"
		"exit: 0 ok, 1 error, 2 registration failed, %d bad usage\n",
		MAX_VCPUS, REGION_IPA_DEFAULT, EXIT_USAGE);
}

__attribute__((format(printf, 1, 2)))
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("testvmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	return -EINVAL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -EINVAL : 0;
}

static int parse_option(struct options *o, int c, const char *arg)
{
	uint64_t v;
	char *end;

	switch (c) {
	case 'v':
		if (parse_u64(arg, &v) || v < 1 || v > MAX_VCPUS)
			return -EINVAL;
		o->vcpus = (unsigned int)v;
		return 0;
	case 'c':
		if (parse_u64(arg, &v) || v >= CPU_SETSIZE)
			return -EINVAL;
		o->cpu = (int)v;
		return 0;
	case 's':
		o->seconds = strtod(arg, &end);
		return *end || end == arg || !(o->seconds >= 0 && o->seconds < 1e6) ? -EINVAL : 0;
	case 'n': o->name = arg; return 0;
	case 'r': o->report = arg; return 0;
	case 'C': o->control = arg; return 0;
	case 'p': o->pause_file = arg; return 0;
	case 'o': o->snapshot_out = arg; return 0;
	case 'N': o->set_ipa = false; return 0;
	case 'w': o->try_rw_mmap = true; return 0;
	case 'X': o->handoff_exit = true; return 0;
	case 'a':
		return parse_u64(arg, &o->region_ipa);
	case 'i':
		o->has_initial = true;
		return parse_u64(arg, &o->initial_ns);
	case 'R':
		if (o->nrequests == MAX_REQUESTS)
			return -EINVAL;
		o->requests[o->nrequests++] = arg;
		return 0;
	case 'Y':
		if (parse_u64(arg, &v) || v > 100000)
			return -EINVAL;
		o->cycles = (unsigned int)v;
		return 0;
	case 'T':
		if (parse_u64(arg, &v) || v > 100000)
			return -EINVAL;
		o->control_rounds = (unsigned int)v;
		return 0;
	case 'I':
		return parse_u64(arg, &o->idle_us) || o->idle_us > 600000000 ? -EINVAL : 0;
	case 'H':
		o->handoff_after = strtod(arg, &end);
		return *end || end == arg || !(o->handoff_after > 0 && o->handoff_after < 1e6) ? -EINVAL : 0;
	}
	return -EINVAL;
}

static int parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "vcpus", required_argument, NULL, 'v' },
		{ "cpu", required_argument, NULL, 'c' },
		{ "seconds", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "report", required_argument, NULL, 'r' },
		{ "control", required_argument, NULL, 'C' },
		{ "region-ipa", required_argument, NULL, 'a' },
		{ "no-set-ipa", no_argument, NULL, 'N' },
		{ "initial-ns", required_argument, NULL, 'i' },
		{ "try-rw-mmap", no_argument, NULL, 'w' },
		{ "pause-file", required_argument, NULL, 'p' },
		{ "snapshot-out", required_argument, NULL, 'o' },
		{ "request", required_argument, NULL, 'R' },
		{ "cycles", required_argument, NULL, 'Y' },
		{ "control-rounds", required_argument, NULL, 'T' },
		{ "idle-us", required_argument, NULL, 'I' },
		{ "handoff-after", required_argument, NULL, 'H' },
		{ "handoff-exit", no_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, li = 0;

	*o = (struct options){ .vcpus = 1, .cpu = -1, .seconds = 10,
			       .region_ipa = REGION_IPA_DEFAULT, .set_ipa = true };
	while ((c = getopt_long(argc, argv, "", longopts, &li)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == '?') {
			usage(stderr);
			return -EINVAL;
		}
		if (parse_option(o, c, optarg))
			return bad_usage("bad value for --%s: %s", longopts[li].name, optarg);
	}
	if (optind != argc)
		return bad_usage("unexpected argument %s", argv[optind]);
	if (o->region_ipa % ST_VMM_REGION_SIZE || o->region_ipa < GUEST_RAM_SIZE ||
	    o->region_ipa > REGION_IPA_MAX)
		return bad_usage("--region-ipa must be 64 KiB aligned in [0x%x, 0x%x]",
				 GUEST_RAM_SIZE, REGION_IPA_MAX);
	return 0;
}

/* --- signals --------------------------------------------------------------------- */

static void wake_handler(int sig)
{
	(void)sig;
}

/* Signals: SIGTERM/SIGINT/SIGUSR2/SIGHUP for the main thread's sigtimedwait,
 * SIGUSR1 (unblocked in vCPU threads only) to kick a vCPU out of KVM_RUN. */
static void signals_setup(void)
{
	struct sigaction sa = { .sa_handler = wake_handler };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

int main(int argc, char **argv)
{
	static struct vm vm;
	struct options opt;
	int rc;

	rc = parse_options(&opt, argc, argv);
	if (rc)
		return rc > 0 ? 0 : EXIT_USAGE;
	if (opt.name && prctl(PR_SET_NAME, opt.name, 0, 0, 0))
		error_at(-errno, "set name %s", opt.name);
	signals_setup();
	vm_init(&vm, &opt);
	rc = vm_setup(&vm);
	if (!rc)
		rc = vm_run(&vm);
	vm_destroy(&vm);
	return rc;
}
