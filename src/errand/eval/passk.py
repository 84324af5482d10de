"""pass^k as tau-bench defines it: the chance that k independent attempts at a task all succeed.

With n >= k attempts per task and c successes, the unbiased estimate for one task is
C(c, k) / C(n, k) (drawing k of the n attempts without replacement, all must be
successes); the suite's pass^k is the mean over tasks. pass^1 is the plain success
rate; pass^k falls as k grows unless the agent is reliable, which is the point.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import comb


def task_pass_hat_k(successes: int, attempts: int, k: int) -> float:
    """C(c, k) / C(n, k) for one task with ``successes`` of ``attempts``."""
    if k < 1:
        raise ValueError("k must be at least 1")
    if attempts < k:
        raise ValueError(f"pass^{k} needs at least {k} attempts per task, got {attempts}")
    if not 0 <= successes <= attempts:
        raise ValueError(f"successes must be between 0 and {attempts}, got {successes}")
    return comb(successes, k) / comb(attempts, k)


def pass_hat_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """The mean of `task_pass_hat_k` over tasks given as (successes, attempts); 0 for no tasks."""
    values = [task_pass_hat_k(c, n, k) for c, n in counts]
    return sum(values) / len(values) if values else 0.0
