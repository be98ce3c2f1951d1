"""The Python API as users script it (issue 38): the README's example runs as printed; a script that starts
segment workers without the ``__main__`` guard stops at once with one line naming it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import Clip, make_clip

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_example() -> str:
    text = README.read_text()
    start = text.index("```python\n") + len("```python\n")
    return text[start:text.index("```", start)]


def test_the_readme_python_example_runs_as_printed(tmp_path):
    (tmp_path / "example.py").write_text(_readme_example())
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert {"out.mp4", "out_j.mp4", "upscaled"} <= {p.name for p in tmp_path.iterdir()}
    assert (tmp_path / "upscaled" / "in.mp4").is_file()


UNGUARDED = """
from rtsr import Upscaler
up = Upscaler(model="fsrcnn", scale=2, engine="cpu", weights={weights!r})
up.upscale_video("in.mp4", "out.mkv", jobs=2, segment_seconds=0.5)
"""


def test_workers_without_the_main_guard_stop_at_once_naming_it(tmp_path, random_weights):
    make_clip(tmp_path / "in.mp4", Clip(width=64, height=48, frames=24,
                                        extra_options={"x264-params": "keyint=6:min-keyint=6"}))
    (tmp_path / "script.py").write_text(UNGUARDED.format(weights=str(random_weights("fsrcnn", 2))))
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rtsr.errors.RtsrError: segment workers start with multiprocessing's spawn") \
        and 'if __name__ == "__main__":' in last, result.stderr
    assert "out of memory" not in result.stderr and result.stderr.count("Traceback") == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "script.py"]  # no output, no work folder
