#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""A raw control-socket peer for tests/integration/control_peers.sh.

control_peer.py SOCKET MODE: prints each reply as one JSON line.
  orphan   connect, one round trip (accepted), fork; the parent exits, the
           child (holding the socket) sends register and snapshot
  seed     create a KVM VM with vCPU 0 (this process is its VMM), register,
           then set_ipa with each initial_ns given in ARGS (vcpu 0, then 1..)
  burst N  N registers from a process without a VM
  conns N  open N connections, one round trip each
"""
import fcntl
import json
import os
import socket
import sys
import time

KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41
REGION = 0x80000


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(10)
    s.connect(path)
    return s


def ask(s, req):
    try:
        s.send(json.dumps(req).encode())
    except OSError as e:
        # a refused connection: the daemon answered at accept and closed,
        # maybe before this request went out; its answer is still queued
        sent = e
    else:
        sent = None
    try:
        data = s.recv(65536)
    except OSError as e:
        return {"ok": False, "errno": "closed", "error": str(sent or e)}
    if not data:
        return {"ok": False, "errno": "EOF", "error": "connection closed"}
    return json.loads(data)


def out(reply):
    print(json.dumps(reply), flush=True)


def orphan(path):
    s = connect(path)
    out(ask(s, {"op": "snapshot"}))  # accepted while the parent lives
    parent = os.getpid()
    if os.fork():
        os._exit(0)
    for _ in range(500):  # until the parent has exited and been reaped
        if os.getppid() != parent:
            break
        time.sleep(0.01)
    out(ask(s, {"op": "register", "region_ipa": REGION}))
    out(ask(s, {"op": "snapshot"}))


def seed(path, values):
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    vcpus = [fcntl.ioctl(vm, KVM_CREATE_VCPU, i) for i in range(len(values))]
    s = connect(path)
    for _ in range(50):  # the rescan limits may ask to wait
        r = ask(s, {"op": "register", "region_ipa": REGION})
        if r.get("errno") != "EAGAIN":
            break
        time.sleep(0.2)
    out(r)
    for i, v in enumerate(values):
        out(ask(s, {"op": "set_ipa", "vcpu": i, "ipa": REGION + 64 * i, "initial_ns": v}))
    del vcpus


def burst(path, n):
    s = connect(path)
    for _ in range(n):
        out(ask(s, {"op": "register", "region_ipa": REGION}))


def conns(path, n):
    held = []
    for _ in range(n):
        try:
            s = connect(path)
        except OSError as e:
            out({"ok": False, "errno": "connect", "error": str(e)})
            continue
        held.append(s)
        out(ask(s, {"op": "snapshot"}))


def main():
    path, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "orphan":
        orphan(path)
    elif mode == "seed":
        seed(path, [int(a) for a in args])
    elif mode == "burst":
        burst(path, int(args[0]))
    elif mode == "conns":
        conns(path, int(args[0]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
