"""
The PINN examples in examples/ (issue 12, item 5), in a shortened mode: fewer
steps than their defaults, and the loss must have gone down. The inverse
problem also runs with its defaults and must find the true diffusivity. The
data-parallel example runs as a script, as a user starts it (two processes).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))  # the examples import each other by name

import heat  # noqa: E402
import inverse_diffusion  # noqa: E402
import poisson  # noqa: E402

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def check_trained(result, plot: Path, min_reduction: float) -> None:
    assert len(result.losses) > 0
    assert result.reduction >= min_reduction, result.losses
    assert 0 < result.error < 1
    assert plot.exists() == HAS_MATPLOTLIB


@pytest.mark.parametrize(
    ("example", "steps"),
    [(poisson, 300), (heat, 300), (inverse_diffusion, 300)],
    ids=["poisson", "heat", "inverse_diffusion"],
)
def test_example_lowers_the_loss(example, steps, tmp_path):
    plot = tmp_path / "loss.png"
    result = example.main(["--steps", str(steps), "--plot", str(plot)])
    assert len(result.losses) == steps
    check_trained(result, plot, min_reduction=2)


def test_poisson_with_a_compiled_training_step(tmp_path):
    plot = tmp_path / "loss.png"
    result = poisson.main(["--steps", "200", "--compile", "--plot", str(plot)])
    check_trained(result, plot, min_reduction=2)


def test_inverse_problem_finds_the_diffusivity(tmp_path):
    plot = tmp_path / "loss.png"
    result = inverse_diffusion.main(["--plot", str(plot)])  # the defaults
    check_trained(result, plot, min_reduction=10)
    assert result.extra["k_error"] < 0.05, result.extra["k"]


def test_data_parallel_example_runs_as_a_script(tmp_path):
    plot = tmp_path / "loss.png"
    command = [sys.executable, str(EXAMPLES / "ddp_poisson.py"), "--steps", "100"]
    done = subprocess.run(
        [*command, "--plot", str(plot)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "step 100/100" in done.stdout
    reduction = re.search(r"\((\d+)x lower\)", done.stdout)
    assert reduction is not None and int(reduction[1]) >= 2, done.stdout
    assert plot.exists() == HAS_MATPLOTLIB
