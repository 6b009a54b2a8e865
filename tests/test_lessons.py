"""Every lesson runs to the end in quick mode: lessons/NN_*.py as a script, exit code 0.

Each lesson ends with asserts on what it printed, so a lesson that runs is a
lesson whose numbers still hold.  New lessons are picked up by their file name.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
TAIL = 3000   # characters of output shown when a lesson fails


@pytest.mark.parametrize("lesson", LESSONS, ids=[path.stem for path in LESSONS])
def test_lesson_runs_in_quick_mode(lesson):
    env = dict(os.environ, LSTM_NUMPY_QUICK="1", MPLBACKEND="Agg")
    # The repository root first, so the lesson imports this checkout of lstm_numpy
    # even when it is not installed; the lesson's own folder is added by Python.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, str(lesson.relative_to(ROOT))], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"{lesson.name} exited with {result.returncode}\n"
        f"--- stdout (tail) ---\n{result.stdout[-TAIL:]}\n--- stderr (tail) ---\n{result.stderr[-TAIL:]}")
