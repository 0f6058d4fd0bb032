#!/usr/bin/python3
"""Builds a busybox OCI image (an image-layout tar) from the host's busybox-static.

usage: make_busybox_image.py OUT.tar [REF] [BUSYBOX]

The tar is an OCI image layout (oci-layout, index.json, blobs/sha256/...) with one
uncompressed layer: /bin/busybox, a /bin symlink per applet, and the usual empty
directories. index.json names the manifest with `io.containerd.image.name` = REF (default
docker.io/library/busybox:kata-e2e), so `ctr images import OUT.tar` registers REF directly.
The output is deterministic (fixed mtimes, sorted entries) for a given busybox binary.
"""
import hashlib
import io
import json
import subprocess
import sys
import tarfile

MTIME = 1700000000


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = MTIME
    tar.addfile(info)


def layer_bytes(busybox):
    applets = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ["bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "usr/bin", "var"]:
            add_dir(tar, d)
        with open(busybox, "rb") as f:
            data = f.read()
        info = tarfile.TarInfo("bin/busybox")
        info.mode = 0o755
        info.size = len(data)
        info.mtime = MTIME
        tar.addfile(info, io.BytesIO(data))
        for applet in sorted(set(applets)):
            if applet == "busybox":
                continue
            info = tarfile.TarInfo("bin/" + applet)
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            info.mtime = MTIME
            tar.addfile(info)
        for name, text in [("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
                           ("etc/group", "root:x:0:\n")]:
            raw = text.encode()
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            info.size = len(raw)
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    if len(sys.argv) < 2 or len(sys.argv) > 4 or sys.argv[1].startswith("-"):
        sys.exit(__doc__.strip().splitlines()[2])  # the usage line, exit status 1
    out = sys.argv[1]
    ref = sys.argv[2] if len(sys.argv) > 2 else "docker.io/library/busybox:kata-e2e"
    busybox = sys.argv[3] if len(sys.argv) > 3 else "/bin/busybox"
    layer = layer_bytes(busybox)
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [{"created_by": "kata-cpp tests/e2e/make_busybox_image.py"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": digest(manifest), "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": ref,
                                       "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[-1]}}],
    }, sort_keys=True).encode()
    files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
             ("index.json", index)]
    for blob in (layer, config, manifest):
        files.append(("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob))
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ["blobs", "blobs/sha256"]:
            add_dir(tar, d)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            info.size = len(data)
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
