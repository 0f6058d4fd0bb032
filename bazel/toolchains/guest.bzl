"""Rules that build for the guest from any build: a configuration transition onto the guest
platforms (//bazel/platforms), so `bazel test //...` (a host build) can depend on the static
agent and on the guest image.

    kata_guest_binary(name, binary, arch)   the binary built for the guest (static)
    kata_guest_image(name, agent, arch)     tools/osbuilder's image: <name>/vmlinux.container,
                                            <name>/kata-containers-initrd.img, <name>/manifest.txt
    kata_guest_emulated_test(name, test, arch)
                                            a test binary built for the guest, run under
                                            /usr/bin/qemu-<arch>-static (qemu-user-static)

Use them through the macros of //bazel:kata.bzl.
"""

_PLATFORM = {
    "x86_64": "//bazel/platforms:guest_x86_64",
    "aarch64": "//bazel/platforms:guest_aarch64",
}

def _guest_transition_impl(settings, attr):
    return {
        "//command_line_option:platforms": _PLATFORM[attr.arch],
        "//command_line_option:compilation_mode": "opt",
        "//command_line_option:platform_suffix": "guest-" + attr.arch,
    }

guest_transition = transition(
    implementation = _guest_transition_impl,
    inputs = [],
    outputs = [
        "//command_line_option:platforms",
        "//command_line_option:compilation_mode",
        "//command_line_option:platform_suffix",
    ],
)

_ALLOWLIST = {
    "_allowlist_function_transition": attr.label(
        default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
    ),
}

def _guest_binary_impl(ctx):
    src = ctx.attr.binary[0][DefaultInfo].files_to_run.executable
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = src, is_executable = True)
    return [DefaultInfo(files = depset([out]), executable = out, runfiles = ctx.runfiles(files = [out]))]

kata_guest_binary_rule = rule(
    implementation = _guest_binary_impl,
    attrs = dict({
        "binary": attr.label(mandatory = True, cfg = guest_transition, executable = True),
        "arch": attr.string(mandatory = True, values = ["x86_64", "aarch64"]),
    }, **_ALLOWLIST),
    executable = True,
)

_DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}

def _guest_image_impl(ctx):
    agent = ctx.attr.agent[0][DefaultInfo].files_to_run.executable
    kernel = ctx.actions.declare_file(ctx.label.name + "/vmlinux.container")
    initrd = ctx.actions.declare_file(ctx.label.name + "/kata-containers-initrd.img")
    manifest = ctx.actions.declare_file(ctx.label.name + "/manifest.txt")
    args = ["--agent", agent.path, "--out", kernel.dirname, "--arch", _DEB_ARCH[ctx.attr.arch]]
    inputs = [agent]
    if ctx.attr.own_kernel:
        # kata-cpp's kernel comes from tools/osbuilder/kernel.py's cache (tools/setup builds it),
        # keyed by these files: a changed fragment or pin rebuilds the image.
        args.append("--own-kernel")
        inputs += ctx.files._kernel_inputs
    else:
        if not ctx.file.kernel_lock:
            fail("%s: kernel_lock is required without own_kernel" % ctx.label)
        args += ["--kernel-lock", ctx.file.kernel_lock.path]
        inputs.append(ctx.file.kernel_lock)
    if ctx.file.busybox:
        args += ["--busybox", ctx.file.busybox.path]
        inputs.append(ctx.file.busybox)
    if ctx.file.busybox_lock:
        args += ["--busybox-lock", ctx.file.busybox_lock.path]
        inputs.append(ctx.file.busybox_lock)
    ctx.actions.run(
        executable = "/usr/bin/python3",
        arguments = [ctx.file._osbuilder.path] + args,
        inputs = inputs + [ctx.file._osbuilder],
        outputs = [kernel, initrd, manifest],
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        mnemonic = "GuestImage",
        progress_message = "Building the %s guest image %s" % (ctx.attr.arch, ctx.label),
    )
    files = [kernel, initrd, manifest]
    return [DefaultInfo(files = depset(files), runfiles = ctx.runfiles(files = files))]

kata_guest_image_rule = rule(
    implementation = _guest_image_impl,
    attrs = dict({
        "agent": attr.label(mandatory = True, cfg = guest_transition, executable = True),
        "arch": attr.string(mandatory = True, values = ["x86_64", "aarch64"]),
        "kernel_lock": attr.label(allow_single_file = True),
        "own_kernel": attr.bool(default = False),
        "_kernel_inputs": attr.label_list(
            default = ["//tools/osbuilder:kernel_inputs"],
            allow_files = True,
        ),
        "busybox": attr.label(allow_single_file = True),
        "busybox_lock": attr.label(allow_single_file = True),
        "_osbuilder": attr.label(
            default = "//tools/osbuilder:osbuilder.py",
            allow_single_file = True,
        ),
    }, **_ALLOWLIST),
)

_QEMU_USER = {"x86_64": "/usr/bin/qemu-x86_64-static", "aarch64": "/usr/bin/qemu-aarch64-static"}

def _guest_emulated_test_impl(ctx):
    info = ctx.attr.test[0][DefaultInfo]
    binary = info.files_to_run.executable
    script = ctx.actions.declare_file(ctx.label.name + ".sh")

    # The emulator is called explicitly: binfmt_misc may not be registered on the host.
    ctx.actions.write(
        output = script,
        is_executable = True,
        content = """#!/bin/bash
# kata_guest_test: {test} built for the {arch} guest platform, run under qemu-user.
set -euo pipefail
emu={emu}
if [ ! -x "$emu" ]; then
  echo "kata_guest_test: $emu is missing: run tools/setup (package qemu-user-static)" >&2
  exit 1
fi
exec "$emu" {binary} "$@"
""".format(test = ctx.attr.test[0].label, arch = ctx.attr.arch, emu = _QEMU_USER[ctx.attr.arch],
           binary = binary.short_path),
    )
    runfiles = ctx.runfiles(files = [binary] + ctx.files.data).merge(info.default_runfiles)
    return [DefaultInfo(executable = script, runfiles = runfiles)]

# A test rule's name must end in _test.
kata_guest_emulated_test = rule(
    implementation = _guest_emulated_test_impl,
    attrs = dict({
        "test": attr.label(mandatory = True, cfg = guest_transition, executable = True),
        "arch": attr.string(mandatory = True, values = ["x86_64", "aarch64"]),
        "data": attr.label_list(allow_files = True),
    }, **_ALLOWLIST),
    test = True,
)
