#!/usr/bin/env python3
"""Builds kata-cpp's own guest kernel from Debian's pinned linux-source-6.1, cached by its inputs.

    tools/osbuilder/kernel.py --arch amd64|arm64            build it unless cached; print its path
    tools/osbuilder/kernel.py --arch ARCH --print-path      print the cached kernel's path, or fail
    tools/osbuilder/kernel.py --arch ARCH --verify          build twice from scratch, compare bytes

Source: the `linux-source-6.1` package pinned (with its SHA-256) in kernel-source.lock, from the
package cache tools/setup fills (fetch-debs). Configuration: `make allnoconfig` with the symbols
of kernel/common.conf and kernel/<arch>.conf forced (KCONFIG_ALLCONFIG); a symbol that does not
end up in .config exactly as its fragment says fails the build and is named (a typo, a missing
dependency). No modules: everything the agent needs is built in.

Output: amd64, the uncompressed ELF `vmlinux` (QEMU boots it through PVH); arm64, the
uncompressed `Image` (cross-compiled with Debian's aarch64-linux-gnu-gcc). Reproducible: the
build runs in a fixed directory with a fixed timestamp, user, host and build number, so the
same inputs give the same bytes (`--verify` checks it).

Cache: $KATA_KERNEL_CACHE (default /var/cache/kata-cpp/kernel)/<arch>-<key>/, where the key
hashes the source pin, the fragments, this file and the compiler's version: a changed input
builds a new kernel, an unchanged one is never rebuilt. Each entry holds the kernel, its
.config and SHA-256; it is written to a temporary directory and renamed into place.
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEB_CACHE = os.environ.get("KATA_DEB_CACHE", "/var/cache/kata-cpp/debs")
CACHE = os.environ.get("KATA_KERNEL_CACHE", "/var/cache/kata-cpp/kernel")
SOURCE_LOCK = os.path.join(HERE, "kernel-source.lock")
FRAGMENTS = {
    "amd64": ["kernel/common.conf", "kernel/x86_64.conf"],
    "arm64": ["kernel/common.conf", "kernel/arm64.conf"],
}
# make's ARCH, the cross compiler prefix, the target and where it leaves the kernel.
BUILD = {
    "amd64": ("x86_64", "", "vmlinux", "vmlinux"),
    "arm64": ("arm64", "aarch64-linux-gnu-", "Image", "arch/arm64/boot/Image"),
}
KERNEL_FILE = "vmlinux.container"
# Bump when the build steps change in a way that changes the kernel (part of the cache key, with
# the pin, the fragments, BUILD, FIXED_ENV and the compiler; not this file's text).
RECIPE = 1
FIXED_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 1970",
    "KBUILD_BUILD_USER": "kata",
    "KBUILD_BUILD_HOST": "kata-cpp",
    "KBUILD_BUILD_VERSION": "1",
    "LC_ALL": "C",
    "TZ": "UTC",
}


def die(msg):
    sys.stderr.write("kernel.py: %s\n" % msg)
    sys.exit(2)


def read_lock():
    """The source pin: (package, version, arch, sha256) of the lock's only entry."""
    entries = []
    with open(SOURCE_LOCK) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                entries.append(line.split())
    if len(entries) != 1 or len(entries[0]) != 4:
        die("%s: want one line 'package version arch sha256'" % SOURCE_LOCK)
    return entries[0]


def fragment_lines(arch):
    """The forced symbols, in order, each as it must appear in .config."""
    lines = []
    for rel in FRAGMENTS[arch]:
        with open(os.path.join(HERE, rel)) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if not line.startswith("CONFIG_") or "=" not in line:
                    die("%s:%d: not a CONFIG_X=value line: %r" % (rel, n, line))
                lines.append(line)
    return lines


def compiler_version(arch):
    gcc = BUILD[arch][1] + "gcc"
    try:
        out = subprocess.run([gcc, "--version"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        die("%s: %s (tools/setup installs it)" % (gcc, e))
    return out.splitlines()[0]


def cache_key(arch):
    h = hashlib.sha256()
    h.update(" ".join(read_lock()).encode() + b"\n")
    for rel in FRAGMENTS[arch]:
        with open(os.path.join(HERE, rel), "rb") as f:
            h.update(rel.encode() + b"\n" + f.read())
    h.update(("%d %r %r" % (RECIPE, BUILD[arch], sorted(FIXED_ENV.items()))).encode())
    h.update(compiler_version(arch).encode())
    return h.hexdigest()[:24]


def entry_dir(arch):
    return os.path.join(CACHE, "%s-%s" % (arch, cache_key(arch)))


def cached_kernel(arch):
    """The cached kernel's path, or None."""
    path = os.path.join(entry_dir(arch), KERNEL_FILE)
    return path if os.path.isfile(path) else None


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unpack_source(tree):
    """Unpacks the pinned source (SHA-256 checked) into `tree` (a fixed path: reproducible)."""
    pkg, version, arch, sha = read_lock()
    deb = os.path.join(DEB_CACHE, "%s_%s_%s.deb" % (pkg, version.replace(":", "%3a"), arch))
    if not os.path.isfile(deb):
        die("%s missing: run tools/setup (it downloads the packages of %s)" % (deb, SOURCE_LOCK))
    if sha256_file(deb) != sha:
        die("%s: SHA-256 differs from %s" % (deb, SOURCE_LOCK))
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    tarball = "./usr/src/%s.tar.xz" % pkg
    dpkg = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", deb], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", tree, tarball], stdin=dpkg.stdout, check=True)
    if dpkg.wait() != 0:
        die("dpkg-deb --fsys-tarfile %s failed" % deb)
    subprocess.run(["tar", "-xJf", os.path.join(tree, tarball), "-C", tree, "--strip-components=1"],
                   check=True)
    os.unlink(os.path.join(tree, tarball))


def build(arch, tree, jobs, log):
    """Configures and builds the kernel in `tree`; returns the kernel's path there."""
    make_arch, cross, target, product = BUILD[arch]
    wanted = fragment_lines(arch)
    fragment = os.path.join(tree, "kata-cpp.config")
    with open(fragment, "w") as f:
        f.write("\n".join(wanted) + "\n")
    env = dict(os.environ, **FIXED_ENV)
    make = ["make", "-C", tree, "ARCH=" + make_arch]
    if cross:
        make.append("CROSS_COMPILE=" + cross)
    subprocess.run(make + ["KCONFIG_ALLCONFIG=" + fragment, "allnoconfig"], env=env, check=True,
                   stdout=log, stderr=subprocess.STDOUT)
    with open(os.path.join(tree, ".config")) as f:
        have = set(line.strip() for line in f)
    missing = [w for w in wanted if w not in have]
    if missing:
        die("%s: not in the configured .config (unknown symbol or unmet dependency): %s"
            % (arch, ", ".join(missing)))
    subprocess.run(make + ["-j%d" % jobs, target], env=env, check=True, stdout=log,
                   stderr=subprocess.STDOUT)
    return os.path.join(tree, product)


def build_into_cache(arch, jobs):
    dest = entry_dir(arch)
    os.makedirs(CACHE, exist_ok=True)
    tree = os.path.join(CACHE, "build-" + arch)  # fixed: paths end up in the kernel
    tmp = tempfile.mkdtemp(prefix=".tmp-%s-" % arch, dir=CACHE)
    os.chmod(tmp, 0o755)
    log_path = os.path.join(tmp, "build.log")
    sys.stderr.write("kernel.py: building the %s guest kernel (log %s)\n" % (arch, log_path))
    try:
        unpack_source(tree)
        with open(log_path, "w") as log:
            try:
                kernel = build(arch, tree, jobs, log)
            except subprocess.CalledProcessError as e:
                die("%s failed; the end of %s:\n%s" % (e.cmd, log_path, tail(log_path)))
        shutil.copyfile(kernel, os.path.join(tmp, KERNEL_FILE))
        shutil.copyfile(os.path.join(tree, ".config"), os.path.join(tmp, "config"))
        with open(os.path.join(tmp, "sha256"), "w") as f:
            f.write(sha256_file(os.path.join(tmp, KERNEL_FILE)) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(tree, ignore_errors=True)
    return os.path.join(dest, KERNEL_FILE)


def tail(path, lines=30):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--arch", choices=sorted(BUILD), default="amd64")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--print-path", action="store_true")
    mode.add_argument("--verify", action="store_true")
    a = p.parse_args()
    if a.print_path:
        path = cached_kernel(a.arch)
        if not path:
            die("no %s guest kernel in %s: run tools/setup (or %s --arch %s)"
                % (a.arch, entry_dir(a.arch), __file__, a.arch))
        print(path)
        return
    path = cached_kernel(a.arch)
    if a.verify and path:
        first = sha256_file(path)
        second = sha256_file(build_into_cache(a.arch, a.jobs))
        if first != second:
            die("%s: two builds differ: %s vs %s" % (a.arch, first, second))
        sys.stderr.write("kernel.py: %s: two builds are byte-identical (%s)\n" % (a.arch, first))
    elif not path:
        path = build_into_cache(a.arch, a.jobs)
    print(path)


if __name__ == "__main__":
    main()
