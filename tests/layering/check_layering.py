#!/usr/bin/python3
"""Checks kata-cpp's dependency edges against its layering rules.

Input: the output of `bazel query --output=graph --nograph:factored 'deps(...)'`.
Every edge between two of the project's own targets is checked against RULES; each edge
that breaks a rule is printed with the rule's reason, and the exit status is 1.

The layers (an arrow reads "may be used by"):
  src/libs  ->  src/libs/device  ->  src/agent
  src/libs  ->  src/runtime/config  ->  src/runtime/hypervisor  ->  src/runtime  ->  src/runtime/shim
The sandbox sees only the hypervisor interface (hypervisor/ itself, not a driver's package):
the shim injects the driver's factory. Likewise the pod network: the sandbox sees
src/runtime/network (the PodNetwork interface), the shim injects network/tcfilter's factory.
src/agent and src/runtime never see each other; src/libs depends on neither; nothing in
src/ depends on tools/, tests/ or packaging/.
"""
import re
import sys

# (from-package regex, to-package regex, why). Packages are written without "//".
RULES = [
    (r"src/libs(/|$)", r"src/(agent|runtime)(/|$)",
     "src/libs is the bottom layer: it depends on nothing in src/agent or src/runtime"),
    (r"src/libs/(?!device(/|$))", r"src/libs/device(/|$)",
     "device update sits above the OCI model and the other libs"),
    (r"src/agent(/|$)", r"src/runtime(/|$)", "the guest agent never depends on the host runtime"),
    (r"src/runtime(/|$)", r"src/agent(/|$)", "the host runtime never depends on the guest agent"),
    (r"src/runtime(/|$)", r"src/libs/device(/|$)",
     "device update rewrites specs inside the guest; the host runtime does not use it"),
    (r"src/runtime/hypervisor(/|$)", r"src/runtime($|/(?!hypervisor(/|$)|config(/|$)))",
     "hypervisor drivers sit below sandbox/container lifecycle and the shim"),
    (r"src/runtime/config(/|$)", r"src/runtime(/(?!config(/|$))|$)",
     "the Kata configuration is plain data: it knows no VMM, sandbox or shim"),
    (r"src/runtime/sandbox(/|$)", r"src/runtime/hypervisor/.+",
     "the sandbox knows the Hypervisor interface only; the shim injects a driver's factory"),
    (r"src/runtime/sandbox(/|$)", r"src/runtime/network/.+",
     "the sandbox knows the PodNetwork interface only; the shim injects the tcfilter factory"),
    (r"src/runtime/network(/|$)", r"src/runtime($|/(?!network(/|$)|hypervisor$|config(/|$)))",
     "the pod network uses only the hypervisor interface (NetDevice) and the configuration"),
    (r"src/(?!runtime/shim(/|$))", r"src/runtime/shim(/|$)",
     "the shim is the top of the host side: nothing depends on it"),
    (r"src(/|$)", r"(tools|tests|packaging)(/|$)",
     "product code never depends on tools, tests or packaging"),
]

EDGE = re.compile(r'^\s*"(?P<from>[^"]+)"\s*->\s*"(?P<to>[^"]+)"')


def package(label):
    """'//src/libs/oci:spec' -> 'src/libs/oci'; None for external or non-project labels."""
    if not label.startswith("//"):
        return None
    return label[2:].split(":", 1)[0]


def violations(lines):
    found = []
    for line in lines:
        m = EDGE.match(line)
        if not m:
            continue
        src, dst = package(m.group("from")), package(m.group("to"))
        if src is None or dst is None:
            continue
        for from_re, to_re, why in RULES:
            if re.match(from_re, src) and re.match(to_re, dst):
                found.append("%s -> %s: %s" % (m.group("from"), m.group("to"), why))
    return found


def main():
    lines = open(sys.argv[1]).readlines() if len(sys.argv) > 1 else sys.stdin.readlines()
    edges = sum(1 for l in lines if EDGE.match(l))
    if edges == 0:
        print("check_layering: no dependency edges in the input; is it bazel query --output=graph?")
        return 2
    bad = violations(lines)
    for v in bad:
        print("forbidden dependency: " + v)
    if bad:
        return 1
    print("check_layering: %d edges, no forbidden dependency" % edges)
    return 0


if __name__ == "__main__":
    sys.exit(main())
