"""The value score that ranks homes, and the chart that shows why.

The score is a weighted sum of five parts, each scaled to 0..1, so a person (or a
small model) can read the formula once and explain any ranking from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WEIGHTS = {"value": 40, "school": 25, "school_near": 15, "metro_near": 10, "newness": 10}
"""Points each part can add; they sum to 100."""
CURRENT_YEAR = 2026
"""Year the building age is measured from (the seed's year, so scores never drift)."""
NEAR_M = 2000
"""Distance at which the school and metro parts reach zero."""
AGE_YEARS = 30
"""Building age at which the newness part reaches zero."""

SCORE_FORMULA = (
    "score 0-100 = 40*value + 25*school_rating/10 + 15*school_near + 10*metro_near + 10*newness;"
    " value = 0.5+2.5*(1-price_per_m2/area_avg), near = 1-metres/2000, newness = 1-age/30y,"
    " each clipped to 0..1"
)
"""The formula in one line, returned with every ranking."""


@dataclass(frozen=True)
class Candidate:
    """One home as the score sees it; money in whole currency units."""

    id: str
    neighbourhood: str
    price: int
    area_m2: float
    school_rating: int
    school_distance_m: int
    metro_distance_m: int
    year_built: int
    area_avg_per_m2: int
    """Average asking price per m² of active homes in the same neighbourhood."""

    @property
    def price_per_m2(self) -> int:
        """Asking price per square metre, rounded to a whole unit."""
        return round(self.price / self.area_m2)

    @property
    def vs_area_pct(self) -> float:
        """How far the price per m² is above (+) or below (-) the neighbourhood average."""
        return round((self.price_per_m2 / self.area_avg_per_m2 - 1) * 100, 1)


def _clip(x: float) -> float:
    return min(max(x, 0.0), 1.0)


def score_parts(c: Candidate) -> dict[str, float]:
    """Each part of the score, scaled to 0..1."""
    return {
        "value": _clip(0.5 + 2.5 * (1 - c.price_per_m2 / c.area_avg_per_m2)),
        "school": _clip(c.school_rating / 10),
        "school_near": _clip(1 - c.school_distance_m / NEAR_M),
        "metro_near": _clip(1 - c.metro_distance_m / NEAR_M),
        "newness": _clip(1 - (CURRENT_YEAR - c.year_built) / AGE_YEARS),
    }


def score(c: Candidate) -> float:
    """The value score from 0 to 100 (higher is better value), one decimal."""
    parts = score_parts(c)
    return round(sum(WEIGHTS[k] * v for k, v in parts.items()), 1)


def why(c: Candidate) -> str:
    """One line a person can check: the facts behind the score."""
    pct = c.vs_area_pct
    side = "below" if pct < 0 else "above"
    return (
        f"{abs(pct):.0f}% {side} {c.neighbourhood} avg {c.area_avg_per_m2 / 1000:.1f}k/m²;"
        f" school {c.school_rating}/10 at {c.school_distance_m} m;"
        f" metro {c.metro_distance_m} m; built {c.year_built}"
    )


def rank(candidates: list[Candidate]) -> list[tuple[Candidate, float]]:
    """Candidates with their scores, best first (ties broken by id, so rankings are stable)."""
    scored = [(c, score(c)) for c in candidates]
    scored.sort(key=lambda cs: (-cs[1], cs[0].id))
    return scored


def save_chart(
    path: Path,
    candidates: list[Candidate],
    top_ids: list[str],
    city_avg_per_m2: int,
    title: str,
    currency: str,
) -> Path:
    """Bar per candidate (cheapest per m² first) against its neighbourhood average; top picks coloured.

    Drawn on an Agg canvas without pyplot: no display, and no global state shared
    between the worker threads that run tools.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ordered = sorted(candidates, key=lambda c: (c.price_per_m2, c.id))
    top = set(top_ids)
    xs = range(len(ordered))
    fig = Figure(figsize=(min(max(7.0, 0.28 * len(ordered)), 16.0), 5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(
        xs,
        [c.price_per_m2 / 1000 for c in ordered],
        color=["#e4572e" if c.id in top else "#b8c2cc" for c in ordered],
        width=0.8,
    )
    ax.scatter(
        xs,
        [c.area_avg_per_m2 / 1000 for c in ordered],
        marker="_",
        s=max(40, 2400 // max(len(ordered), 1)),
        linewidths=2,
        color="#222",
        zorder=3,
        label="neighbourhood average",
    )
    ax.axhline(
        city_avg_per_m2 / 1000,
        color="#2e86ab",
        linestyle="--",
        linewidth=1,
        label=f"city average {city_avg_per_m2 / 1000:.1f}k",
    )
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="#e4572e", label=f"top {len(top)} by value score"))
    if len(ordered) <= 40:
        ax.set_xticks(list(xs), [c.id for c in ordered], rotation=90, fontsize=7)
    else:
        ax.set_xticks([])
        for x, c in zip(xs, ordered, strict=True):
            if c.id in top:
                ax.annotate(
                    c.id,
                    (x, c.price_per_m2 / 1000),
                    xytext=(0, 3),
                    textcoords="offset points",
                    rotation=90,
                    fontsize=7,
                    ha="center",
                    va="bottom",
                )
    ax.set_ylabel(f"asking price, thousand {currency}/m²")
    ax.set_title(title, fontsize=10)
    ax.legend(handles=handles, fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
