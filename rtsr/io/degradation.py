"""How compressed an input is, in one vocabulary, and so which weights it needs (issue 27). Torch-free.

Every part of rtsr speaks of an input the same way: *clean* (the clean
weights run), *compressed* (the weights for compressed input run) or
*heavily compressed* (compressed, and so far that upscaling gains little:
the summary points to ``rtsr check``). The weights pick, ``rtsr check``,
``rtsr compare``, live and the summary all read one :class:`Degradation`.

The shipped weights come in two kinds per model and scale (rtsr.models.DEGRADATIONS):
``none``, learnt from pristine LR (the papers' protocol), and ``compressed``,
learnt from LR that went through real codecs (tools/lab/pairs.py). Each is
better on its own kind of input and worse on the other (docs/quality.md), so
rtsr judges every input, once, before it loads weights:

* H.264 files: the quantiser the encoder used, read from the stream
  (``export_side_data=venc_params``, mean over 48 frames from the middle).
  A mean QP of at least ``COMPRESSED_QP`` (25) means compressed.
* Other codecs and pipes: the bits per pixel per frame, in H.264's worth
  (``H264_EQUIVALENT``); below ``CLEAN_BPP`` (0.12) means compressed.
  A lossy stream whose rate is unknown counts as compressed: almost all
  lossy video people have is far below that rate.
* JPEG pictures: their quality, from the quantisation table; other pictures by bits per pixel.
* Lossless codecs (FFV1, PNG, raw video...) and mastering codecs (ProRes,
  DNxHD) are clean.

The judgement is per input: a stream whose quality changes along the way
(a live stream adapting its bit rate, a clip cut from sources of different
quality) gets the weights for its middle (H.264) or its average (others).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from rtsr.io.probe import InputVideo, container_seconds, is_pipe, main_video_stream
from rtsr.io.side_data import side_data
from rtsr.text import counted

LEVELS = ("none", "compressed")  # what weights were trained for (rtsr.models.DEGRADATIONS)
CHOICES = ("auto", *LEVELS)  # what a user may ask for
# Calibrated on the validation grid (docs/quality.md): on the real clips, x264 CRF 18 gave a mean QP of
# 21.9-23.0, where the clean weights were 0.03-0.31 dB better; CRF 23 gave 26.7-28.5, where the two were
# within 0.13 dB and the compressed weights had the better SSIM and the lower temporal error; from CRF 28
# on the compressed weights won outright. The threshold sits between CRF 18 and CRF 23.
COMPRESSED_QP = 25.0
# For other codecs, H.264-equivalent bits per pixel per frame, measured on the same clips' ×2 LR (30 frames):
# x265 CRF 24 came to 0.19-0.20 in H.264's worth, where the two weights tied (within 0.04 dB); x265 CRF 32 to
# 0.106-0.112, where the compressed weights were 0.07-0.14 dB better; MPEG-4 part 2 at 0.055-0.058, 0.14-0.22
# dB better. (A first guess of 0.065, from x264's full-size figures once in rtsr/io/describe.py, judged the x265
# CRF 32 clips clean.)
CLEAN_BPP = 0.12
# Heavily compressed: from about x264 CRF 28 on. Measured 2026-12-04 (/tmp script, the two held-out clips'
# first 60 frames bicubic-downscaled ×2, libx264 medium): CRF 23 gave a mean QP of 26.6-27.1, CRF 28 31.4-33.0,
# CRF 33 36.2-38.3. Without a quantiser, H.264-equivalent bits per pixel below HEAVY_BPP, from x264 on the
# same clips at full size (CRF 28 gave 0.02-0.03, docs/check.md); at ×2 LR size the same CRF spends more bits
# per pixel (0.06-0.08), so this errs towards not saying "heavy".
HEAVY_QP = 31.0
HEAVY_BPP = 0.03
# Bits an encoder needs for the picture H.264 gives at one bit (rough, from the codecs' published comparisons).
H264_EQUIVALENT = {"hevc": 0.6, "vp9": 0.65, "av1": 0.5, "vvc": 0.45, "mpeg2video": 2.0, "mpeg1video": 2.2,
                   "mpeg4": 1.6, "msmpeg4v3": 1.7, "h263": 1.8, "vp8": 1.1, "mjpeg": 5.0, "theora": 1.3}
LOSSLESS_CODECS = frozenset({"rawvideo", "ffv1", "huffyuv", "ffvhuff", "utvideo", "png", "qtrle", "v210",
                             "v410", "r210", "magicyuv", "tiff", "bmp", "gif", "zlib", "flashsv",
                             "wrapped_avframe"})  # the last: frames handed over as decoded (lavfi, devices)
INTRA_HIGH_RATE = frozenset({"prores", "dnxhd", "cfhd", "v308", "mjpeg2000", "jpeg2000"})  # mastering codecs
QP_FRAMES = 48  # frames whose quantiser is averaged
H264_PARAMS = 1  # AV_VIDEO_ENC_PARAMS_H264


@dataclass(frozen=True)
class Degradation:
    """What an input was judged to be: ``level`` (none | compressed: the weights it needs), whether it is
    ``heavy`` (compressed so far that upscaling gains little), and the evidence, for people."""

    level: str
    reason: str  # "h264, mean QP 31.2 over 48 frames", "lossless ffv1", "jpeg, quality 40", "asked for"
    quantiser: tuple[float, int] | None = None  # an H.264 file's (mean QP, frames read), when it was read
    bits_per_pixel: float | None = None  # per pixel per frame as stored (not in H.264's worth), when known
    heavy: bool = False

    @property
    def words(self) -> str:
        """"clean", "compressed" or "heavily compressed": how every report names the input."""
        return "clean" if self.level == "none" else "heavily compressed" if self.heavy else "compressed"

    def describe(self) -> str:
        """"for compressed input (h264, mean QP 31.2 over 48 frames)": why the weights that run were picked."""
        return f"for {'clean' if self.level == 'none' else 'compressed'} input ({self.reason})"


def check_choice(choice: str) -> str:
    """``choice`` when it is one of CHOICES; ValueError otherwise (the CLI's choices list them too)."""
    if choice not in CHOICES:
        raise ValueError(f"degradation {choice!r}: choose from {', '.join(CHOICES)}")
    return choice


def _frame_qp(side_data: bytes) -> float | None:
    """The mean quantiser of one frame from its AVVideoEncParams (base QP plus each block's delta)."""
    nb_blocks, _pad, blocks_offset, block_size, kind, qp = struct.unpack_from("IIQQii", side_data, 0)
    if kind != H264_PARAMS:
        return None
    if not nb_blocks or block_size < 20:
        return float(qp)
    words = np.frombuffer(side_data, np.int32, nb_blocks * block_size // 4, blocks_offset)
    return float(qp + words.reshape(nb_blocks, block_size // 4)[:, 4].mean())  # delta_qp follows x, y, w, h


def measure_h264_qp(path: Path, frames: int = QP_FRAMES) -> tuple[float, int] | None:
    """(mean QP, frames read) of an H.264 file over ``frames`` frames from its middle; None for other codecs."""
    with av.open(str(path)) as container:
        stream = main_video_stream(container)
        if stream is None or stream.codec_context.name != "h264":
            return None
        # One decoding thread: with frame threads the exported quantisers came out slightly different
        # from run to run (FFmpeg 7), single-threaded they are the same every time.
        stream.codec_context.options = {"export_side_data": "venc_params"}
        if container.duration:
            try:
                container.seek(container.duration // 2, backward=True)
            except av.FFmpegError:
                pass  # unseekable: the first frames say as much
        values = []
        try:
            for frame in container.decode(stream):
                params = side_data(frame).get("VIDEO_ENC_PARAMS")
                qp = _frame_qp(params) if params else None
                if qp is not None:
                    values.append(qp)
                if len(values) >= frames:
                    break
        except av.FFmpegError:
            pass  # a damaged stretch: what was read counts
    return (float(np.mean(values)), len(values)) if values else None


def lossless_reason(codec: str) -> str:
    """"lossless ffv1"; frames FFmpeg hands over decoded (lavfi sources, devices) are named as such."""
    return "uncompressed frames from a lavfi source or a device" if codec == "wrapped_avframe" else f"lossless {codec}"


def bits_per_pixel(bit_rate: int | None, width: int, height: int, fps: float | None) -> float | None:
    """Bits per pixel per frame from a stream's bits per second; None when any figure is unknown."""
    return bit_rate / (width * height * fps) if bit_rate and fps and width and height else None


def judge_codec(codec: str, bpp: float | None) -> Degradation:
    """The level from a codec and its bits per pixel per frame (None: unknown)."""
    if codec in LOSSLESS_CODECS:
        return Degradation("none", lossless_reason(codec))
    if codec in INTRA_HIGH_RATE:
        return Degradation("none", f"{codec}, a mastering codec", bits_per_pixel=bpp)
    if bpp is None:
        return Degradation("compressed", f"{codec}, lossy, bit rate unknown")
    worth = bpp / H264_EQUIVALENT.get(codec, 1.0)
    in_h264 = f", worth {worth:.3f} in h264" if codec in H264_EQUIVALENT else ""
    return Degradation("none" if worth >= CLEAN_BPP else "compressed", f"{codec} at {bpp:.3f} bit/pixel{in_h264}",
                       bits_per_pixel=round(bpp, 4), heavy=worth < HEAVY_BPP)


def judge_stream(codec: str, bpp: float | None, path: Path | None = None) -> Degradation:
    """The level of a video stream: an H.264 ``path`` (a regular file) by its quantiser, else as judge_codec."""
    if codec == "h264" and path is not None and path.is_file() and not is_pipe(path):
        measured = measure_h264_qp(path)
        if measured is not None:
            qp, count = measured
            rate = f"; {bpp:.3f} bit/pixel" if bpp else ""
            return Degradation("compressed" if qp >= COMPRESSED_QP else "none",
                               f"h264, mean QP {qp:.1f} over {counted(count, 'frame')}{rate}", measured,
                               round(bpp, 4) if bpp else None, heavy=qp >= HEAVY_QP)
    return judge_codec(codec, bpp)


def judge_video(video: InputVideo) -> Degradation:
    """The level of an opened input (a file, a pipe or a picture sequence); reads an H.264 file's quantiser.
    Judged once per opened input (kept on it): the CLI judges before its time estimate, the run again."""
    if isinstance(video.judged, Degradation):
        return video.judged
    info, codec = video.info, video.stream.codec_context.name
    if video.is_picture:
        judged = judge_picture(video.path, codec, info.width, info.height)
    else:
        bpp = bits_per_pixel(video_bit_rate(video), info.width, info.height, float(info.rate) if info.rate else None)
        judged = judge_stream(codec, bpp, Path(video.path))
    video.judged = judged
    return judged


def video_bit_rate(video: InputVideo) -> int | None:
    """The video stream's bits per second: its own figure, else the file's minus the other streams'."""
    stream = video.stream
    if stream.bit_rate:
        return int(stream.bit_rate)
    container = video.container
    others = sum(getattr(s, "bit_rate", 0) or 0 for s in container.streams  # attachments have none
                 if s.index != stream.index)
    total = container.bit_rate
    seconds = container_seconds(container)
    if not total and seconds:
        try:
            total = os.path.getsize(video.path) * 8 / seconds
        except OSError:
            total = None
    return int(total - others) if total and total > others else None


# The IJG (libjpeg) luminance quantisation table at quality 50, in zigzag order as a DQT segment stores it.
IJG_LUMA_ZIGZAG = (16, 11, 12, 14, 12, 10, 16, 14, 13, 14, 18, 17, 16, 19, 24, 40, 26, 24, 22, 22, 24, 49, 35, 37,
                   29, 40, 58, 51, 61, 60, 57, 51, 56, 55, 64, 72, 92, 78, 64, 68, 87, 69, 55, 56, 80, 109, 81, 87,
                   95, 98, 103, 104, 103, 62, 77, 113, 121, 112, 100, 120, 92, 101, 103, 99)
COMPRESSED_JPEG_QUALITY = 70  # below: compressed (the heavy training pairs had q 30-60, the light q 80-95)


def jpeg_quality(data: bytes) -> float | None:
    """The IJG quality (1-100) a JPEG's first quantisation table corresponds to, None when it has none.

    Encoders that follow libjpeg scale its table by the quality; the mean ratio of the file's table to
    the quality-50 one gives the scale back (others get the closest IJG quality)."""
    at = data.find(b"\xff\xdb")
    while at != -1 and at + 69 <= len(data):
        precision = data[at + 4] >> 4
        if precision == 0:  # 8-bit entries
            table = np.frombuffer(data, np.uint8, 64, at + 5).astype(np.float64)
            scale = float(np.mean(table / np.array(IJG_LUMA_ZIGZAG))) * 100
            return max(1.0, min(100.0, (200 - scale) / 2 if scale <= 100 else 5000 / scale))
        at = data.find(b"\xff\xdb", at + 2)
    return None


def judge_picture(path: Path, codec: str, width: int, height: int) -> Degradation:
    """The level of one picture file: a JPEG by its quality (from its quantisation table), others by codec
    and size in bits per pixel."""
    try:
        data = Path(path).read_bytes() if codec == "mjpeg" else None
        bits = len(data) * 8 if data is not None else os.path.getsize(path) * 8
    except OSError:
        data, bits = None, None
    quality = jpeg_quality(data) if data else None
    bpp = bits_per_pixel(bits, width, height, 1.0)  # one frame: the file's bits over its pixels
    if quality is not None:
        level = "compressed" if quality < COMPRESSED_JPEG_QUALITY else "none"
        # Never "heavy": no JPEG quality has been calibrated against the gain upscaling still gives.
        return Degradation(level, f"jpeg, quality {quality:.0f}", bits_per_pixel=round(bpp, 4) if bpp else None)
    return judge_codec(codec, bpp)


def asked(level: str) -> Degradation:
    """A level the user named (no judging)."""
    return Degradation(level, "asked for")
