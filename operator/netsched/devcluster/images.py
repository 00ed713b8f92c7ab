"""Container images for the real nodes, built here: there is no registry to pull from.

Each image is one layer (a root filesystem) in an OCI image-layout archive, which
``ctr images import`` loads into a node's containerd under a ``localhost/...:local``
name; pods use ``imagePullPolicy: Never``. Archives are cached under
``$NETSCHED_CACHE/images`` and rebuilt only when their recipe changes (a stamp of it
sits beside each archive).

- ``pause``: the sandbox's init process, a few lines of C compiled statically;
- ``tools``: busybox (``nc``, ``nslookup``, ``sh``) for the tests that try connections, and
  Debian's ``iperf3`` with the shared libraries it links (read from ``ldd``);
- ``coredns``: the cluster DNS, the CoreDNS built from ``hack/coredns`` and its Corefile;
- ``trainer``: Debian (made with mmdebstrap) with ``python3-torch`` (CPU, gloo) and
  :data:`ALLREDUCE`, a training step's all-reduce from nothing but the environment netsched
  gives a gang's pods;
- ``netsched``: Debian with netsched's wheel and its dependencies in a virtualenv
  (``/opt/netsched``), so the operator and the probe agent run as real pods.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netsched.devcluster.binaries import cache_root
from netsched.devcluster.failures import ComponentError, tail

PAUSE = "localhost/pause:local"
TOOLS = "localhost/netsched-tools:local"
COREDNS = "localhost/coredns:local"
TRAINER = "localhost/netsched-trainer:local"
TRAINER_PACKAGES = ("python3-torch",)
DEBIAN_SUITE = "bookworm"
HOST_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
NETSCHED = "localhost/netsched:local"
NETSCHED_PACKAGES = ("python3", "python3-venv", "ca-certificates", "iperf3")
"""``iperf3`` is the probe agent's tool (``netsched probe-agent``)."""
SOURCE = Path(__file__).resolve().parents[3]
"""The checkout the netsched image is built from (its wheel, made here)."""
INSTALL_WHEELS = SOURCE / "hack" / "install-wheels.sh"
ADD_USER = (
    "groupadd --gid 65532 netsched && useradd --uid 65532 --gid 65532 --no-create-home "
    "--home-dir /nonexistent --shell /usr/sbin/nologin netsched"
)
"""The Dockerfile's user, by name too (getpass and kopf look the uid up)."""
ALLREDUCE = """\
# One all-reduce over gloo, from the environment netsched sets: MASTER_ADDR (rank 0 through
# the job's headless Service), MASTER_PORT, WORLD_SIZE and RANK. Exits non-zero on failure.
import datetime, os, sys
import torch
import torch.distributed as dist

rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
print(f"rank {rank}/{world}: rendezvous at {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
      flush=True)
dist.init_process_group("gloo", rank=rank, world_size=world,
                        timeout=datetime.timedelta(seconds=int(os.environ.get("TIMEOUT", "60"))))
tensor = torch.full((1024,), float(rank + 1))
dist.all_reduce(tensor)
expected = world * (world + 1) / 2
ok = bool(torch.all(tensor == expected))
print(f"rank {rank}: all-reduce sum {tensor[0].item():.0f}, expected {expected:.0f}", flush=True)
dist.destroy_process_group()
sys.exit(0 if ok else 1)
"""
COREFILE = """.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    cache 5
}
"""
BUSYBOX = Path("/bin/busybox")
BUSYBOX_APPLETS = ("sh", "nc", "nslookup", "sleep", "cat", "echo", "hostname", "ip", "ls", "true")
IPERF3 = Path("/usr/bin/iperf3")

PAUSE_C = r"""
/* The pod sandbox's first process: it holds the namespaces, reaps orphans, and ends on
 * SIGINT or SIGTERM. Written for netsched's dev cluster. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction on_quit = {.sa_handler = quit}, on_child = {.sa_handler = reap};
    sigaction(SIGINT, &on_quit, NULL);
    sigaction(SIGTERM, &on_quit, NULL);
    sigaction(SIGCHLD, &on_child, NULL);
    for (;;) pause();
}
"""


@dataclass(frozen=True, slots=True)
class Image:
    """An image recipe: its name, how to fill its root filesystem, what it runs."""

    name: str
    fill: Callable[[Path], None]
    entrypoint: tuple[str, ...]
    recipe: str
    """Everything the root filesystem depends on, hashed into the cache stamp."""
    env: tuple[str, ...] = ()
    """More environment than PATH, as ``NAME=value``."""
    user: str = ""
    """The user it runs as (``uid:gid``); empty for root."""

    @property
    def archive(self) -> Path:
        slug = self.name.split("/")[-1].replace(":", "-")
        return cache_root() / "images" / f"{slug}.tar"


def _fill_pause(root: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "pause.c"
        source.write_text(PAUSE_C)
        _run("gcc", "-static", "-Os", "-o", str(root / "pause"), str(source), what="pause")
    _run("strip", str(root / "pause"), what="pause")


def _fill_tools(root: Path) -> None:
    if not BUSYBOX.is_file():
        raise ComponentError(
            component="image tools",
            what=f"{BUSYBOX} is missing",
            remedy="apt-get install busybox-static (make real-node-deps installs it)",
        )
    (root / "bin").mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in BUSYBOX_APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    _copy_linked(IPERF3, root, remedy="apt-get install iperf3 (make real-node-deps installs it)")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534::/:\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "tmp").mkdir(mode=0o1777)


def _copy_linked(binary: Path, root: Path, *, remedy: str) -> None:
    """Copy a dynamically linked host binary into ``root`` at its own path, with every
    shared library ``ldd`` says it loads (the dynamic loader included)."""
    if not binary.is_file():
        raise ComponentError(component="image tools", what=f"{binary} is missing", remedy=remedy)
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    libraries = [
        Path(word)
        for line in result.stdout.splitlines()
        for word in line.split()
        if word.startswith("/")
    ]
    if result.returncode != 0 or not libraries:
        raise ComponentError(
            component="image tools",
            what=f"`ldd {binary}` found no libraries (exit {result.returncode})",
            log_tail=tail(result.stderr or result.stdout),
            remedy=remedy,
        )
    for path in (binary, *libraries):
        target = root / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path.resolve(), target)


def _fill_trainer(root: Path) -> None:
    _debian(root, TRAINER_PACKAGES, what="trainer")
    (root / "opt" / "netsched").mkdir(parents=True, exist_ok=True)
    (root / "opt" / "netsched" / "allreduce.py").write_text(ALLREDUCE)


def _debian(root: Path, packages: tuple[str, ...], *hooks: str, what: str) -> None:
    """A Debian root filesystem with ``packages`` (mmdebstrap), then ``hooks`` run on it."""
    sources = [str(HOST_SOURCES)] if HOST_SOURCES.is_file() else []
    _run(
        "mmdebstrap", "--variant=apt", "--quiet", f"--include={','.join(packages)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
        *(f"--customize-hook={hook}" for hook in hooks),
        DEBIAN_SUITE, str(root), *sources, what=what,
    )  # fmt: skip


def _fill_netsched(root: Path) -> None:
    """The Dockerfile's steps on a Debian root filesystem: the wheel and every dependency made
    here (``pip wheel``; this Python's minor version is Debian's), installed by
    ``hack/install-wheels.sh`` without a network, each wheel checked against its hash."""
    with tempfile.TemporaryDirectory() as wheels:
        _run(
            sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", wheels, str(SOURCE),
            what="netsched",
        )  # fmt: skip
        _debian(
            root,
            NETSCHED_PACKAGES,
            f'mkdir -p "$1/tmp/wheels" && cp {wheels}/*.whl "$1/tmp/wheels/"',
            f'cp {INSTALL_WHEELS} "$1/tmp/install-wheels"',
            'chroot "$1" sh /tmp/install-wheels /tmp/wheels /opt/netsched',
            f'chroot "$1" sh -c "{ADD_USER}"',
            'rm -rf "$1/tmp/wheels" "$1/tmp/install-wheels"',
            what="netsched",
        )


def _source_digest() -> str:
    """The netsched package as the image would hold it: its sources and pyproject.toml."""
    digest = hashlib.sha256((SOURCE / "pyproject.toml").read_bytes() + INSTALL_WHEELS.read_bytes())
    for path in sorted((SOURCE / "operator" / "netsched").rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _tools_digest() -> str:
    digest = hashlib.sha256(str(BUSYBOX_APPLETS).encode())
    for binary in (BUSYBOX, IPERF3):
        digest.update(binary.read_bytes() if binary.is_file() else b"absent")
    return digest.hexdigest()


def _coredns(binary: Path) -> Image:
    def fill(root: Path) -> None:
        shutil.copy2(binary, root / "coredns")
        (root / "etc" / "coredns").mkdir(parents=True)
        (root / "etc" / "coredns" / "Corefile").write_text(COREFILE)

    digest = hashlib.sha256(binary.read_bytes()).hexdigest()
    return Image(
        COREDNS, fill, ("/coredns", "-conf", "/etc/coredns/Corefile"), recipe=COREFILE + digest
    )


def images(coredns: Path) -> tuple[Image, ...]:
    """The images every real node gets; ``coredns`` is the CoreDNS binary to put in one."""
    return (
        Image(PAUSE, _fill_pause, ("/pause",), recipe=PAUSE_C),
        Image(TOOLS, _fill_tools, ("/bin/sh",), recipe=_tools_digest()),
        _coredns(coredns),
        Image(
            TRAINER,
            _fill_trainer,
            ("python3", "/opt/netsched/allreduce.py"),
            recipe=f"{DEBIAN_SUITE} {TRAINER_PACKAGES} {ALLREDUCE}",
        ),
        Image(
            NETSCHED,
            _fill_netsched,
            ("/opt/netsched/bin/netsched",),
            recipe=f"{DEBIAN_SUITE} {NETSCHED_PACKAGES} {ADD_USER} {_source_digest()}",
            # As the Dockerfile's runtime stage sets them.
            env=("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"),
            user="65532:65532",
        ),
    )


def _run(*command: str, what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ComponentError(
            component=f"image {what}",
            what=f"`{' '.join(command)}` failed (exit {result.returncode})",
            log_tail=tail(result.stderr or result.stdout),
            remedy="real nodes need gcc and busybox-static (make real-node-deps installs them)",
        )


def _layer(root: Path, out: Path) -> str:
    """Write the root filesystem as an uncompressed tar (fixed times; owners, modes, links
    and device nodes as they are) to ``out``; returns its sha256."""
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as layer:
        for directory, subdirs, files in os.walk(root):  # never follows symlinks
            subdirs.sort()
            for name in sorted([*subdirs, *files]):
                path = Path(directory) / name
                info = layer.gettarinfo(str(path), arcname=str(path.relative_to(root)))
                info.mtime = 0
                if info.isfile():
                    with path.open("rb") as content:
                        layer.addfile(info, content)
                else:
                    layer.addfile(info)
    return _sha256(out)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _blob(blobs: Path, content: bytes) -> dict[str, object]:
    digest = hashlib.sha256(content).hexdigest()
    (blobs / digest).write_bytes(content)
    return {"digest": f"sha256:{digest}", "size": len(content)}


def write_archive(image: Image, root: Path, archive: Path) -> None:
    """An OCI image layout of one uncompressed layer, as a tar ``ctr images import`` reads."""
    with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
        layout = Path(scratch)
        blobs = layout / "blobs" / "sha256"
        blobs.mkdir(parents=True)
        unnamed = layout / "layer.tar"
        digest = _layer(root, unnamed)
        size = unnamed.stat().st_size
        unnamed.rename(blobs / digest)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Entrypoint": list(image.entrypoint),
                "Env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    *image.env,
                ],
                **({"User": image.user} if image.user else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}"]},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **_blob(blobs, json.dumps(config).encode()),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{digest}",
                    "size": size,
                }
            ],
        }
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    **_blob(blobs, json.dumps(manifest).encode()),
                    "annotations": {"io.containerd.image.name": image.name},
                }
            ],
        }
        (layout / "index.json").write_text(json.dumps(index))
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        partial = archive.with_name(f".{archive.name}.partial")
        with tarfile.open(partial, "w") as out:
            for path in sorted(layout.rglob("*")):
                out.add(str(path), arcname=str(path.relative_to(layout)), recursive=False)
        partial.replace(archive)


def build(image: Image) -> Path:
    """The image's archive, built unless the cached one has the same recipe."""
    stamp = image.archive.with_name(f".{image.archive.name}.stamp")
    config = f"{image.recipe} {image.entrypoint} {image.env} {image.user}"
    digest = hashlib.sha256(config.encode()).hexdigest()
    if image.archive.is_file() and stamp.is_file() and stamp.read_text() == digest:
        return image.archive
    image.archive.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=image.archive.parent) as scratch:
        root = Path(scratch) / "rootfs"
        root.mkdir()
        image.fill(root)
        write_archive(image, root, image.archive)
    stamp.write_text(digest)
    return image.archive


def build_all(coredns: Path) -> dict[str, Path]:
    return {image.name: build(image) for image in images(coredns)}
