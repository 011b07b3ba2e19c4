"""The native test executables, run from pytest so one command runs everything:
SIMD-vs-scalar parity of the QuantX kernels on this CPU, and the NEON kernels
cross-compiled for aarch64 and run under qemu-aarch64."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def native_build_dir() -> Path:
    env = os.environ.get("QUANTX_NATIVE_BUILD")
    return Path(env) if env else REPO / "build" / "dev-cmake"


def run_counted(cmd: list[str], **kw) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)
    out = proc.stdout + proc.stderr
    counts = re.findall(r"^(\d+) passed, (\d+) failed$", out, flags=re.M)
    assert proc.returncode == 0, out[-4000:]
    assert counts, out[-2000:]
    for passed, failed in counts:
        assert failed == "0" and int(passed) > 0, out[-4000:]
    print(out.strip().splitlines()[-1])
    return out


def test_qx_kernel_suite() -> None:
    exe = native_build_dir() / "test_qx"
    if not exe.is_file():
        pytest.skip(f"{exe} not built (tools/devbuild.sh, or cmake -DQUANTX_TESTS=ON)")
    run_counted([str(exe)])


@pytest.mark.parametrize("script", ["test-aarch64.sh", "test-aarch64-qx.sh"])
def test_neon_kernels_under_qemu(script: str, tmp_path: Path) -> None:
    missing = [t for t in ("aarch64-linux-gnu-g++", "qemu-aarch64") if shutil.which(t) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian: g++-aarch64-linux-gnu qemu-user)")
    env = dict(os.environ, QX_AARCH64_DIR=str(tmp_path))
    run_counted(["bash", str(REPO / "tools" / script)], env=env, cwd=REPO)
