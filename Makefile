# stealtime: build, run and test. See README.md.
#
#   make            install missing packages (as root), build everything
#   make run        stealtimed in the foreground on its built-in defaults
#   make check      every test (unit, kernel, KVM, end to end); the KVM
#                   suites in a VM (tests/vm/) where there is no /dev/kvm
#   make check-kernels  the kernel-sensitive suites on each of CHECK_KERNELS
#   make vm-shell   a shell in that VM
#   make bench      benchmarks (hook cost, context-switch throughput)
#   make install    PREFIX (default /usr/local), DESTDIR, UNITDIR, ...
#   make deb        the Debian packages stealtime and libstealtime-vmm-dev
#                   in $(BUILD)/deb/, checked by lintian
#   make clean
#
# OPTFLAGS (default -O2 -g) and EXTRA_CFLAGS add to the C flags, e.g. an
# ASan build: make BUILD=build/asan CC=clang OPTFLAGS="-O1 -g -fsanitize=address,undefined"
# (make asan, make tsan: the ASan+UBSan and ThreadSanitizer builds the tests use)
#
# Outputs go to build/. Quiet unless V=1. VMLINUX_H=path overrides the
# vmlinux.h generated from the running kernel's BTF.

BUILD     ?= build
VERSION   ?= 0.1
PREFIX    ?= /usr/local
DESTDIR   ?=
SBINDIR   ?= $(PREFIX)/sbin
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
UNITDIR     ?= /etc/systemd/system
TMPFILESDIR ?= /usr/lib/tmpfiles.d
# INSTALL_DEPS=no: do not look for missing packages (debian/rules: the
# package build has checked its Build-Depends)
INSTALL_DEPS ?= yes
CC        ?= cc
CLANG     ?= clang
BPFTOOL   ?= bpftool
VMLINUX_H ?=

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
OPTFLAGS ?= -O2 -g
CFLAGS   := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -I$(BUILD) -Idaemon $(OPTFLAGS) $(EXTRA_CFLAGS)
LIBS     := -lbpf -lelf -lz -lsystemd -ljansson -lmicrohttpd -lgnutls -lyaml -lcrypt -lpthread
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
	-Wno-unused-function -I$(BUILD) -Iinclude

DEPS_STAMP := $(BUILD)/.deps-ok
MOUNT_STAMP := $(BUILD)/.mounts

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS  := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

DAEMON_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
DAEMON_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(DAEMON_SRCS))
DAEMON_LIB  := $(BUILD)/libstealtimed.a

VMMLIB_SRCS := $(wildcard vmmlib/*.c)
VMMLIB_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(VMMLIB_SRCS))
VMMLIB      := $(BUILD)/libstealtime-vmm.a

CTL_SRCS := $(wildcard ctl/*.c)
CTL_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CTL_SRCS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

TOOL_SRCS  := $(wildcard tests/vmm/*.c) $(wildcard tests/bench/*.c) $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TOOL_SRCS))

# libraries tests preload into a program (LD_PRELOAD)
PRELOAD_LIBS := $(patsubst tests/preload/%.c,$(BUILD)/tests/preload/%.so,$(wildcard tests/preload/*.c))

# testvmm is built from several files (tests/vmm/testvmm/)
TESTVMM      := $(BUILD)/tests/vmm/testvmm
TESTVMM_SRCS := $(wildcard tests/vmm/testvmm/*.c)
TESTVMM_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(TESTVMM_SRCS))
TESTVMM_HDRS := $(wildcard tests/vmm/testvmm/*.h)

PROGS := $(BUILD)/stealtimed $(BUILD)/stealtimectl

# Made from their .in with the install paths (regenerated when those change)
GENERATED := $(BUILD)/systemd/stealtimed.service $(BUILD)/stealtime-vmm.pc

.PHONY: all programs deps mounts run check check-kernels bench clean install deb tests fuzz asan tsan vm-shell releases FORCE
all: programs tests

# what make install installs
programs: $(PROGS) $(VMMLIB) $(GENERATED)

tests: $(UNIT_BINS) $(TOOL_BINS) $(TESTVMM) $(PRELOAD_LIBS)

# --- packages and kernel filesystems -------------------------------------
$(DEPS_STAMP): scripts/install-deps.sh
	$(Q)mkdir -p $(BUILD)
	$(Q)$(if $(filter no,$(INSTALL_DEPS)),true,bash scripts/install-deps.sh)
	$(Q)touch $@
deps: $(DEPS_STAMP)

mounts:
	$(Q)bash scripts/mount-kernel-fs.sh

# --- BPF -------------------------------------------------------------------
ifeq ($(VMLINUX_H),)
$(BUILD)/vmlinux.h: | $(DEPS_STAMP)
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(BUILD)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@
else
$(BUILD)/vmlinux.h: $(VMLINUX_H)
	$(Q)mkdir -p $(BUILD)
	$(Q)cp $< $@
endif

$(BPF_OBJS): $(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) include/stealtime.h include/stealtime_layouts.h $(BUILD)/vmlinux.h | $(DEPS_STAMP)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_SKELS): $(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# --- user space ------------------------------------------------------------
HDRS := $(wildcard include/*.h daemon/*.h ctl/*.h vmmlib/*.h tests/*/*.h)
$(DAEMON_OBJS) $(BUILD)/obj/daemon/main.o: $(BUILD)/obj/daemon/%.o: daemon/%.c $(HDRS) $(BPF_SKELS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.c $(HDRS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(DAEMON_LIB): $(DAEMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(VMMLIB): $(VMMLIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/stealtimed: $(BUILD)/obj/daemon/main.o $(DAEMON_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/stealtimectl: $(CTL_OBJS) $(DAEMON_LIB)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS) -lcurl

$(TESTVMM_OBJS): $(BUILD)/obj/tests/vmm/testvmm/%.o: tests/vmm/testvmm/%.c $(HDRS) $(TESTVMM_HDRS) | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(TESTVMM): $(TESTVMM_OBJS) $(VMMLIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

# A unit test or a benchmark links the sources its first lines name: "// link: daemon/x.c ..."
src_links = $(patsubst %.c,$(BUILD)/obj/%.o,$(shell sed -n 's,^// link: ,,p' $(1)))
test_links = $(call src_links,tests/unit/test_$(1).c)
.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $$(call test_links,$$*)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS) -lcmocka

$(BUILD)/tests/vmm/%: $(BUILD)/obj/tests/vmm/%.o $(VMMLIB)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

# explicit: a pattern rule without a recipe would add no prerequisite
$(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,$(wildcard tests/bench/*.c)): $(BPF_SKELS)
$(BUILD)/tests/bench/%: $(BUILD)/obj/tests/bench/%.o $$(call src_links,tests/bench/$$*.c)
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LIBS)

$(BUILD)/tests/preload/%.so: tests/preload/%.c
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -shared -fPIC $< -o $@

# --- running and testing ---------------------------------------------------
run: all mounts
	$(BUILD)/stealtimed

# The ASan/UBSan build that tests/integration/sanitizers.sh runs and the
# ThreadSanitizer build of tests/integration/tsan_daemon.sh, built
# here (natively) so that a test run inside a VM finds it up to date.
ASAN_BUILD := $(BUILD)/asan
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
asan: | $(DEPS_STAMP)
	$(Q)$(MAKE) -s BUILD=$(ASAN_BUILD) CC=clang OPTFLAGS="$(ASAN_FLAGS)" \
		$(ASAN_BUILD)/stealtimed $(ASAN_BUILD)/stealtimectl \
		$(patsubst tests/unit/%.c,$(ASAN_BUILD)/tests/%,$(UNIT_SRCS))

TSAN_BUILD := $(BUILD)/tsan
TSAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
tsan: | $(DEPS_STAMP)
	$(Q)$(MAKE) -s BUILD=$(TSAN_BUILD) CC=clang OPTFLAGS="$(TSAN_FLAGS)" $(TSAN_BUILD)/stealtimed

# releases: the older release tests/integration/upgrade_layout.sh upgrades
# from, built here from the history (none in a source tarball: it skips)
releases:
	$(Q)for r in layout1 layout2; do bash tests/tools/build_release.sh $$r || [ $$? -eq 77 ] || exit 1; done

# The kernel matrix: the kernel-sensitive suites on each of Debian's
# kernels, in VMs of tests/vm/run.sh (tests/run.sh says how).
CHECK_KERNELS ?= 5.10 6.1 6.12

# deb: the packages tests/integration/debian_package.sh installs in a VM,
# built here like the sanitizer builds
check: all asan tsan deb releases mounts
	$(Q)KERNELS="$(CHECK_KERNELS)" bash tests/run.sh

check-kernels: all releases mounts
	$(Q)KERNELS="$(CHECK_KERNELS)" KERNELS_ONLY=1 bash tests/run.sh

# A shell inside the test VM (tests/vm/run.sh): VM_KERNEL=5.10|6.1|6.12
vm-shell: all
	$(Q)bash tests/vm/run.sh --shell

bench: all mounts
	$(Q)bash tests/bench/run.sh

fuzz: $(DEPS_STAMP)
	$(Q)bash tests/fuzz/run.sh

# The unit's ExecStart= and the pkg-config file's paths are those of this
# install (PREFIX=/usr/local: /usr/local/sbin/stealtimed; the Debian
# package: /usr/sbin/stealtimed). The file is rewritten only when its
# text changes.
define subst_paths
	$(Q)mkdir -p $(@D)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' $< >$@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@ && printf '  %-8s %s\n' GEN $@; fi
endef
$(BUILD)/systemd/%: systemd/%.in FORCE
	$(subst_paths)
$(BUILD)/%.pc: vmmlib/%.pc.in FORCE
	$(subst_paths)

install: programs
	install -D -m 0755 $(BUILD)/stealtimed $(DESTDIR)$(SBINDIR)/stealtimed
	install -D -m 0755 $(BUILD)/stealtimectl $(DESTDIR)$(BINDIR)/stealtimectl
	install -D -m 0644 include/stealtime_vmm.h $(DESTDIR)$(INCLUDEDIR)/stealtime_vmm.h
	install -D -m 0644 $(VMMLIB) $(DESTDIR)$(LIBDIR)/libstealtime-vmm.a
	install -D -m 0644 $(BUILD)/stealtime-vmm.pc $(DESTDIR)$(PKGCONFIGDIR)/stealtime-vmm.pc
	install -D -m 0644 $(BUILD)/systemd/stealtimed.service $(DESTDIR)$(UNITDIR)/stealtimed.service
	install -D -m 0644 systemd/stealtimed.socket $(DESTDIR)$(UNITDIR)/stealtimed.socket
	install -D -m 0644 systemd/stealtimed.tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/stealtimed.conf
	install -D -m 0644 man/stealtimed.8 $(DESTDIR)$(MANDIR)/man8/stealtimed.8
	install -D -m 0644 man/stealtimectl.8 $(DESTDIR)$(MANDIR)/man8/stealtimectl.8
	test -e $(DESTDIR)/etc/stealtimed/stealtimed.json || \
		install -D -m 0644 config/stealtimed.json $(DESTDIR)/etc/stealtimed/stealtimed.json

# The Debian packages (debian/), built by dpkg-buildpackage in a copy of
# the sources under $(BUILD)/deb (the tree stays clean), then lintian:
# scripts/build-deb.sh. Rebuilt only when a source changed.
DEB_INPUTS := Makefile README.md $(shell find bpf config ctl daemon debian include man scripts systemd vmmlib -type f 2>/dev/null)
FORCE:
deb: $(BUILD)/deb/.built
$(BUILD)/deb/.built: $(DEB_INPUTS)
	$(Q)bash scripts/build-deb.sh $(BUILD)/deb $(VERSION)
	$(Q)touch $@

clean:
	$(Q)rm -rf $(BUILD)

$(BUILD)/tests/tools/%: $(BUILD)/obj/tests/tools/%.o
	$(call msg,LINK,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@
