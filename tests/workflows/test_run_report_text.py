"""How the printed report shows a McNemar p-value."""

from __future__ import annotations

from workflows.run_report import _p_value_text


def test_it_prints_a_tiny_p_value_as_a_bound_not_as_zero():
    assert _p_value_text(3e-26) == "p < 0.0001"
    assert _p_value_text(0.00012) == "p = 0.0001"
    assert _p_value_text(0.2) == "p = 0.2000"
