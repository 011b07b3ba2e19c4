"""A disk cache for the data-free calibration text.

Writing 128 sequences of 512 tokens with SmolLM2-135M takes 3 to 4 minutes on 2 CPU cores, about
a third of a default conversion, and the text depends only on the model's weights and the
generation settings. A user who converts the same model again (another --bpw, --recipe or
--act) gets the same tokens from the cache, so the same file as without it, that much sooner.

The key hashes every tensor of the loaded model (names, shapes, dtypes, bytes), the generation
settings, and the torch and transformers versions (sampling and generate() may change between
releases). Entries are .npy files written atomically; an entry that does not read back as the
expected token matrix is ignored and replaced.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .calibration import CalibrationSet, calibration_from_model, self_generated_set

KEY_VERSION = 2  # bump when the generation procedure changes in a way the key does not see


def default_cache_dir(environ: dict[str, str] | os._Environ = os.environ) -> Path:
    """$QUANTX_CACHE_DIR, else $XDG_CACHE_HOME/quantx, else ~/.cache/quantx."""
    if environ.get("QUANTX_CACHE_DIR"):
        return Path(environ["QUANTX_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "quantx"


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over the model's tensors in name order (tied weights counted once per name)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}\n".encode())
        # hashed through the buffer protocol: a bytes copy of each tensor (the embedding is
        # 113 MB in SmolLM2) would raise the conversion's peak for nothing
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


@dataclass(frozen=True)
class GenerationSettings:
    n_samples: int
    seq_len: int
    seed: int
    greedy_prefix: int = 3
    batch_size: int = 32


def cache_key(fingerprint: str, settings: GenerationSettings) -> str:
    import transformers

    desc = {"v": KEY_VERSION, "model": fingerprint, "torch": torch.__version__,
            "transformers": transformers.__version__, **settings.__dict__}
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:32]


def load_tokens(path: Path, settings: GenerationSettings, vocab_size: int) -> torch.Tensor | None:
    """The cached token matrix, or None if missing or not what these settings would generate."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if (arr.dtype != np.int64 or arr.shape != (settings.n_samples, settings.seq_len)
            or (arr.size and (arr.min() < 0 or arr.max() >= vocab_size))):
        return None
    return torch.from_numpy(arr.copy())


def store_tokens(path: Path, ids: torch.Tensor) -> None:
    """Write atomically: a concurrent reader sees the old entry or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, ids.numpy().astype(np.int64), allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class CachedCalibration:
    calibration: CalibrationSet
    path: Path  # the cache entry
    reused: bool  # read from the cache rather than generated
    store_error: str | None = None  # why a generated set could not be cached


def cached_calibration_from_model(model, cache_dir: Path, settings: GenerationSettings,
                                  progress: Callable[[int, int], None] | None = None) -> CachedCalibration:
    """calibration_from_model(), reading the tokens from cache_dir when this model with these
    settings generated them before, and storing them there otherwise. A cache directory that
    cannot be written costs the reuse, never the conversion."""
    path = Path(cache_dir) / f"calib-{cache_key(model_fingerprint(model), settings)}.npy"
    ids = load_tokens(path, settings, model.config.vocab_size)
    if ids is not None:
        return CachedCalibration(self_generated_set(ids, settings.seed), path, reused=True)
    cal = calibration_from_model(model, settings.n_samples, settings.seq_len, settings.seed,
                                 settings.greedy_prefix, settings.batch_size, progress)
    try:
        store_tokens(path, cal.input_ids)
    except OSError as e:
        return CachedCalibration(cal, path, reused=False, store_error=str(e))
    return CachedCalibration(cal, path, reused=False)
