"""Guards on the repository itself: no tracked text file over 1 MB (a bad replace once
pasted a paragraph between every character of a document, 8 MB)."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1024 * 1024


def tracked_files():
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], capture_output=True, cwd=ROOT, check=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing is tracked")
    return [ROOT / name for name in listed.stdout.decode().split("\0") if name]


def is_text(path):
    with open(path, "rb") as handle:
        return b"\0" not in handle.read(8192)


def test_no_tracked_text_file_is_over_1_mb():
    files = [path for path in tracked_files() if path.is_file()]
    assert files, "git lists the tracked files"
    too_big = [f"{path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)" for path in files
               if path.stat().st_size > LIMIT and is_text(path)]
    assert not too_big, f"tracked text files over 1 MB: {too_big}"


def test_the_guard_catches_a_big_text_file(tmp_path):
    big = tmp_path / "doc.md"
    big.write_text("x" * (LIMIT + 1))
    assert big.stat().st_size > LIMIT and is_text(big)
    assert not is_text(Path(__file__).parents[1] / "docs" / "results" / "conll2003_figures" / "conll2003-paper"
                       / "sensitivity_heatmap.png")


def test_the_lessons_pytorch_fixture_is_small():
    fixture = ROOT / "lessons" / "fixtures"
    assert sum(p.stat().st_size for p in fixture.iterdir() if p.is_file()) < 1_000_000
