#!/usr/bin/env bash
# Mounts bpffs and tracefs when they are not mounted (they are not at boot
# on these hosts). Without root it only says what is missing.
set -u
mnt() { # type dir
	mountpoint -q "$2" && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "$2 is not mounted ($1); run as root" >&2
		return 0
	fi
	mkdir -p "$2"
	mount -t "$1" "$1" "$2" || echo "cannot mount $1 on $2" >&2
}
mnt bpf /sys/fs/bpf
mnt tracefs /sys/kernel/tracing
exit 0
