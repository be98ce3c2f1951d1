"""Every entry point over a hostile set of inputs (issue 38): an answer, or one line and a non-zero exit.

``rtsr``, ``check``, ``compare``, ``live``, ``bench --e2e`` and ``export --weights`` each get a clip
with no frame, one frame, audio only, a JPEG, a PNG, a 16-bit TIFF and a truncated clip, in this
process (fast; an exception escaping ``rtsr.cli.main`` is the traceback a user would see). Pipes
(standard input, a TS with ADTS AAC to standard output) run as real processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import Clip, make_clip, run_rtsr_here


def _pictures(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    bgr = cv2.GaussianBlur((rng.random((48, 64, 3)) * 255).astype(np.uint8), (5, 5), 0)
    cv2.imwrite(str(folder / "photo.jpg"), bgr)
    cv2.imwrite(str(folder / "photo.png"), bgr)
    cv2.imwrite(str(folder / "deep.tif"), bgr.astype(np.uint16) * 257)  # 16 bits per component
    return {"jpeg": folder / "photo.jpg", "png": folder / "photo.png", "tiff16": folder / "deep.tif"}


def _no_frames(path: Path) -> Path:
    """A Matroska file with a video stream's header and not one packet."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    clip = make_clip(folder / "clip.mkv", Clip(width=64, height=48, frames=6))
    truncated = folder / "truncated.mkv"
    truncated.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    return {"no frames": _no_frames(folder / "empty.mkv"),
            "one frame": make_clip(folder / "one.mp4", Clip(width=64, height=48, frames=1, audio=False)),
            "audio only": _audio_only(folder / "audio.m4a"), **_pictures(folder), "truncated": truncated}


def _commands(out: Path, weights: Path) -> dict[str, list[str]]:
    fast = ["--engine", "cpu"]
    return {
        "rtsr": ["{input}", "-o", str(out / "up.mkv"), "--scale", "2", "--overwrite", "--weights", str(weights), *fast],
        "check": ["check", "{input}", "--scale", "2", "--models", "fsrcnn", *fast],
        "compare": ["compare", "{input}", "-o", str(out / "c.png"), "--scale", "2", "--models", "fsrcnn",
                    "--overwrite", *fast],
        "live": ["live", "{input}", "--no-window", "-o", str(out / "live.mkv"), "--overwrite", "--duration", "2",
                 "--weights", str(weights), *fast],
        "bench": ["bench", "--e2e", "{input}", "--frames", "2", "--warmup", "0", "--no-stages", "--engines", "cpu",
                  "--scales", "2"],
        "export": ["export", "--weights", "{input}", "-o", str(out / "x.onnx"), "--overwrite"],
    }


def _run_in_process(argv: list[str]) -> tuple[int, str]:
    result = run_rtsr_here(*argv)
    return result.returncode, result.stderr


ENTRY_POINTS = ("rtsr", "check", "compare", "live", "bench", "export")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_answers_or_says_one_line(entry, hostile, random_weights, tmp_path):
    command = _commands(tmp_path, random_weights("fsrcnn", 2))[entry]
    outcomes = {}
    for name, path in hostile.items():
        code, stderr = _run_in_process([str(path) if arg == "{input}" else arg for arg in command])
        errors = [line for line in stderr.splitlines() if line.startswith("rtsr: error:")]
        assert "Traceback" not in stderr, (entry, name, stderr)
        assert code == 0 and not errors or code != 0 and len(errors) == 1, (entry, name, code, stderr)
        outcomes[name] = code
    if entry == "export":  # none of these is a weights file
        assert set(outcomes.values()) == {1}
    else:  # a picture or a one-frame clip is an input like any other; the rest are not
        assert {n for n, c in outcomes.items() if c == 0} == {"one frame", "jpeg", "png", "tiff16", "truncated"}, \
            outcomes


def test_check_on_a_picture_talks_of_a_picture_and_recommends_one(hostile):
    result = run_rtsr_here("check", hostile["jpeg"], "--scale", "2", "--models", "fsrcnn", "--engine", "cpu")
    text = result.stdout
    assert result.returncode == 0
    assert "mjpeg picture" in text and "self-downscale test on the picture" in text, text
    assert "fps" not in text and "real time" not in text and "--jobs" not in text, text
    assert f"-o {hostile['jpeg'].with_name('photo_x2.png')}" in text, text


def test_an_empty_file_is_said_to_end_before_its_first_frame(hostile):
    code, stderr = _run_in_process(["check", str(hostile["no frames"])])
    assert code == 1 and "ends before its first frame" in stderr, stderr


def _rtsr_process(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rtsr", *args], input=stdin, capture_output=True, timeout=180)


def test_a_ts_with_adts_aac_streams_to_standard_output(tmp_path, random_weights):
    """Matroska cannot start a stream with ADTS AAC (no global header) on a pipe: MPEG-TS is written instead."""
    clip = make_clip(tmp_path / "clip.ts", Clip(width=64, height=48, frames=6))
    with av.open(str(clip)) as container:
        assert container.streams.audio[0].codec_context.extradata is None  # ADTS, as broadcast TS carries
    result = _rtsr_process([str(clip), "-o", "-", "--scale", "2", "--engine", "cpu",
                            "--weights", str(random_weights("fsrcnn", 2))])
    assert result.returncode == 0, result.stderr.decode()
    assert b"MPEG-TS to standard output" in result.stderr
    piped = tmp_path / "piped.ts"
    piped.write_bytes(result.stdout)
    with av.open(str(piped)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert len(list(container.decode(video=0))) == 6


def test_a_picture_and_audio_only_on_standard_input(hostile, random_weights):
    weights = ["--scale", "2", "--engine", "cpu", "--weights", str(random_weights("fsrcnn", 2))]
    for name in ("png", "audio only"):
        result = _rtsr_process(["-", "-o", "-", *weights], stdin=hostile[name].read_bytes())
        stderr = result.stderr.decode()
        assert "Traceback" not in stderr, (name, stderr)
        if name == "audio only":
            assert result.returncode == 1 and stderr.count("rtsr: error:") == 1, stderr
        else:
            assert result.returncode == 0 and result.stdout, (name, stderr)


def test_small_words_are_right():
    from rtsr.io.degradation import judge_codec
    from rtsr.report import Report

    engines = run_rtsr_here("engines")
    assert engines.returncode == 1 and "name an action: list" in engines.stderr and "build" in engines.stderr \
        and "(see rtsr engines --help)" in engines.stderr
    assert "wrapped_avframe" not in judge_codec("wrapped_avframe", None).reason  # live's lavfi sources
    one = Report(source="a", output="b", model="fsrcnn", scale=2, engine="cpu", frames=1, wall_seconds=1.0,
                 input_size=(4, 4), output_size=(8, 8)).summary()
    assert one.startswith("1 frame 4×4") and "1 frames" not in one


def test_a_compressed_input_measures_the_engine_once_for_the_weights_that_run(tmp_path, clip_factory):
    src = clip_factory("in.mp4", width=96, height=64, frames=4, audio=False, extra_options={"crf": "40"})
    result = run_rtsr_here(src, "-o", tmp_path / "out.mkv", "--scale", "2", "--engine-dir", tmp_path / "engines")
    assert result.returncode == 0, result.stderr
    measured = [line for line in result.stderr.splitlines() if line.startswith("rtsr: info: engine:")]
    assert len(measured) == 1 and "for compressed input" in result.stderr, result.stderr
