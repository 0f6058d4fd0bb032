"""Repository rule that exposes Debian's -dev packages to Bazel, offline.

kata-cpp takes every external C++ dependency from the host's Debian packages (tools/setup
installs them). This rule is the one place that knows how they are found: it asks pkg-config
for each library's link flags, links the code generators (protoc, grpc_cpp_plugin) into the
repository, and writes a BUILD file with one target per dependency:

    @system//:absl  @system//:protobuf (full on the host, lite in guest builds)
    @system//:protobuf_full  @system//:protobuf_lite  @system//:protoc_lib  @system//:grpcpp  @system//:re2  @system//:tomlplusplus (header-only)
    @system//:crypto
    @system//:seccomp  @system//:libcap
    @system//:netlink (libnl-route-3 + libnl-3: headers and static archives from the guest
                       sysroot in guest builds, the host's -dev packages otherwise)
    @system//:gtest  @system//:gtest_main  @system//:gmock  @system//:benchmark
    @system//:benchmark_main  @system//:rapidjson
    @system//:protoc  @system//:grpc_cpp_plugin   (executables)

A missing package fails the fetch with a message that names it and says to run tools/setup.
"""

# Each library: (target, pkg-config modules, Debian package, extra link flags).
_LIBRARIES = [
    ("absl", [
        "absl_base",
        "absl_cord",
        "absl_flags",
        "absl_flags_parse",
        "absl_flags_usage",
        "absl_hash",
        "absl_raw_hash_set",
        "absl_random_random",
        "absl_status",
        "absl_statusor",
        "absl_str_format",
        "absl_strings",
        "absl_synchronization",
        "absl_time",
    ], "libabsl-dev", []),
    ("protobuf_full", ["protobuf"], "libprotobuf-dev", []),
    ("protobuf_lite", ["protobuf-lite"], "libprotobuf-dev", []),
    ("protoc_lib", [], "libprotoc-dev", ["-lprotoc"]),  # for protoc plugins; ships no .pc
    ("grpcpp", ["grpc++"], "libgrpc++-dev", []),
    ("re2", ["re2"], "libre2-dev", []),
    ("seccomp", ["libseccomp"], "libseccomp-dev", []),
    ("libcap", ["libcap"], "libcap-dev", []),
    ("nettle", ["nettle"], "nettle-dev", []),  # SHA-256 of the shim's socket name
    ("gtest", ["gtest"], "libgtest-dev", []),
    ("gtest_main", ["gtest_main"], "libgtest-dev", []),
    ("gmock", ["gmock"], "libgmock-dev", []),
    ("benchmark", ["benchmark"], "libbenchmark-dev", []),
    ("benchmark_main", [], "libbenchmark-dev", ["-lbenchmark_main"]),  # ships no .pc
]

# Header-only libraries: (target, a header that must exist, Debian package).
# tomlplusplus is used header-only (its one user is src/runtime/config/config.cc) rather than
# through Debian's libtomlplusplus.so: there is no static archive, and the shim links statically.
_HEADER_ONLY = [
    ("rapidjson", "/usr/include/rapidjson/document.h", "rapidjson-dev"),
    ("tomlplusplus", "/usr/include/toml++/toml.h", "libtomlplusplus-dev"),
]

# Executables: (target, path, Debian package).
_TOOLS = [
    ("protoc", "/usr/bin/protoc", "protobuf-compiler"),
    ("grpc_cpp_plugin", "/usr/bin/grpc_cpp_plugin", "protobuf-compiler-grpc"),
]

_HINT = "run tools/setup (it installs every Debian package kata-cpp needs)"

def _pkg_config(ctx, modules, package):
    if not modules:
        return []
    res = ctx.execute(["pkg-config", "--libs"] + modules)
    if res.return_code != 0:
        fail("kata-cpp: Debian package %s is missing or broken (pkg-config %s: %s); %s" %
             (package, " ".join(modules), res.stderr.strip(), _HINT))
    return [f for f in res.stdout.strip().split(" ") if f]

def _pkg_config_defines(ctx, modules):
    """The -D flags pkg-config asks for (e.g. tomlplusplus' TOML_SHARED_LIB=1)."""
    if not modules:
        return []
    res = ctx.execute(["pkg-config", "--cflags-only-other"] + modules)
    if res.return_code != 0:
        return []
    return [f[2:] for f in res.stdout.strip().split(" ") if f.startswith("-D")]

def _debian_system_libs_impl(ctx):
    if ctx.which("pkg-config") == None:
        fail("kata-cpp: pkg-config is missing; " + _HINT)
    build = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules, package, extra in _LIBRARIES:
        linkopts = _pkg_config(ctx, modules, package) + extra
        deps = []
        if name in ("gtest_main", "gmock"):
            deps = [":gtest"]
        if name == "benchmark_main":
            deps = [":benchmark"]
        if name == "protoc_lib":
            if not ctx.path("/usr/include/google/protobuf/compiler/plugin.h").exists:
                fail("kata-cpp: Debian package libprotoc-dev is missing; " + _HINT)
            deps = [":protobuf_full"]
        if name == "grpcpp":
            deps = [":protobuf_full", ":absl"]
        defines = _pkg_config_defines(ctx, modules)
        build.append("cc_library(name = %r, linkopts = %r, defines = %r, deps = %r)" %
                     (name, linkopts, defines, deps))
    # The protobuf runtime: the full one on the host, the lite one in guest builds (the agent's
    # generated code is lite there, see kata_cc_proto_library; the two never mix in a binary).
    # libnl-route-3: its headers live in /usr/include/libnl3 (linked into this repository for
    # the host; the guest toolchain has its sysroot's copy on the include path).
    if not ctx.path("/usr/include/libnl3/netlink/route/link.h").exists:
        fail("kata-cpp: Debian package libnl-route-3-dev is missing; " + _HINT)
    ctx.symlink("/usr/include/libnl3", "libnl3")
    nl_libs = _pkg_config(ctx, ["libnl-route-3.0"], "libnl-route-3-dev")
    build.append("cc_library(name = 'netlink_host', hdrs = glob(['libnl3/netlink/**/*.h']), " +
                 "includes = ['libnl3'], linkopts = %r)" % nl_libs)
    build.append("cc_library(name = 'netlink_guest', linkopts = ['-lnl-route-3', '-lnl-3'])")
    build.append("cc_library(name = 'netlink', deps = select({" +
                 "'@//bazel/platforms:guest': [':netlink_guest'], " +
                 "'//conditions:default': [':netlink_host']}))")
    build.append("cc_library(name = 'protobuf', deps = select({" +
                 "'@//bazel/platforms:guest': [':protobuf_lite'], " +
                 "'//conditions:default': [':protobuf_full']}))")
    for name, header, package in _HEADER_ONLY:
        if not ctx.path(header).exists:
            fail("kata-cpp: Debian package %s is missing (%s not found); %s" % (package, header, _HINT))
        build.append("cc_library(name = %r)" % name)
    for name, path, package in _TOOLS:
        if not ctx.path(path).exists:
            fail("kata-cpp: Debian package %s is missing (%s not found); %s" % (package, path, _HINT))
        ctx.symlink(path, "bin/" + name)
        build.append("sh_binary(name = %r, srcs = [%r])" % (name, "bin/" + name))

    ctx.file("WORKSPACE", "workspace(name = %r)\n" % ctx.name)
    ctx.file("BUILD.bazel", "\n".join(build) + "\n")

debian_system_libs = repository_rule(
    implementation = _debian_system_libs_impl,
    local = True,
    doc = "Exposes the host's Debian -dev packages as @<name>//:<library> targets.",
)
