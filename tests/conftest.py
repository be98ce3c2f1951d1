"""Shared fixtures: tiny clips made with PyAV from lavfi sources, and random-weight checkpoints.

No test needs files from outside the repository; ../shared is used only by
tests marked ``shared``, which skip without it.
"""

from __future__ import annotations

import os

# Before torch loads, as the rtsr command does (rtsr.entry): torch's OpenMP threads wait a short while
# instead of spinning, so a test beside another busy process (the other test process, a busy loop) is not
# slowed 3-10× while its threads wait on a descheduled peer. Subprocesses inherit it.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from rtsr.checkpoints import save_checkpoint
from rtsr.formats import ColorInfo
from rtsr.io.encode import EncodePlan, add_video_stream
from rtsr.models import MODELS

SHARED = Path(__file__).resolve().parents[2] / "shared"


@dataclass
class Clip:
    """How to make a test clip; ``make_clip`` writes it."""

    width: int = 96
    height: int = 64
    frames: int = 12
    rate: int = 24
    pix_fmt: str = "yuv420p"
    codec: str = "libx264"
    audio: bool = True
    subtitles: bool = False
    vfr: bool = False  # irregular frame durations
    bt709: bool = False  # tag the stream BT.709 limited range
    full_range: bool = False
    described: bool = False  # title, chapters, languages, a commentary track, 4:3 pixels, rotated 90°
    cover_art: bool = False  # a JPEG cover picture (an attached_pic stream, as music videos carry)
    font: bool = False  # a font attachment, as styled subtitles in Matroska carry
    extra_options: dict[str, str] = field(default_factory=dict)
    filters: str = ""  # FFmpeg filters after testsrc2 ("gblur=sigma=2"), for softer pictures


def _lavfi(graph: str) -> av.container.InputContainer:
    return av.open(graph, format="lavfi")


def _vfr_durations(frames: int) -> list[int]:
    """Frame durations in 1/1000 s: a repeating irregular pattern (33, 50, 41, 83 ms)."""
    pattern = [33, 50, 41, 83]
    return [pattern[i % len(pattern)] for i in range(frames)]


def _plan(clip: Clip, muxer: str) -> EncodePlan:
    """The clip's encoder, set up as rtsr sets up its own (rtsr.io.encode)."""
    color = None
    if clip.bt709 or clip.full_range:
        tag = 1 if clip.bt709 else 2  # BT.709, or unspecified
        color = ColorInfo("bt709" if clip.bt709 else "bt601", clip.full_range, primaries=tag, transfer=tag,
                          colorspace=tag, color_range=2 if clip.full_range else 1)
    return EncodePlan(muxer=muxer, codec=clip.codec, pix_fmt=clip.pix_fmt, size=(clip.width, clip.height),
                      time_base=Fraction(1, 1000) if clip.vfr else Fraction(1, clip.rate),
                      rate=Fraction(clip.rate), crf=23, options=dict(clip.extra_options), color=color)


def make_clip(path: Path, clip: Clip) -> Path:
    """Encode ``clip.frames`` frames of testsrc2 (and 440 Hz sine audio) into ``path``."""
    with av.open(str(path), "w") as out:
        video = add_video_stream(out, _plan(clip, out.format.name))
        audio = out.add_stream("aac", rate=48000) if clip.audio else None
        subtitle = _add_subtitles(out, path) if clip.subtitles else None
        if clip.described:
            _describe(out, video, audio, clip)
        if clip.font:
            out.add_attachment("subtitles.ttf", "font/ttf", FONT_BYTES)
        cover = _cover_art(out) if clip.cover_art else None

        seconds = clip.frames / clip.rate + 1
        graph = f"testsrc2=size={clip.width}x{clip.height}:rate={clip.rate}:duration={seconds}"
        with _lavfi(graph + (f",{clip.filters}" if clip.filters else "")) as src:
            pts = 0
            durations = _vfr_durations(clip.frames)
            for index, frame in enumerate(src.decode(video=0)):
                if index == clip.frames:
                    break
                frame = frame.reformat(format=clip.pix_fmt)
                frame.pict_type = av.video.frame.PictureType.NONE  # lavfi says I, which forces every frame key
                if clip.vfr:
                    frame.pts, frame.time_base = pts, Fraction(1, 1000)
                    pts += durations[index]
                else:
                    frame.pts, frame.time_base = index, Fraction(1, clip.rate)
                if clip.bt709 or clip.full_range:
                    frame.colorspace = 1 if clip.bt709 else frame.colorspace
                    frame.color_range = 2 if clip.full_range else 1
                out.mux(video.encode(frame))
        out.mux(video.encode(None))

        if audio is not None:
            video_seconds = (sum(_vfr_durations(clip.frames)) / 1000) if clip.vfr else clip.frames / clip.rate
            with _lavfi(f"sine=frequency=440:sample_rate=48000:duration={video_seconds}") as src:
                resampler = av.AudioResampler(format="fltp", layout="mono", rate=48000)
                for frame in src.decode(audio=0):
                    for resampled in resampler.resample(frame):
                        out.mux(audio.encode(resampled))
            out.mux(audio.encode(None))
        if cover is not None:
            cover_stream, packets = cover
            for packet in packets:
                packet.stream = cover_stream
                out.mux(packet)
        if subtitle is not None:
            subtitle_stream, packets = subtitle
            for packet in packets:
                packet.stream = subtitle_stream
                out.mux(packet)
    return path


def _describe(out: av.container.OutputContainer, video: av.video.stream.VideoStream,
              audio: av.audio.stream.AudioStream | None, clip: Clip) -> None:
    """What a phone or a DVD rip carries beside the pictures; the output must keep all of it."""
    out.metadata.update({"title": "Holiday", "comment": "keep me"})
    half = Fraction(clip.frames, 2 * clip.rate)
    out.set_chapters([
        {"id": 1, "start": 0, "end": int(half * 1000), "time_base": Fraction(1, 1000), "metadata": {"title": "Intro"}},
        {"id": 2, "start": int(half * 1000), "end": int(2 * half * 1000), "time_base": Fraction(1, 1000),
         "metadata": {"title": "Main"}},
    ])
    video.codec_context.sample_aspect_ratio = Fraction(4, 3)
    video.set_display_rotation(90)  # a portrait phone video: landscape pixels, turned for display
    video.metadata["language"] = "eng"
    if audio is not None:
        audio.metadata.update({"language": "fra", "title": "Commentary"})
        audio.disposition = av.stream.Disposition.comment


FONT_BYTES = b"not really a font, but the bytes must arrive unchanged" * 20


def _cover_art(out: av.container.OutputContainer):
    """A 32×32 JPEG as a cover-art stream; returns (stream, packets)."""
    stream = out.add_stream("mjpeg")
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuvj420p"
    stream.disposition = av.stream.Disposition.attached_pic
    picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
    picture = picture.reformat(format="yuvj420p")
    picture.pts = 0
    return stream, stream.encode(picture) + stream.encode(None)


def _add_subtitles(out: av.container.OutputContainer, path: Path):
    """Read a two-cue SRT file and add it as a subtitle stream; returns (stream, packets)."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:00,200\nhello\n\n2\n00:00:00,250 --> 00:00:00,400\nworld\n\n")
    src = av.open(str(srt))
    stream = out.add_stream_from_template(src.streams.subtitles[0])
    packets = [p for p in src.demux(src.streams.subtitles[0]) if p.dts is not None]
    return stream, packets


@pytest.fixture(scope="session", autouse=True)
def engine_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory):
    """Built engines and auto's CPU verdicts go to a folder of the test session (rtsr and subprocesses alike),
    never to the checkout's engines/ or the user's cache."""
    folder = tmp_path_factory.mktemp("engines")
    before = os.environ.get("RTSR_ENGINE_DIR")
    os.environ["RTSR_ENGINE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("RTSR_ENGINE_DIR", None)
    else:
        os.environ["RTSR_ENGINE_DIR"] = before


@pytest.fixture
def clip_factory(tmp_path: Path):
    """make(name, **Clip fields) -> path of a fresh clip in the test's temp dir."""

    def make(name: str = "input.mp4", **fields) -> Path:
        return make_clip(tmp_path / name, Clip(**fields))

    return make


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory):
    """weights(model, scale) -> a checkpoint of that model with seeded random weights.

    FSRCNN's deconvolution is initialised near zero, which would make the output
    flat; it is replaced by a bilinear-like kernel so the picture survives.
    """
    folder = tmp_path_factory.mktemp("weights")
    cache: dict[tuple[str, int], Path] = {}

    def weights(model: str, scale: int) -> Path:
        if (model, scale) not in cache:
            torch.manual_seed(0)
            network = MODELS[model].build(scale)
            if model == "fsrcnn":
                with torch.no_grad():
                    network.deconv.weight.normal_(0, 0.01)
            path = folder / f"{model}_x{scale}.pt"
            save_checkpoint(path, network, model, scale, note="random weights for tests")
            cache[(model, scale)] = path
        return cache[(model, scale)]

    return weights


def decode_video(path: Path) -> tuple[list[av.VideoFrame], av.video.stream.VideoStream]:
    """All frames of the first video stream (closed container; frames stay valid)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return frames, stream


def damage_packet(src: Path, dst: Path, index: int, damage: Callable[[bytes], bytes]) -> Path:
    """Copy ``src``'s video to ``dst`` with video packet ``index``'s bytes replaced by ``damage(bytes)``."""
    with av.open(str(src)) as source, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for number, packet in enumerate(p for p in source.demux(video=0) if p.dts is not None):
            if number == index:
                damaged = av.Packet(damage(bytes(packet)))
                damaged.pts, damaged.dts, damaged.time_base = packet.pts, packet.dts, packet.time_base
                packet = damaged
            packet.stream = stream
            out.mux(packet)
    return dst


def noise_like(data: bytes) -> bytes:
    """Random bytes (seeded) as long as ``data``: a packet no decoder can make sense of."""
    return np.random.default_rng(0).integers(0, 256, len(data), np.uint8).tobytes()


# Where a subsampled chroma sample sits, in luma pixels from the first luma column of its pair:
# the tests' own statement of the geometry, so they do not check rtsr.color against itself.
SITING_OFFSET = {"left": 0.0, "center": 0.5}


def frame_times(path: Path) -> list[Fraction]:
    """Presentation times in seconds of every video frame, in order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [Fraction(f.pts) * stream.time_base for f in container.decode(stream)]


def audio_payloads(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


def as_array(frame: av.VideoFrame) -> np.ndarray:
    return frame.to_ndarray(format="rgb24")


def h264_packets(width: int, height: int, frames: int, first_pts: int, right_quarter: int) -> list[av.Packet]:
    """``frames`` H.264 packets of a black width×height picture whose right quarter has luma ``right_quarter``."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"bframes": "0", "repeat-headers": "1"}  # headers in-band: the new size starts cleanly
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:, width * 3 // 4:] = right_quarter
    packets = []
    for index in range(frames):
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = first_pts + index, Fraction(1, 25)
        packets += encoder.encode(frame)
    return packets + encoder.encode(None)


def make_resolution_change(path: Path, frames_each: int) -> Path:
    """An MPEG-TS clip (as broadcast captures that switch resolution are): ``frames_each`` frames of 64×48
    with a black right quarter, then as many of 96×64 with a white one."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("h264", rate=25)
        stream.width, stream.height, stream.time_base = 64, 48, Fraction(1, 25)
        for packet in h264_packets(64, 48, frames_each, 0, right_quarter=0) + \
                h264_packets(96, 64, frames_each, frames_each, right_quarter=255):
            packet.stream = stream
            out.mux(packet)
    return path


def run_rtsr(*args: object, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m rtsr ARGS`` in a fresh process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "rtsr", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def run_rtsr_here(*args: object) -> subprocess.CompletedProcess:
    """``rtsr ARGS`` in this process, much faster than a fresh one (no torch import); stdout and stderr
    captured as text, the exit code as returncode. An exception escaping ``rtsr.cli.main`` (the traceback a
    user would see) propagates. The "rtsr" logger is put back as it was afterwards (the CLI points it at
    the captured stderr)."""
    import contextlib
    import io
    import logging

    from rtsr.cli import main

    logger = logging.getLogger("rtsr")
    saved = logger.handlers[:], logger.level, logger.propagate
    out, err = io.StringIO(), io.StringIO()
    argv = [str(arg) for arg in args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as ended:  # argparse: a usage error, itself one line
                code = ended.code
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    return subprocess.CompletedProcess(["rtsr", *argv], int(code or 0), out.getvalue(), err.getvalue())
