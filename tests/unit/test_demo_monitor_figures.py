"""The demo's monitoring lines: each figure printed, "-" where there is none, and the
shadow's line only when the demo ran a shadow."""

from __future__ import annotations

from streaming.tools.demo_monitor import print_figures

FIGURES = {
    "db": "sqlite:///m.db",
    "window_s": 5,
    "windows": 2,
    "rides_started": 301,
    "predictions": 300,
    "dead_letters": 3,
    "finished_joined": 300,
    "finished_sent": 300,
    "rmse": 4.0012,
    "mae": 2.594,
    "max_window_psi": 0.4561,
}


def lines(capsys, figures):
    print_figures(figures)
    return capsys.readouterr().out.splitlines()


def test_the_champions_figures_and_no_shadow_line_without_a_shadow(capsys):
    out = lines(capsys, FIGURES)
    assert "RMSE / MAE            4.00 min / 2.59 min (over every window's finished rides)" in out
    assert "highest window PSI    0.456 (alarm above 0.2; small windows are noisy)" in out
    assert not [line for line in out if line.startswith("shadow")]


def test_the_shadows_line_and_a_dash_for_a_figure_there_is_none_of(capsys):
    shadow = {"rides": 300, "rmse": 4.3712, "mae": None}
    out = lines(capsys, FIGURES | {"max_window_psi": None, "shadow": shadow})
    assert "shadow RMSE / MAE     4.37 min / - (300 finished rides joined)" in out
    assert "highest window PSI    - (alarm above 0.2; small windows are noisy)" in out
