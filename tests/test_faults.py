"""Limits and faults: hostile sizes fail before allocating, over-long contexts and
KV caches that do not fit are clear errors, SIGINT stops quantx-run cleanly, and a
converter that is killed or runs out of disk leaves nothing half-written."""
from __future__ import annotations

import json
import re
import resource
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from gguf import GGUFValueType

import gguf_corrupt as gc
import quantx
from tiny_gguf import write_tiny_llama

# Address space a process may add after importing quantx: far below what any
# of the declared sizes below would need, far above what a correct refusal needs.
HEADROOM = 512 << 20


def _asan_loaded() -> bool:
    maps = Path("/proc/self/maps").read_text()
    return "libasan" in maps or "libclang_rt.asan" in maps


# AddressSanitizer reserves terabytes of address space, so RLIMIT_AS cannot be used with it.
needs_no_asan = pytest.mark.skipif(_asan_loaded(), reason="RLIMIT_AS is incompatible with AddressSanitizer")

_LIMITED_RUNNER = textwrap.dedent("""
    import json, resource, sys
    import quantx
    from quantx import _native
    cases = json.loads(sys.argv[1])
    vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize:")).split()[1]) * 1024
    limit = vm + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = []
    for kind, path, n_ctx in cases:
        try:
            if kind == "gguf":
                _native.GgufFile(path)
            else:
                quantx.Model(path, threads=1, n_ctx=n_ctx)
            out.append(["ok", ""])
        except quantx.QuantxError as e:
            out.append(["QuantxError", str(e)])
        except BaseException as e:
            out.append([type(e).__name__, str(e)])
    print(json.dumps(out))
""")


def run_under_address_limit(cases: list[tuple[str, Path, int]]) -> list[tuple[str, str]]:
    """Open each case in one subprocess whose address space may grow by HEADROOM only."""
    arg = json.dumps([[k, str(p), n] for k, p, n in cases])
    r = subprocess.run([sys.executable, "-c", _LIMITED_RUNNER, arg, str(HEADROOM)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"the limited process died ({r.returncode}): {r.stderr[-2000:]}"
    return [tuple(x) for x in json.loads(r.stdout)]


def _huge_array(elem_type: int, count: int) -> gc.RawGguf:
    return gc.RawGguf(kvs=[gc.enc_kv("arr", GGUFValueType.ARRAY, gc.enc_array_header(elem_type, count) + b"\0" * 64)])


@needs_no_asan
def test_gigantic_declared_sizes_fail_before_allocating(tmp_path: Path) -> None:
    kv_count = gc.minimal_tensor_file([4])
    kv_count.kv_count = 2**62
    t_count = gc.minimal_tensor_file([4])
    t_count.tensor_count = 2**62
    n_big = 2**22 + 1  # just over the cap on metadata array elements, really present in the file
    big_array = gc.RawGguf(kvs=[gc.enc_kv("big", GGUFValueType.ARRAY,
                                          gc.enc_array_header(GGUFValueType.UINT8, n_big) + b"\1" * n_big)])
    files = {
        "dims_past_eof": (gc.minimal_tensor_file([2**31, 2**31]), "tensor 'w' data extends past end of file"),
        "dims_overflow": (gc.minimal_tensor_file([2**40, 2**40]), "tensor 'w' has too many elements"),
        "kv_count": (kv_count, "metadata key/value count 4611686018427387904 cannot fit"),
        "tensor_count": (t_count, "tensor count 4611686018427387904 cannot fit"),
        "key_length": (gc.RawGguf(kvs=[struct.pack("<Q", 2**63) + b"abcdefgh"]),
                       "is a string of 9223372036854775808 bytes"),
        "value_length": (gc.RawGguf(kvs=[gc.enc_str("k") + struct.pack("<IQ", GGUFValueType.STRING, 2**64 - 1)]),
                         "is a string of 18446744073709551615 bytes"),
        "string_array": (_huge_array(GGUFValueType.STRING, 2**62), "array count 4611686018427387904 .* cannot fit"),
        "u8_array": (_huge_array(GGUFValueType.UINT8, 2**62), "array count 4611686018427387904 .* cannot fit"),
        "array_array": (_huge_array(GGUFValueType.ARRAY, 2**62), "array count 4611686018427387904 .* cannot fit"),
        "elements_total": (big_array, "metadata arrays hold more than 4194304 elements in total"),
    }
    cases = [("gguf", raw.write(tmp_path / f"{name}.gguf"), 0) for name, (raw, _) in files.items()]
    # Model-level sizes: an embedding width of 2^40 (its tensors are tiny) must not size any buffer.
    wide = write_tiny_llama(tmp_path / "wide.gguf")
    cases.append(("model", _with_u32(wide, tmp_path / "wide2.gguf", "llama.embedding_length", 2**31 - 1), 0))
    results = run_under_address_limit(cases)
    for (name, (_, msg)), (kind, text) in zip(files.items(), results):
        assert kind == "QuantxError" and re.search(msg, text), (name, kind, text)
    kind, text = results[-1]
    assert kind == "QuantxError" and "embedding_length' has an implausible value 2147483647" in text, text


def _with_u32(src: Path, dst: Path, key: str, value: int) -> Path:
    """Copy of a gguf-py written file with one uint32 key's value replaced in place."""
    data = bytearray(src.read_bytes())
    needle = struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", GGUFValueType.UINT32)
    at = data.index(needle) + len(needle)
    data[at:at + 4] = struct.pack("<I", value)
    dst.write_bytes(bytes(data))
    return dst


@needs_no_asan
def test_kv_cache_out_of_memory_is_a_clear_error(tmp_path: Path) -> None:
    # n_ctx 2^22 (the largest accepted) needs 2 x 1 GiB of cache for this model.
    small = write_tiny_llama(tmp_path / "m.gguf", ctx=64)
    huge_ctx = write_tiny_llama(tmp_path / "long.gguf", ctx=2**30)  # the file's own context, clamped to 2^22
    (k1, t1), (k2, t2), (k3, t3) = run_under_address_limit(
        [("model", small, 2**22), ("model", huge_ctx, 0), ("model", small, 64)])
    for kind, text in ((k1, t1), (k2, t2)):
        assert kind == "QuantxError", text
        assert "out of memory allocating the KV cache" in text and "for n_ctx 4194304" in text, text
        assert "use a smaller context" in text
    assert k3 == "ok", t3  # the same limit leaves room for a normal context
    # The CLI reports it the same way, without a traceback.
    r = _run_cli_limited(["-m", "quantx.cli.run", str(small), "-p", "hi", "-c", str(2**22), "-n", "1"])
    assert r.returncode == 1, r.stderr
    assert "quantx-run: error: out of memory allocating the KV cache" in r.stderr
    assert "Traceback" not in r.stderr


def _run_cli_limited(args: list[str]) -> subprocess.CompletedProcess:
    # The interpreter's own start-up fits easily in 1 GiB of address space beyond a bare python.
    code = ("import resource, runpy, sys\n"
            "import quantx\n"
            "vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize:')).split()[1]) * 1024\n"
            f"resource.setrlimit(resource.RLIMIT_AS, (vm + {HEADROOM}, vm + {HEADROOM}))\n"
            "sys.argv = ['quantx-run'] + sys.argv[3:]\n"
            "from quantx.cli.run import main\n"
            "sys.exit(main())\n")
    return subprocess.run([sys.executable, "-c", code] + args, capture_output=True, text=True, timeout=120)


def test_n_ctx_beyond_the_runtime_limit_is_refused(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", ctx=64)
    with pytest.raises(quantx.QuantxError, match="n_ctx out of range: 4194305"):
        quantx.Model(p, threads=1, n_ctx=2**22 + 1)
    r = subprocess.run([sys.executable, "-m", "quantx.cli.run", str(p), "-p", "hi", "-c", str(2**40)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "n_ctx out of range: 1099511627776" in r.stderr and "Traceback" not in r.stderr


def test_context_longer_than_the_model_limit_is_refused(tmp_path: Path) -> None:
    p = write_tiny_llama(tmp_path / "m.gguf", ctx=32)
    m = quantx.Model(p, threads=1)
    assert m.n_ctx == 32
    ids = m.tokenize("z" * 32)  # one token per byte (no merges, no BOS): exactly the context
    assert len(ids) == 32
    with pytest.raises(quantx.QuantxError, match="context overflow: 0 tokens in the cache \\+ 33 new exceed"):
        m.eval(ids + [ids[-1]])
    assert m.n_past == 0  # refused before touching the cache
    # Filling it step by step: the last fitting token works, the next is refused.
    m.eval(ids)
    assert m.n_past == 32
    with pytest.raises(quantx.QuantxError, match="context overflow: 32 tokens in the cache \\+ 1 new exceed"):
        m.eval(ids[:1])
    # Generation stops at the end of the context instead of failing.
    pieces = list(m.generate("ab", max_tokens=1000, temperature=0.0))
    assert m.n_past == 32 and pieces
    # The CLI: a prompt that does not fit is one clear line on stderr.
    r = subprocess.run([sys.executable, "-m", "quantx.cli.run", str(p), "-p", "y" * 100, "-n", "4"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "quantx-run: error: prompt of 100 tokens does not fit the context of 32 tokens" in r.stderr
    assert "Traceback" not in r.stderr


def test_sigint_during_generation_stops_cleanly(smollm2_q41: Path) -> None:
    # Greedy from this prompt runs to the 300-token limit (it never emits EOS early).
    proc = subprocess.Popen([sys.executable, "-u", "-m", "quantx.cli.run", str(smollm2_q41), "-p", "Once upon a time",
                             "-n", "300", "-t", "1", "--temp", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    got = b""
    while len(got) < 40:  # a few tokens streamed: it is inside the generation loop
        chunk = proc.stdout.read1(64)
        assert chunk, proc.communicate()[1]
        got += chunk
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    text = err.decode()
    assert proc.returncode == 130, text
    assert "quantx-run: interrupted" in text and "Traceback" not in text
    assert (got + out).endswith(b"\n")  # the partial text is flushed and terminated
    assert len(got + out) < 1000  # stopped early: the full 300 tokens are ~1400 bytes
    assert "generated" not in text  # no timings line: it stopped, it did not finish


def test_sigint_after_the_work_is_done_is_quiet(tmp_path: Path) -> None:
    # A Ctrl-C racing with the end of a run (here: delivered from an atexit hook, while
    # the interpreter shuts down) must not print a KeyboardInterrupt traceback.
    p = write_tiny_llama(tmp_path / "m.gguf", ctx=32)
    code = ("import atexit, os, runpy, signal, sys\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
            "sys.argv = ['quantx-run'] + sys.argv[1:]\n"
            "runpy.run_module('quantx.cli.run', run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", code, str(p), "-p", "ab", "-n", "2"], capture_output=True, text=True,
                       timeout=60)
    assert "generated" in r.stderr  # the run itself finished
    assert "KeyboardInterrupt" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert r.returncode == -signal.SIGINT  # ended by the signal's default action


_KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from quantx.convert.safe_output import temp_output
    with temp_output(Path(sys.argv[1])) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"GGUF" + b"\\0" * 100000)
            f.flush()
            print(tmp, flush=True)
            time.sleep(120)
""")


def test_sigkilled_converter_leaves_a_temp_that_the_next_run_removes(tiny_llama_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.gguf"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    temp = Path(proc.stdout.readline().strip())
    assert temp.parent == tmp_path and temp.stat().st_size == 100004
    proc.kill()
    proc.wait(timeout=30)
    # SIGKILL cannot be caught: the half-written temp stays, the output never appeared.
    assert [p.name for p in tmp_path.iterdir()] == [temp.name]
    r = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--outtype", "f32"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]
    assert quantx.Model(out, threads=1).n_vocab > 0  # the new output is complete


@pytest.mark.parametrize("sigxfsz", ["ignored", "default"])
def test_disk_full_gives_a_clear_error_and_leaves_nothing(tiny_llama_dir: Path, tmp_path: Path, sigxfsz: str) -> None:
    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # the output is ~1.4 MB
        if sigxfsz == "ignored":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    out = tmp_path / "model.gguf"
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--outtype", "f32",
                        "--quiet"], capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert f"quantx-convert: error: could not write {out}" in r.stderr
    assert "file size limit" in r.stderr and "no output was written" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []
    assert time.monotonic() - t0 < 300
    # Without the limit the same conversion succeeds.
    r = subprocess.run([sys.executable, "-m", "quantx.cli.convert", str(tiny_llama_dir), str(out), "--outtype", "f32",
                        "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and out.stat().st_size > 200_000
