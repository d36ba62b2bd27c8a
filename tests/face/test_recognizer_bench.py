"""The recognizer benchmark's statistics (bench/recognizers.py): AUC, separation at a threshold, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from bench.recognizers import auc, calibrate, separation


def test_auc_is_one_when_separable_half_when_tied_and_zero_when_inverted() -> None:
    same, different = np.array([0.1, 0.2]), np.array([0.5, 0.9, 1.0])
    assert auc(same, different) == 1.0
    assert auc(different, same) == 0.0
    assert auc(np.array([0.5, 0.5]), np.array([0.5])) == pytest.approx(0.5)
    # one inversion out of six pairs
    assert auc(np.array([0.1, 0.6]), np.array([0.5, 0.9, 1.0])) == pytest.approx(5 / 6)


def test_calibrated_threshold_keeps_the_false_match_rate() -> None:
    different = np.random.default_rng(0).uniform(0.3, 1.5, 10_000)
    threshold = calibrate(different, 1e-3)
    assert (different <= threshold).mean() <= 1e-3
    assert (different <= threshold).sum() == 10  # as high as the rate allows: exactly 10 of 10,000 under it
    assert calibrate(np.array([0.4, 0.8]), 1e-3) < 0.4  # too few pairs for the rate: under every one


def test_separation_counts_at_the_threshold() -> None:
    result = separation(np.array([0.2, 0.7]), np.array([0.5, 0.9, 1.0, 1.2]), 0.6)
    assert result["tmr"] == 0.5 and result["fmr"] == 0.25
    assert result["accuracy"] == pytest.approx(4 / 6)
