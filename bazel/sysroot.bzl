"""Repository rule: a pinned Debian sysroot plus the guest cc toolchain that uses it.

    kata_guest_sysroot(name = "guest_sysroot_x86_64", lock = "//bazel/toolchains:sysroot-amd64.lock", ...)

The lock file names Debian packages, one per line: `package version architecture sha256`.
`tools/setup` downloads them (tools/osbuilder/fetch-debs: `apt-get download pkg:arch=version`)
into /var/cache/kata-cpp/debs; this rule never touches the network. It checks each .deb's
SHA-256 against the lock (a different package fails with both hashes and what to do), unpacks
it with `dpkg-deb -x` into `sysroot/` (nothing is installed on the host), and writes a BUILD
file with the cc_toolchain (//bazel/toolchains:cc_toolchain_config.bzl) for that sysroot.
Bazel refetches when the lock file changes.
"""

_CACHE = "/var/cache/kata-cpp/debs"

def _deb_file_name(package, version, arch):
    # apt-get download's file name: an epoch's ':' is written %3a.
    return "%s_%s_%s.deb" % (package, version.replace(":", "%3a"), arch)

def parse_lock(text, lock_name):
    entries = []
    for n, line in enumerate(text.splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        f = [w for w in line.replace("\t", " ").split(" ") if w]
        if len(f) != 4 or len(f[3]) != 64:
            fail("kata-cpp: %s line %d: expected `package version architecture sha256`, got %r" %
                 (lock_name, n + 1, line))
        entries.append(struct(package = f[0], version = f[1], arch = f[2], sha256 = f[3]))
    return entries

def _impl(ctx):
    lock = ctx.path(ctx.attr.lock)
    entries = parse_lock(ctx.read(lock), str(ctx.attr.lock))
    cache = ctx.os.environ.get("KATA_DEB_CACHE", _CACHE)
    for e in entries:
        deb = "%s/%s" % (cache, _deb_file_name(e.package, e.version, e.arch))
        pin = "%s=%s (%s)" % (e.package, e.version, e.arch)
        if not ctx.path(deb).exists:
            fail(("kata-cpp: sysroot %s: pinned package %s is not in %s; run tools/setup " +
                  "(it downloads the packages of %s)") % (ctx.name, pin, cache, ctx.attr.lock))
        res = ctx.execute(["sha256sum", deb])
        got = res.stdout.split(" ")[0] if res.return_code == 0 else "(unreadable: %s)" % res.stderr
        if got != e.sha256:
            fail(("kata-cpp: sysroot %s: package %s changed: %s has SHA-256 %s but %s pins %s. " +
                  "Delete the file and run tools/setup, or re-pin deliberately with " +
                  "tools/osbuilder/update-lock %s") % (ctx.name, pin, deb, got, ctx.attr.lock, e.sha256, ctx.attr.lock))
        res = ctx.execute(["dpkg-deb", "-x", deb, "sysroot"])
        if res.return_code != 0:
            fail("kata-cpp: sysroot %s: dpkg-deb -x %s: %s" % (ctx.name, deb, res.stderr))
    for f in ctx.attr.required_files:
        if not ctx.path("sysroot/" + f).exists:
            fail("kata-cpp: sysroot %s: %s is missing after unpacking %s (a package is missing from the lock)" %
                 (ctx.name, f, ctx.attr.lock))

    # A stamp naming every pinned package: an input of every compile and link, so a re-pin
    # invalidates cached actions even though the sysroot is used by absolute path.
    ctx.file("sysroot.stamp", "".join(["%s %s %s %s\n" % (e.package, e.version, e.arch, e.sha256) for e in entries]))
    for tool in [ctx.attr.gcc] + [ctx.attr.tool_prefix + t for t in ["ar", "ld", "strip"]]:
        if not ctx.path(tool).exists:
            fail("kata-cpp: sysroot %s: %s is missing; run tools/setup (%s)" % (ctx.name, tool, ctx.attr.compiler_package))

    sysroot = str(ctx.path("sysroot"))
    ctx.file("WORKSPACE", "workspace(name = %r)\n" % ctx.name)
    ctx.file("BUILD.bazel", """\
load("@kata_cpp//bazel/toolchains:cc_toolchain_config.bzl", "kata_cc_toolchain_config")

package(default_visibility = ["//visibility:public"])

exports_files(["sysroot.stamp"])

filegroup(name = "stamp", srcs = ["sysroot.stamp"])

kata_cc_toolchain_config(
    name = "cc_toolchain_config",
    cpu = {cpu},
    triple = {triple},
    gcc = {gcc},
    tool_prefix = {tool_prefix},
    gcc_version = {gcc_version},
    sysroot = {sysroot},
    link_libs = {link_libs},
)

cc_toolchain(
    name = "cc_toolchain",
    all_files = ":stamp",
    ar_files = ":stamp",
    as_files = ":stamp",
    compiler_files = ":stamp",
    dwp_files = ":stamp",
    linker_files = ":stamp",
    objcopy_files = ":stamp",
    strip_files = ":stamp",
    supports_param_files = 1,
    toolchain_config = ":cc_toolchain_config",
    toolchain_identifier = "kata-guest-" + {cpu},
)
""".format(
        cpu = repr(ctx.attr.cpu),
        triple = repr(ctx.attr.triple),
        gcc = repr(ctx.attr.gcc),
        tool_prefix = repr(ctx.attr.tool_prefix),
        gcc_version = repr(ctx.attr.gcc_version),
        sysroot = repr(sysroot),
        link_libs = repr(ctx.attr.link_libs),
    ))

kata_guest_sysroot = repository_rule(
    implementation = _impl,
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = True),
        "cpu": attr.string(mandatory = True),
        "triple": attr.string(mandatory = True),
        "gcc": attr.string(mandatory = True),
        "tool_prefix": attr.string(mandatory = True),
        "compiler_package": attr.string(mandatory = True),
        "gcc_version": attr.string(default = "12"),
        "link_libs": attr.string_list(default = []),
        "required_files": attr.string_list(default = []),
    },
    environ = ["KATA_DEB_CACHE"],
    doc = "A Debian sysroot unpacked from pinned, hash-checked .debs, and its guest cc toolchain.",
)
