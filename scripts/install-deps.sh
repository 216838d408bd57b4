#!/usr/bin/env bash
# Installs the Debian packages stealtime builds and tests with, when missing;
# with package names as arguments, those instead (scripts/build-deb.sh).
# Runs as root (apt-get); as another user it only reports what is missing.
set -euo pipefail

pkgs=("$@")
[ $# -gt 0 ] || pkgs=(
	# build
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config make gcc
	libsystemd-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev
	libgnutls28-dev libyaml-dev libcrypt-dev
	libcmocka-dev libclang-rt-14-dev
	# tests and benchmarks
	qemu-system-x86 prometheus curl jq tmux stress-ng linux-perf util-linux
	procps iproute2 systemd valgrind wrk openssl apache2-utils
	libvirt-daemon-system libvirt-clients prometheus-libvirt-exporter
	# the VM runner (tests/vm/)
	busybox-static kmod xz-utils cpio
)

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages (run make as root to install them): ${missing[*]}" >&2
	exit 1
fi
echo "  APT      ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
