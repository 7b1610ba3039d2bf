"""Scores against values computed by hand, the seeded clustered bootstrap, and reliability bins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecast.skill.scoring import brier, clustered_difference, log_loss, reliability


def test_brier_by_hand():
    # (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 = 0.01 + 0.04 + 0.36 = 0.41; / 3
    assert brier([0.9, 0.2, 0.6], [1, 0, 0]) == pytest.approx(0.41 / 3)
    assert brier([1.0, 0.0], [1, 0]) == 0.0
    assert brier([0.5] * 4, [1, 0, 1, 1]) == pytest.approx(0.25)


def test_log_loss_by_hand():
    # -(ln 0.8 + ln 0.75) / 2
    assert log_loss([0.8, 0.25], [1, 0]) == pytest.approx(-(math.log(0.8) + math.log(0.75)) / 2)
    assert log_loss([0.5], [1]) == pytest.approx(math.log(2))


def test_log_loss_clips_certain_mistakes():
    assert log_loss([0.0], [1]) == pytest.approx(-math.log(1e-3))
    assert log_loss([1.0], [0]) == pytest.approx(-math.log(1e-3))


def test_bootstrap_is_seeded_and_brackets_the_difference():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    a = np.clip(y * 0.8 + 0.1 + rng.normal(0, 0.05, 60), 0, 1)
    b = np.full(60, 0.5)
    q = np.arange(60)
    d1 = clustered_difference(a, b, y, q, n=500, seed=3)
    d2 = clustered_difference(a, b, y, q, n=500, seed=3)
    d3 = clustered_difference(a, b, y, q, n=500, seed=4)
    assert d1 == d2
    assert d1 != d3
    value, lo, hi = d1["value"], d1["lower"], d1["upper"]
    assert value == pytest.approx(brier(a, y) - brier(b, y))
    assert lo < value < hi < 0  # a is much better than 0.5 on every resample


def test_reliability_bins_by_hand():
    table = reliability([0.05, 0.15, 0.95, 0.9, 0.5], [0, 1, 1, 0, 1], bins=5)
    assert list(table["n"]) == [2, 0, 1, 0, 2]
    first = table.iloc[0]
    assert first["mean_forecast"] == pytest.approx(0.1) and first["observed"] == pytest.approx(0.5)
    last = table.iloc[4]
    assert last["mean_forecast"] == pytest.approx(0.925) and last["observed"] == pytest.approx(0.5)
    assert np.isnan(table.iloc[1]["observed"])
