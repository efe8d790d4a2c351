"""The dry run's time estimate: a short run of the model itself, scaled to the protocol."""

from __future__ import annotations

import pytest

from ingest.calibrate import SAMPLE_TEXTS, Calibration, calibrate


def test_the_estimate_scales_with_probes_tokens_and_texts():
    cal = Calibration(load_s=2.0, per_probe_token_s=0.01, per_text_s=0.5, per_probe_s=0.1)
    assert cal.seconds(0, 64, 0) == 2.0
    assert cal.seconds(600, 64, 64) == 2.0 + 600 * (0.1 + 64 * 0.01) + 64 * 0.5
    # the prefill is paid once per probe, whatever the budget
    assert cal.seconds(600, 128, 0) - cal.seconds(600, 64, 0) == pytest.approx(600 * 64 * 0.01)


def test_a_real_model_is_timed_through_its_own_backend(tiny_llama):
    cal = calibrate(tiny_llama, ["Once upon a time", "The capital of France is"] * 8, 16,
                    ["A short text to score."] * (max(SAMPLE_TEXTS) + 2))
    assert cal.load_s > 0 and cal.per_probe_token_s > 0 and cal.per_text_s > 0
    assert cal.seconds(600, 64, 64) > cal.seconds(100, 64, 64) > cal.load_s
