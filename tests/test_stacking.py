"""The stacking weight between the learned calibration and the fixed extremized crowd."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecast.skill.stacking import Weight, pool, stacking_weight


def train(cal, ext, y, keys=None) -> pd.DataFrame:
    n = len(y)
    return pd.DataFrame(
        {"key": keys or [f"q{i}" for i in range(n)], "y": y, "calibrated": cal, "extremized": ext}
    )


def test_no_earlier_question_gives_an_even_pool():
    assert stacking_weight(train([], [], [])) == Weight(0.5, 0.5, 0.5, 0)
    only_calibrated = train([0.3], [np.nan], [1.0])  # no crowd: nothing to weigh
    assert stacking_weight(only_calibrated).n == 0


def test_the_weight_follows_the_better_forecast():
    y = [1.0, 0.0] * 10
    good = [0.9 if v else 0.1 for v in y]
    poor = [0.6 if v else 0.4 for v in y]
    w = stacking_weight(train(good, poor, y))
    assert w.mean > 0.8 and w.n == 20
    assert w.lower <= w.mean <= w.upper
    assert stacking_weight(train(poor, good, y)).mean < 0.2
    # the Beta(2, 2) prior keeps the weight inside (0, 1) and near 1/2 with one question
    one = stacking_weight(train([0.9], [0.6], [1.0]))
    assert 0.5 < one.mean < 1.0


def test_each_question_counts_once_however_many_origins_it_has():
    # question a (calibration right) forecast at 9 origins, b and c (extremized right) at one each
    keys = ["a"] * 9 + ["b", "c"]
    y = [1.0] * 9 + [0.0, 0.0]
    cal = [0.9] * 9 + [0.9, 0.9]
    ext = [0.6] * 9 + [0.1, 0.1]
    per_row = stacking_weight(train(cal, ext, y, keys=[f"r{i}" for i in range(11)]))
    per_question = stacking_weight(train(cal, ext, y, keys=keys))
    assert per_question.mean < per_row.mean  # a's 9 origins no longer outvote b and c


def test_the_interval_is_seeded():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 30).astype(float)
    cal, ext = rng.uniform(0.05, 0.95, 30), rng.uniform(0.05, 0.95, 30)
    t = train(list(cal), list(ext), list(y))
    assert stacking_weight(t, seed=3) == stacking_weight(t, seed=3)
    assert stacking_weight(t, seed=3, n_boot=50).n == 30


def test_pool_mixes_where_there_is_a_crowd():
    cal = pd.Series([0.2, 0.4, 0.6])
    ext = pd.Series([0.1, np.nan, 0.9])
    got = pool(cal, ext, pd.Series([0.5, 0.5, 0.25]))
    assert list(got) == pytest.approx([0.15, 0.4, 0.825])
