"""cc_toolchain_config for kata-cpp's guest builds: GCC (native or the Debian cross compiler)
against a pinned Debian sysroot, producing fully static binaries.

Hermetic for the target side: every header (libstdc++, libgcc's include dir, glibc, Linux,
abseil, protobuf, ...) and every library, crt file and libgcc/libstdc++ archive comes from the
sysroot (`-nostdinc`, `-nostdinc++`, `-B`/`-L` onto the sysroot first). The host supplies only
the compiler driver, cc1plus, as and ld (Debian's gcc-12 / g++-aarch64-linux-gnu packages).

Instantiated by the repository rule in //bazel:sysroot.bzl, which knows the sysroot's absolute
path; the `toolchain()` registrations live in //bazel/toolchains:BUILD.bazel.
"""

load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")
load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)

_COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.cpp_module_codegen,
    ACTION_NAMES.linkstamp_compile,
]

_CXX_ACTIONS = [
    ACTION_NAMES.cpp_compile,
    ACTION_NAMES.cpp_header_parsing,
    ACTION_NAMES.cpp_module_compile,
    ACTION_NAMES.cpp_module_codegen,
    ACTION_NAMES.linkstamp_compile,
]

_LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

def _flags(actions, flags, with_features = []):
    return flag_set(actions = actions, flag_groups = [flag_group(flags = flags)], with_features = with_features)

def _impl(ctx):
    s = ctx.attr.sysroot
    triple = ctx.attr.triple
    gcc_lib = "%s/usr/lib/gcc/%s/%s" % (s, triple, ctx.attr.gcc_version)
    include_dirs = [
        "%s/usr/include/c++/%s" % (s, ctx.attr.gcc_version),
        "%s/usr/include/%s/c++/%s" % (s, triple, ctx.attr.gcc_version),
        "%s/usr/include/c++/%s/backward" % (s, ctx.attr.gcc_version),
        gcc_lib + "/include",
        "%s/usr/include/%s" % (s, triple),
        "%s/usr/include" % s,
        # libnl-3 (libnl-3-dev, libnl-route-3-dev): its headers live in a subdirectory.
        "%s/usr/include/libnl3" % s,
    ]
    lib_dirs = [gcc_lib, "%s/usr/lib/%s" % (s, triple), "%s/lib/%s" % (s, triple)]

    compile_flags = [
        "--sysroot=" + s,
        "-nostdinc",
        "-nostdinc++",
    ] + ["-isystem" + d for d in include_dirs] + [
        "-fno-canonical-system-headers",
        "-ffile-prefix-map=%s=/sysroot" % s,
        "-Wno-builtin-macro-redefined",
        "-D__DATE__=\"redacted\"",
        "-D__TIMESTAMP__=\"redacted\"",
        "-D__TIME__=\"redacted\"",
        "-U_FORTIFY_SOURCE",
        "-fstack-protector",
        "-ffunction-sections",
        "-fdata-sections",
    ]
    link_flags = [
        "--sysroot=" + s,
        "-static",
        "-pthread",
    ] + ["-B" + d + "/" for d in lib_dirs] + ["-L" + d for d in lib_dirs] + [
        "-Wl,--gc-sections",
        "-Wl,--build-id=sha1",
        "-Wl,-z,noexecstack",
    ]

    features = [
        feature(
            name = "kata_guest_compile",
            enabled = True,
            flag_sets = [_flags(_COMPILE_ACTIONS, compile_flags)],
        ),
        feature(
            name = "kata_guest_link",
            enabled = True,
            flag_sets = [_flags(_LINK_ACTIONS, link_flags)],
        ),
        # Libraries the static archives of the sysroot need after everything else.
        feature(
            name = "kata_guest_link_tail",
            enabled = True,
            flag_sets = [flag_set(
                actions = _LINK_ACTIONS,
                flag_groups = [flag_group(flags = ctx.attr.link_libs)],
            )],
        ),
        feature(name = "dbg"),
        feature(name = "fastbuild"),
        feature(
            name = "opt",
            flag_sets = [
                # -Os: the agent is PID 1 of every VM and mostly waits; size (binary and
                # clean-page RSS) matters more than speed there. LTO over kata-cpp's own code
                # (Debian's archives carry no LTO bytecode): the x86_64 agent 3,748,408 ->
                # 3,637,816 B (-2.95%). -ffunction-sections/-fdata-sections/--gc-sections are
                # on for every guest build (kata_guest_compile/kata_guest_link).
                _flags(_COMPILE_ACTIONS, ["-Os", "-DNDEBUG", "-flto"]),
                _flags(_LINK_ACTIONS, ["-Wl,--strip-all", "-flto=auto"]),
            ],
        ),
        feature(name = "supports_pic", enabled = False),
        feature(name = "supports_dynamic_linker", enabled = False),
        feature(name = "static_link_cpp_runtimes", enabled = False),
    ]

    tool_paths = [
        tool_path(name = "gcc", path = ctx.attr.gcc),
        tool_path(name = "cpp", path = ctx.attr.tool_prefix + "cpp"),
        tool_path(name = "ar", path = ctx.attr.tool_prefix + "ar"),
        tool_path(name = "ld", path = ctx.attr.tool_prefix + "ld"),
        tool_path(name = "nm", path = ctx.attr.tool_prefix + "nm"),
        tool_path(name = "objcopy", path = ctx.attr.tool_prefix + "objcopy"),
        tool_path(name = "objdump", path = ctx.attr.tool_prefix + "objdump"),
        tool_path(name = "strip", path = ctx.attr.tool_prefix + "strip"),
        tool_path(name = "gcov", path = "/bin/false"),
        tool_path(name = "dwp", path = "/bin/false"),
        tool_path(name = "llvm-cov", path = "/bin/false"),
    ]

    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        features = features,
        cxx_builtin_include_directories = include_dirs,
        toolchain_identifier = "kata-guest-" + ctx.attr.cpu,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = triple,
        target_cpu = ctx.attr.cpu,
        target_libc = "glibc",
        compiler = "gcc",
        abi_version = "gcc",
        abi_libc_version = "glibc",
        tool_paths = tool_paths,
        builtin_sysroot = s,
    )

kata_cc_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "cpu": attr.string(mandatory = True),  # "k8" or "aarch64"
        "triple": attr.string(mandatory = True),  # "x86_64-linux-gnu", "aarch64-linux-gnu"
        "gcc": attr.string(mandatory = True),  # absolute path of the host's compiler driver
        "tool_prefix": attr.string(mandatory = True),  # "/usr/bin/" or "/usr/bin/aarch64-linux-gnu-"
        "gcc_version": attr.string(mandatory = True),  # "12": the sysroot's libgcc/libstdc++
        "sysroot": attr.string(mandatory = True),  # absolute path of the unpacked sysroot
        "link_libs": attr.string_list(default = []),  # e.g. ["-lz"], last on the link line
    },
    provides = [CcToolchainConfigInfo],
)
