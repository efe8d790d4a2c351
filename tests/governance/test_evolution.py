"""Evolution speed on a constructed lineage whose rates are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from kb.lineage.evolution import Step, days_between, edge_steps, speed_rows


def test_rates_by_hand():
    vectors = {"r": np.zeros(2), "a": np.array([3.0, 4.0]), "b": np.array([3.0, 4.0 + 10.0]),
               "q": np.array([3.0, 4.0]), "x": np.ones(2)}
    released = {"r": "2023-01-01", "a": "2024-01-01", "b": "2024-07-02", "q": "2024-01-01", "n": None, "x": "2025-01-01"}
    family = {"a": "F", "b": "F", "q": "F", "n": "F", "x": "G"}
    pairs = [("a", "r"), ("b", "a"), ("q", "a"), ("n", "a"), ("x", "missing")]
    steps = {s.child: s for s in edge_steps(pairs, family, released, vectors)}
    assert steps["a"].days == 365 and steps["a"].rate == pytest.approx(5.0 / (365 / 365.25))
    assert steps["b"].days == 183 and steps["b"].rate == pytest.approx(10.0 / (183 / 365.25))
    assert steps["q"].days == 0 and not steps["q"].dated and steps["q"].rate is None  # same day: no rate
    assert steps["n"].days is None and steps["n"].distance is None
    assert steps["x"].distance is None and steps["x"].days is None
    rows = speed_rows(steps.values(), {"F": "r"})
    f = next(r for r in rows if r["family"] == "F")
    rates = sorted([steps["a"].rate, steps["b"].rate])
    assert f == {"family": "F", "root": "r", "edges": 4, "dated_edges": 2, "median_days": 274.0,
                 "dna_edges": 2, "median_rate": pytest.approx(sum(rates) / 2),
                 "q25_rate": pytest.approx(rates[0] + 0.25 * (rates[1] - rates[0])),
                 "q75_rate": pytest.approx(rates[0] + 0.75 * (rates[1] - rates[0]))}
    g = next(r for r in rows if r["family"] == "G")
    assert g["dated_edges"] == 0 and g["median_rate"] is None and g["median_days"] is None and g["root"] is None


def test_backdated_children_give_no_rate():
    assert days_between("2024-05-01", "2024-04-01") == -30
    step = Step("c", "p", "F", -30, 1.0)
    assert not step.dated and step.rate is None
    assert days_between(None, "2024-01-01") is None
