#!/usr/bin/python3
"""Builds the pause image (the CRI sandbox image) as an OCI image-layout tar.

usage: make_pause_image.py OUT.tar REF PAUSE_BINARY

One uncompressed layer holding /pause (the static binary built by //tests/cri:pause), with
Entrypoint ["/pause"]. index.json names the manifest with `io.containerd.image.name` = REF,
so `ctr -n k8s.io images import OUT.tar` registers REF for the CRI plugin. Deterministic for
a given binary (fixed mtimes).
"""
import hashlib
import io
import json
import sys
import tarfile

MTIME = 1700000000


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = mode
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    out, ref, binary = sys.argv[1:]
    with open(binary, "rb") as f:
        pause = f.read()
    layer = tar_bytes([("dev", None, 0), ("proc", None, 0), ("sys", None, 0),
                       ("etc", None, 0), ("pause", pause, 0o755)])
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [{"created_by": "kata-cpp tests/cri/make_pause_image.py"}],
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
                                       "org.opencontainers.image.ref.name":
                                           ref.rsplit(":", 1)[-1]}}],
    }, sort_keys=True).encode()
    files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
             ("index.json", index)]
    for blob in (layer, config, manifest):
        files.append(("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob))
    with open(out, "wb") as f:
        f.write(tar_bytes([("blobs", None, 0), ("blobs/sha256", None, 0)] +
                          [(name, data, 0o644) for name, data in files]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
