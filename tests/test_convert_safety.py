"""Interrupted conversions leave no output and no temp file; a SIGKILLed run's temp file is
removed by the next run; peak memory stays far below the checkpoint size."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("quantx._native")


def start_cli(hf_dir: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "quantx.cli.convert", str(hf_dir), str(out), "--quiet", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_partial_output(proc: subprocess.Popen, out_dir: Path, min_bytes: int = 20_000_000) -> Path:
    """Block until the conversion has written part of its temp file (then it is mid-weights)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        temps = [p for p in out_dir.iterdir() if ".qxpart-" in p.name]
        if temps and temps[0].stat().st_size >= min_bytes:
            return temps[0]
        if proc.poll() is not None:
            pytest.fail(f"conversion ended before it could be interrupted: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("conversion made no progress")


@pytest.mark.slow
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_conversion_leaves_nothing(smollm2_hf_dir: Path, tmp_path: Path, sig: int, status: int) -> None:
    out = tmp_path / "smollm2.gguf"
    proc = start_cli(smollm2_hf_dir, out, "--outtype", "f32")
    temp = wait_for_partial_output(proc, tmp_path)
    assert temp.parent == out.parent  # beside the target, so publishing is a rename
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_sigkill_leaves_stale_temp_that_next_run_removes(smollm2_hf_dir: Path, tiny_llama_dir: Path,
                                                         tmp_path: Path) -> None:
    from quantx.convert import convert

    out = tmp_path / "model.gguf"
    proc = start_cli(smollm2_hf_dir, out, "--outtype", "f32")
    temp = wait_for_partial_output(proc, tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [temp.name]  # SIGKILL cannot be cleaned up after...

    rep = convert(tiny_llama_dir, out, "f16", quiet=True)   # ...so the next run does it
    assert rep.removed_stale == [temp]
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_live_writers_temp_is_left_alone(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """A temp file whose writer is still running belongs to a concurrent conversion."""
    from quantx.convert import convert
    from quantx.convert.safe_output import temp_path_for

    out = tmp_path / "model.gguf"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = temp_path_for(out, sleeper.pid)
        busy.write_bytes(b"in progress")
        dead = temp_path_for(out, 2**22 + 12345)  # above pid_max on typical systems: not running
        dead.write_bytes(b"stale")
        rep = convert(tiny_llama_dir, out, "f16", quiet=True)
        assert rep.removed_stale == [dead]
        assert busy.read_bytes() == b"in progress"
    finally:
        sleeper.kill()
        sleeper.wait()


@pytest.mark.slow
def test_peak_memory_far_below_checkpoint(smollm2_hf_dir: Path, tmp_path: Path) -> None:
    """Streaming: converting to F16 grows the process by much less than the checkpoint size
    (the whole-model approach would need checkpoint + output)."""
    out = tmp_path / "o.gguf"
    script = f"""
import json, resource
import torch, tokenizers, safetensors, gguf, transformers  # the converter's imports, loaded up front
from quantx.convert import convert
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rep = convert({str(smollm2_hf_dir)!r}, {str(out)!r}, "f16", quiet=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base_kb": base, "peak_kb": peak, "in": rep.input_bytes, "out": rep.output_bytes}}))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    m = json.loads(res.stdout.strip().splitlines()[-1])
    growth = (m["peak_kb"] - m["base_kb"]) * 1024
    print(f"\npeak RSS {m['peak_kb'] / 1024:.0f} MiB (imports {m['base_kb'] / 1024:.0f} MiB, conversion +"
          f"{growth / 2**20:.0f} MiB); checkpoint {m['in'] / 2**20:.0f} MiB, output {m['out'] / 2**20:.0f} MiB")
    assert growth < 0.5 * m["in"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_rewrapped_by_a_library_is_still_an_interrupt(sig: int) -> None:
    """numpy turns an exception raised inside its array discovery into its own ValueError
    ("could not determine the shape of object type ..."); a signal landing there must still
    come out as ConvertInterrupted, not as a conversion error."""
    import os
    from quantx.convert import ConvertInterrupted
    from quantx.convert.safe_output import signals_raise

    before = signal.getsignal(sig)
    with pytest.raises(ConvertInterrupted) as info:
        with signals_raise():
            try:
                os.kill(os.getpid(), sig)
                time.sleep(1)  # the handler runs here
            except ConvertInterrupted as e:
                raise ValueError("could not determine the shape of object type 'UntypedStorage'") from e
    assert info.value.signum == sig
    assert signal.getsignal(sig) is before


def test_errors_without_a_signal_pass_through() -> None:
    from quantx.convert.safe_output import signals_raise

    with pytest.raises(ValueError, match="bad shape"):
        with signals_raise():
            raise ValueError("bad shape")
