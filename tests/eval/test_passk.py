"""pass^k against values worked out by hand from tau-bench's definition."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from errand.eval.passk import pass_hat_k, task_pass_hat_k


def test_one_task_is_c_choose_k_over_n_choose_k() -> None:
    assert task_pass_hat_k(3, 5, 2) == pytest.approx(3 / 10)  # C(3,2)=3, C(5,2)=10
    assert task_pass_hat_k(4, 4, 4) == 1.0
    assert task_pass_hat_k(2, 5, 3) == 0.0  # fewer successes than k: no all-success draw
    assert task_pass_hat_k(4, 6, 3) == pytest.approx(4 / 20)  # C(4,3)=4, C(6,3)=20


def test_the_suite_value_is_the_mean_over_tasks() -> None:
    counts = [(5, 5), (0, 5), (3, 5)]
    assert pass_hat_k(counts, 1) == pytest.approx((1 + 0 + 0.6) / 3)
    assert pass_hat_k(counts, 3) == pytest.approx((1 + 0 + 1 / 10) / 3)  # C(3,3)/C(5,3) = 1/10
    assert pass_hat_k(counts, 5) == pytest.approx(1 / 3)


def test_pass_hat_k_is_not_the_chance_that_one_of_k_passes() -> None:
    # pass@k (some attempt succeeds) would be 1 - C(2,2)/C(4,2) = 5/6; pass^k is C(2,2)/C(4,2) = 1/6.
    assert task_pass_hat_k(2, 4, 2) == pytest.approx(1 / 6)


def test_too_few_attempts_or_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3 attempts"):
        task_pass_hat_k(1, 2, 3)
    with pytest.raises(ValueError, match="successes"):
        task_pass_hat_k(4, 3, 1)
    with pytest.raises(ValueError, match="k must"):
        task_pass_hat_k(1, 1, 0)
    assert pass_hat_k([], 2) == 0.0


@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_pass_hat_k_never_rises_with_k(case: tuple[int, int]) -> None:
    c, n = case
    values = [task_pass_hat_k(c, n, k) for k in range(1, n + 1)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[0] == pytest.approx(c / n)
