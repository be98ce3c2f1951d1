"""A synthetic clip (FFmpeg's testsrc2 pattern with a 440 Hz tone) for demos and benchmarks."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av

from rtsr.io.encode import EncodePlan, add_video_stream
from rtsr.io.output import muxer_for


def make_sample_clip(path: Path, size: tuple[int, int] = (640, 360), frames: int = 120,
                     rate: int = 24, audio: bool = True) -> Path:
    """Write ``frames`` frames of testsrc2 at ``size`` (H.264, yuv420p), with AAC audio if asked."""
    width, height = size
    seconds = frames / rate
    plan = EncodePlan(muxer=muxer_for(Path(path)), codec="libx264", pix_fmt="yuv420p", size=size,
                      time_base=Fraction(1, rate), rate=Fraction(rate), crf=18, preset="veryfast")
    with av.open(str(path), "w") as out:
        video = add_video_stream(out, plan)
        sound = out.add_stream("aac", rate=48000) if audio else None
        with av.open(f"testsrc2=size={width}x{height}:rate={rate}", format="lavfi") as src:
            for index, frame in enumerate(src.decode(video=0)):
                if index == frames:
                    break
                frame = frame.reformat(format="yuv420p")
                frame.pts, frame.time_base = index, Fraction(1, rate)
                # lavfi marks its frames I, which would make x264 encode every one as a keyframe;
                # NONE lets it build GOPs of I, P and B frames, as real footage has.
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            resampler = av.AudioResampler(format="fltp", layout="mono", rate=48000)
            with av.open(f"sine=frequency=440:sample_rate=48000:duration={seconds}", format="lavfi") as src:
                for frame in src.decode(audio=0):
                    for resampled in resampler.resample(frame):
                        out.mux(sound.encode(resampled))
            out.mux(sound.encode(None))
    return path
