#!/usr/bin/env python3
"""Times guest boots under QEMU TCG (used by tools/bench/guest_boot.sh).

    guest_boot.py KERNEL AGENT_INITRD TRIVIAL_INITRD RUNS

Per run, interleaved: QEMU launch -> kata-agent answers Health.Check (AGENT_INITRD), and QEMU
launch -> "ready" on the serial console (TRIVIAL_INITRD, a static /init printing it). Prints
each run and the medians, in seconds. QEMU is killed after every run.
"""
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def qemu(kernel, initrd, d, agent):
    args = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-cpu", "max", "-m", "512",
            "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-serial", "file:" + os.path.join(d, "console.log"), "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1" +
            (" agent.server_addr=serial://agent.channel.0" if agent else ""),
            "-device", "virtio-serial-pci",
            "-chardev", "socket,path=%s,server=on,wait=off,id=ch0" % os.path.join(d, "agent.sock"),
            "-device", "virtserialport,chardev=ch0,name=agent.channel.0"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def field(num, data):
    return bytes([num << 3 | 2, len(data)]) + data


# grpc.Health/Check with an empty CheckRequest, as one ttRPC request frame (stream 1).
REQ = field(1, b"grpc.Health") + field(2, b"Check") + field(3, b"")
FRAME = struct.pack(">IIBB", len(REQ), 1, 1, 0) + REQ


def health_check(path, deadline):
    """One connection, one request: QEMU holds host->guest bytes until the guest opens the
    port, so the answer arrives as soon as the agent serves (reconnecting would make the
    agent read stale requests and reopen the port after every disconnect)."""
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            s.close()
            time.sleep(0.005)
            continue
        try:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            s.sendall(FRAME)
            hdr = s.recv(10, socket.MSG_WAITALL)
            return len(hdr) == 10 and hdr[8] == 2
        except OSError:
            return False
        finally:
            s.close()
    return False


def console_ready(path, deadline):
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if b"ready" in f.read():
                    return True
        except OSError:
            pass
        time.sleep(0.005)
    return False


def one_run(mode, kernel, initrd):
    with tempfile.TemporaryDirectory(prefix="kbench") as d:
        t0 = time.monotonic()
        p = qemu(kernel, initrd, d, mode == "agent")
        try:
            deadline = t0 + 120
            ok = (health_check(os.path.join(d, "agent.sock"), deadline) if mode == "agent"
                  else console_ready(os.path.join(d, "console.log"), deadline))
            dt = time.monotonic() - t0
        finally:
            p.kill()
            p.wait()
    if not ok:
        print("%s: no answer within 120 s" % mode, file=sys.stderr)
        sys.exit(1)
    return dt


def main():
    kernel, agent_initrd, trivial_initrd, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    agent, trivial = [], []
    for i in range(runs):  # interleaved, so a change in the machine's load hits both alike
        agent.append(one_run("agent", kernel, agent_initrd))
        trivial.append(one_run("ready", kernel, trivial_initrd))
        print("  run %d: agent answers Health.Check %.3f s, trivial init ready %.3f s" %
              (i + 1, agent[-1], trivial[-1]), flush=True)
    a, t = statistics.median(agent), statistics.median(trivial)
    print("median: agent %.3f s, trivial init %.3f s, agent start-up %.3f s" % (a, t, a - t))


if __name__ == "__main__":
    main()
