"""The Dockerfile's install steps, run here without Docker: netsched's wheel and a wheel of
every dependency (``pip wheel``), installed by ``hack/install-wheels.sh`` into a fresh
virtualenv with every hash checked, offline; the commands the image runs then work.

The dev cluster's netsched image (netsched.devcluster.images) runs the same script inside a
Debian root filesystem, and the real-node tests run that image as the operator and the probe
agent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheels_install_with_their_hashes_and_the_image_commands_run(tmp_path: Path) -> None:
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheels), str(ROOT)],
        check=True,
    )
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert any(n.startswith("netsched-") for n in names) and any(
        n.startswith("kopf-") for n in names
    )
    subprocess.run(["sh", str(ROOT / "hack" / "install-wheels.sh"), str(wheels), str(venv)],
                   check=True)  # fmt: skip
    for command in (["run", "--help"], ["probe-agent", "--help"], ["crd"]):
        done = subprocess.run([str(venv / "bin" / "netsched"), *command], capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert done.returncode == 0, (command, done.stderr)
    assert "CustomResourceDefinition" in done.stdout  # the CRDs come from the package itself
    assert (venv / "bin" / "kubectl-netsched").is_file()
