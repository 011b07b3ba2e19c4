"""Mixed precision to a bit budget: choose one option per tensor minimising the estimated damage.

Each tensor has options (a format with its size in bits and an estimated end-to-end damage,
e.g. its sensitivity times its relative output error). The problem is a multiple-choice
knapsack; the greedy on each tensor's lower convex hull (take, over all tensors, the upgrade
with the most damage removed per extra bit that still fits) is optimal for the Lagrangian
relaxation and within one upgrade of the optimum, which at hundreds of tensors is noise.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    name: str      # format, e.g. "QX3_U"
    bits: float    # total bits of the tensor in this format
    damage: float  # estimated damage (lower is better), >= 0


@dataclass
class Allocation:
    choice: dict[str, str]  # tensor -> option name
    bits: float
    damage: float


def _hull(options: list[Option]) -> list[Option]:
    """Options on the lower convex hull of (bits, damage), by increasing bits; dominated ones dropped."""
    pts = sorted(options, key=lambda o: (o.bits, o.damage))
    frontier: list[Option] = []
    for o in pts:
        if frontier and o.damage >= frontier[-1].damage:
            continue  # more bits, no less damage
        frontier.append(o)
    hull: list[Option] = []
    for o in frontier:
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b is above the segment a-o: upgrading a->o directly is at least as efficient.
            if (b.damage - a.damage) * (o.bits - a.bits) >= (o.damage - a.damage) * (b.bits - a.bits):
                hull.pop()
            else:
                break
        hull.append(o)
    return hull


def allocate(options: dict[str, list[Option]], budget_bits: float) -> Allocation:
    """Pick one option per tensor with total bits <= budget_bits and small total damage.

    Raises ValueError when even the cheapest option of every tensor exceeds the budget."""
    hulls = {t: _hull(opts) for t, opts in options.items()}
    for t, h in hulls.items():
        if not h:
            raise ValueError(f"tensor {t} has no options")
    pos = {t: 0 for t in hulls}
    bits = sum(h[0].bits for h in hulls.values())
    if bits > budget_bits * (1 + 1e-12):
        raise ValueError(f"the cheapest formats already need {bits:.0f} bits, more than the budget {budget_bits:.0f}")
    while True:
        best_t, best_eff = None, 0.0
        for t, h in hulls.items():
            i = pos[t]
            if i + 1 >= len(h):
                continue
            db = h[i + 1].bits - h[i].bits
            if bits + db > budget_bits:
                continue
            eff = (h[i].damage - h[i + 1].damage) / db
            if eff > best_eff:
                best_t, best_eff = t, eff
        if best_t is None:
            break
        h = hulls[best_t]
        bits += h[pos[best_t] + 1].bits - h[pos[best_t]].bits
        pos[best_t] += 1
    choice = {t: hulls[t][pos[t]].name for t in hulls}
    return Allocation(choice, bits, sum(hulls[t][pos[t]].damage for t in hulls))
