#!/usr/bin/env python3
"""oci.py - assemble an OCI image archive from a root directory and a
Containerfile, with no container engine and no registry (Python stdlib only).

    oci.py build --root DIR --containerfile FILE --out IMAGE.oci.tar
                 [--version V] [--ref NAME] [--epoch SECONDS] [--rootfs-tar FILE]
    oci.py extract IMAGE.oci.tar DIR     # verify digests, unpack the layer
    oci.py inspect IMAGE.oci.tar         # print the image config as JSON

The image has one layer: the root directory, as a deterministic tarball
(sorted entries, mtimes clamped to --epoch, owner root except the paths the
Containerfile's USER must own). The archive is an OCI image layout
(oci-layout, index.json, blobs/sha256/...) in a tar file, which
`podman load`, `skopeo copy oci-archive:...` and `buildah pull oci-archive:...`
accept.

Only the Containerfile instructions nodeherd's uses are understood: FROM
scratch, ADD <root tarball> /, ENV, USER, WORKDIR, VOLUME, EXPOSE, LABEL,
ENTRYPOINT and CMD in JSON (exec) form. Anything else is refused with the
line that has it, rather than silently dropped.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shlex
import sys
import tarfile
import time

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


class ContainerfileError(Exception):
    pass


def parse_containerfile(path):
    """Returns the OCI config dict ('config' member) the file describes."""
    cfg = {"Env": [], "Labels": {}}
    lines = []
    with open(path, encoding="utf-8") as f:
        buf, start = "", 0
        for n, raw in enumerate(f, 1):
            s = raw.rstrip("\n")
            if not buf and (not s.strip() or s.lstrip().startswith("#")):
                continue
            if not buf:
                start = n
            if s.endswith("\\"):
                buf += s[:-1] + " "
                continue
            lines.append((start, buf + s))
            buf = ""
    seen_from = seen_add = False
    for n, line in lines:
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        where = "%s:%d" % (path, n)

        def exec_form(what):
            try:
                v = json.loads(rest)
            except ValueError:
                v = None
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ContainerfileError("%s: %s must be a JSON array of strings (exec form), "
                                         "got %s" % (where, what, rest))
            return v

        if word == "FROM":
            if rest != "scratch" or seen_from:
                raise ContainerfileError("%s: only a single `FROM scratch` is supported (the "
                                         "root comes from Debian packages, not a registry)"
                                         % where)
            seen_from = True
        elif not seen_from:
            raise ContainerfileError("%s: %s before FROM" % (where, word))
        elif word == "ADD":
            parts = rest.split()
            if len(parts) != 2 or parts[1] != "/" or seen_add:
                raise ContainerfileError("%s: only one `ADD <rootfs.tar> /` is supported" % where)
            cfg["_rootfs"] = parts[0]
            seen_add = True
        elif word == "ENV":
            for tok in shlex.split(rest):
                k, eq, v = tok.partition("=")
                if not eq or not k:
                    raise ContainerfileError("%s: ENV wants KEY=VALUE, got %r" % (where, tok))
                cfg["Env"] = [e for e in cfg["Env"] if not e.startswith(k + "=")]
                cfg["Env"].append("%s=%s" % (k, v))
        elif word == "LABEL":
            for tok in shlex.split(rest):
                k, eq, v = tok.partition("=")
                if not eq or not k:
                    raise ContainerfileError("%s: LABEL wants KEY=VALUE, got %r" % (where, tok))
                cfg["Labels"][k] = v
        elif word == "USER":
            cfg["User"] = rest
        elif word == "WORKDIR":
            cfg["WorkingDir"] = rest
        elif word == "VOLUME":
            vols = exec_form("VOLUME") if rest.startswith("[") else rest.split()
            cfg.setdefault("Volumes", {}).update({v: {} for v in vols})
        elif word == "EXPOSE":
            for p in rest.split():
                cfg.setdefault("ExposedPorts", {})[p if "/" in p else p + "/tcp"] = {}
        elif word == "ENTRYPOINT":
            cfg["Entrypoint"] = exec_form("ENTRYPOINT")
        elif word == "CMD":
            cfg["Cmd"] = exec_form("CMD")
        else:
            raise ContainerfileError("%s: instruction %s is not supported by this builder; "
                                     "use buildah/podman for it (contrib/container/build "
                                     "--tool buildah)" % (where, word))
    if not seen_from or not seen_add:
        raise ContainerfileError("%s: needs `FROM scratch` and `ADD <rootfs.tar> /`" % path)
    return cfg


def user_ids(user):
    u, _, g = user.partition(":")
    if not u.isdigit() or (g and not g.isdigit()):
        raise ContainerfileError("USER %s: give numeric UID:GID (the image has no shell to "
                                 "resolve names at build time)" % user)
    return int(u), int(g or u)


def layer_tar(root, owned, uid, gid, epoch):
    """The root directory as an uncompressed, deterministic tar (bytes).
    `owned` are paths (relative, no leading /) to give uid:gid; the rest is
    root's. /dev, /proc and /sys are kept as empty directories: the runtime
    provides them."""
    out = io.BytesIO()
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        rel = "" if rel == "." else rel
        if rel in ("dev", "proc", "sys"):
            dirnames[:] = []
            filenames = []
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            entries.append(os.path.join(rel, name) if rel else name)
    entries.sort()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in entries:
            full = os.path.join(root, rel)
            ti = tar.gettarinfo(full, arcname=rel)
            if ti is None:  # a socket: nothing to ship
                continue
            if ti.type in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
                continue
            if rel in owned or any(rel.startswith(o + "/") for o in owned):
                ti.uid, ti.gid = uid, gid
            else:
                ti.uid, ti.gid = 0, 0
            ti.uname = ti.gname = ""
            ti.mtime = min(int(ti.mtime), epoch)
            if ti.isreg():
                with open(full, "rb") as f:
                    tar.addfile(ti, f)
            else:
                tar.addfile(ti)
    return out.getvalue()


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def build(args):
    cfg = parse_containerfile(args.containerfile)
    rootfs_name = cfg.pop("_rootfs")
    uid, gid = user_ids(cfg.get("User", "0:0"))
    owned = {p.strip("/") for p in cfg.get("Volumes", {})}
    epoch = args.epoch
    if args.version:
        cfg["Labels"]["org.opencontainers.image.version"] = args.version
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    cfg["Labels"]["org.opencontainers.image.created"] = created
    if not cfg["Labels"]:
        del cfg["Labels"]

    raw = layer_tar(args.root, owned, uid, gid, epoch)
    if args.rootfs_tar:  # the tarball the Containerfile ADDs, for buildah/podman
        with open(args.rootfs_tar, "wb") as f:
            f.write(raw)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=epoch, compresslevel=6) as z:
        z.write(raw)
    layer = gz.getvalue()

    config = {
        "created": created,
        "architecture": args.arch,
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [sha256(raw)]},
        "history": [{"created": created,
                     "created_by": "contrib/container/build: ADD %s / (%s)" % (
                         rootfs_name, args.root_method)}],
    }
    config_b = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": sha256(config_b), "size": len(config_b)},
        "layers": [{"mediaType": MT_LAYER, "digest": sha256(layer), "size": len(layer)}],
    }
    manifest_b = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": MT_MANIFEST, "digest": sha256(manifest_b),
                       "size": len(manifest_b),
                       "annotations": {"org.opencontainers.image.ref.name": args.ref}}],
    }
    files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
             ("index.json", json.dumps(index, sort_keys=True).encode())]
    for blob in (config_b, manifest_b, layer):
        files.append(("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob))
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(ti)
        for name, data in files:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, epoch
            tar.addfile(ti, io.BytesIO(data))
    os.replace(tmp, args.out)
    print("%s: OCI image %s, %d bytes (layer %d bytes compressed, %d uncompressed), manifest %s"
          % (args.out, args.ref, os.path.getsize(args.out), len(layer), len(raw),
             sha256(manifest_b)))
    return 0


def read_archive(path):
    """Returns (config dict, layer bytes), verifying every digest and size."""
    with tarfile.open(path) as tar:
        def blob(desc, what):
            algo, _, hexd = desc["digest"].partition(":")
            if algo != "sha256":
                raise ValueError("%s: %s digest %s: only sha256" % (path, what, desc["digest"]))
            data = tar.extractfile("blobs/sha256/" + hexd).read()
            if hashlib.sha256(data).hexdigest() != hexd or len(data) != desc["size"]:
                raise ValueError("%s: %s blob does not match its descriptor" % (path, what))
            return data

        layout = json.load(tar.extractfile("oci-layout"))
        if layout.get("imageLayoutVersion") != "1.0.0":
            raise ValueError("%s: oci-layout: unexpected %r" % (path, layout))
        index = json.load(tar.extractfile("index.json"))
        if len(index.get("manifests", [])) != 1:
            raise ValueError("%s: index.json: expected exactly one manifest" % path)
        mdesc = index["manifests"][0]
        if mdesc.get("mediaType") != MT_MANIFEST:
            raise ValueError("%s: index.json: not an OCI manifest" % path)
        manifest = json.loads(blob(mdesc, "manifest"))
        if manifest["config"]["mediaType"] != MT_CONFIG:
            raise ValueError("%s: manifest: config is not an OCI image config" % path)
        config = json.loads(blob(manifest["config"], "config"))
        layers = manifest["layers"]
        if len(layers) != 1 or layers[0]["mediaType"] != MT_LAYER:
            raise ValueError("%s: manifest: expected one tar+gzip layer" % path)
        layer = gzip.decompress(blob(layers[0], "layer"))
        if config["rootfs"]["diff_ids"] != [sha256(layer)]:
            raise ValueError("%s: config rootfs.diff_ids does not match the layer" % path)
        config["_ref"] = mdesc.get("annotations", {}).get("org.opencontainers.image.ref.name")
        return config, layer


def extract(args):
    config, layer = read_archive(args.archive)
    os.makedirs(args.dir, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        for m in tar.getmembers():
            if m.name.startswith("/") or ".." in m.name.split("/"):
                raise ValueError("%s: layer member %r escapes the root" % (args.archive, m.name))
        tar.extractall(args.dir, numeric_owner=True)
    print(json.dumps(config, indent=1, sort_keys=True))
    return 0


def inspect(args):
    config, _ = read_archive(args.archive)
    print(json.dumps(config, indent=1, sort_keys=True))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--root", required=True)
    b.add_argument("--containerfile", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--version", default="")
    b.add_argument("--ref", default="latest")
    b.add_argument("--arch", default="amd64")
    b.add_argument("--epoch", type=int,
                   default=int(os.environ.get("SOURCE_DATE_EPOCH", time.time())))
    b.add_argument("--rootfs-tar", default="")
    b.add_argument("--root-method", default="mmdebstrap")
    e = sub.add_parser("extract")
    e.add_argument("archive")
    e.add_argument("dir")
    i = sub.add_parser("inspect")
    i.add_argument("archive")
    args = ap.parse_args()
    try:
        return {"build": build, "extract": extract, "inspect": inspect}[args.cmd](args)
    except (ContainerfileError, ValueError, OSError, KeyError, tarfile.TarError) as e:
        sys.stderr.write("oci.py: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
