"""The speed bench's bookkeeping (python/quantx/bench/speed.py): repetitions interleaved across
engines, the best of each kept, and the per-repetition ratios paired by repetition. Fake
runners with scripted times stand in for the engines, so the arithmetic is checked exactly."""
from __future__ import annotations

import pytest

from quantx.bench.speed import _measure, check_targets, format_ratio, paired_ratios, ratio_table


class _Scripted:
    """A runner whose pp/tg calls return the next scripted time and log the call order."""

    def __init__(self, engine: str, model: str, pp: list[float], tg: list[float], log: list[str]) -> None:
        self.engine, self.model = engine, model
        self._pp, self._tg, self._log = list(pp), list(tg), log

    def time_pp(self) -> float:
        self._log.append(f"{self.model} pp")
        return self._pp.pop(0)

    def time_tg(self) -> float:
        self._log.append(f"{self.model} tg")
        return self._tg.pop(0)

    def close(self) -> None:
        pass


def test_repetitions_interleave_and_ratios_pair_by_repetition() -> None:
    log: list[str] = []
    # The machine is slow in repetition 2 for both engines: the paired ratio stays 1.5x there,
    # while the ratio of the bests mixes repetitions (quantx's best in rep 1, llama.cpp's in rep 3).
    q = _Scripted("quantx", "smollm2-qx3_u.gguf", pp=[1.0, 2.0, 1.1], tg=[0.40, 0.80, 0.42], log=log)
    l = _Scripted("llama.cpp", "smollm2-q3_k_s.gguf", pp=[1.2, 2.4, 1.0], tg=[0.60, 1.20, 0.56], log=log)
    res = _measure([q, l], threads=1, pp=128, tg=64, reps=3)
    assert log == ["smollm2-qx3_u.gguf pp", "smollm2-qx3_u.gguf tg", "smollm2-q3_k_s.gguf pp",
                   "smollm2-q3_k_s.gguf tg"] * 3
    rq, rl = res
    assert rq.pp_seconds == [1.0, 2.0, 1.1] and rl.tg_seconds == [0.60, 1.20, 0.56]
    assert rq.pp_tps == pytest.approx(128 / 1.0) and rq.tg_tps == pytest.approx(64 / 0.40)
    assert rl.pp_tps == pytest.approx(128 / 1.0) and rl.tg_tps == pytest.approx(64 / 0.56)

    (row,) = ratio_table(res)
    assert row["tg_ratio"] == pytest.approx(0.56 / 0.40)                     # 1.40: best vs best
    assert paired_ratios(rq.tg_seconds, rl.tg_seconds) == pytest.approx([1.5, 1.5, 0.56 / 0.42])
    assert row["tg_ratio_median"] == pytest.approx(1.5)
    assert row["tg_ratio_range"] == pytest.approx([0.56 / 0.42, 1.5])
    assert row["pp_ratio_median"] == pytest.approx(1.2)                     # 1.2, 1.2, 0.909
    assert format_ratio(row, "tg") == "1.40x (per rep median 1.50x, 1.33-1.50x)"

    targets = {(c["metric"], c["llama.cpp"]): c for c in check_targets(res)}
    tg = targets[("tg", "Q3_K_S")]
    assert tg["ratio"] == pytest.approx(1.40) and tg["median"] == pytest.approx(1.5) and tg["met"]


def test_a_ratio_without_repetition_times_prints_the_plain_ratio() -> None:
    row = {"tg_ratio": 1.4449}
    assert format_ratio(row, "tg") == "1.44x"
    assert paired_ratios([0.0, 0.5], [1.0, 1.0]) == [2.0]  # a zero time is no sample
