#!/usr/bin/env python3
"""vcpu_slot.py PIN_DIR TID [--bump-gen]

Reads the pinned "vcpus" array (mmapable) the way the daemon does and
prints, for the used slot whose bound thread is TID, one JSON line:
{"slot", "gen", "steal_ns"}. With --bump-gen, first adds 1 to that slot's
generation with one 4-byte store, as if the slot had been given to another
vCPU while the thread stayed bound: a test of what BPF then does.
Exit 1 if no used slot has that thread. Offsets follow struct st_vcpu
(include/stealtime.h); the record size comes from the map itself.
"""
import ctypes
import json
import mmap
import os
import struct
import subprocess
import sys

BPF_OBJ_GET = 7
SYS_BPF = 321  # x86_64
OFF_STATE, OFF_TID, OFF_GEN, OFF_STEAL = 8, 20, 24, 32
ST_VCPU_USED = 1


def obj_get(path):
    libc = ctypes.CDLL(None, use_errno=True)
    cpath = ctypes.create_string_buffer(path.encode())
    attr = struct.pack("QII", ctypes.addressof(cpath), 0, 0) + bytes(128 - 16)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = libc.syscall(SYS_BPF, BPF_OBJ_GET, buf, len(attr))
    if fd < 0:
        sys.exit(f"BPF_OBJ_GET {path}: {os.strerror(ctypes.get_errno())}")
    return fd


def main():
    pin_dir, tid = sys.argv[1], int(sys.argv[2])
    bump = "--bump-gen" in sys.argv[3:]
    path = os.path.join(pin_dir, "vcpus")
    info = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "pinned", path]))
    size, n = info["bytes_value"], info["max_entries"]
    fd = obj_get(path)
    m = mmap.mmap(fd, (size * n + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE)
    for slot in range(n):
        base = slot * size
        state, = struct.unpack_from("I", m, base + OFF_STATE)
        bound, = struct.unpack_from("I", m, base + OFF_TID)
        if state != ST_VCPU_USED or bound != tid:
            continue
        if bump:
            gen, = struct.unpack_from("I", m, base + OFF_GEN)
            struct.pack_into("I", m, base + OFF_GEN, (gen + 1) & 0xffffffff or 1)
        gen, = struct.unpack_from("I", m, base + OFF_GEN)
        steal, = struct.unpack_from("Q", m, base + OFF_STEAL)
        print(json.dumps({"slot": slot, "gen": gen, "steal_ns": steal}))
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
