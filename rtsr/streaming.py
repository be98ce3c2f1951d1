"""One pass from input to output, for pipes: ``cat clip.ts | rtsr - -o out.mkv``, ``rtsr in.mp4 -o - | mpv -``.

A file run encodes into resumable chunks and muxes them with the input's
other streams at the end, reading the input twice. A pipe can be read once
and written once, so here the same stages (rtsr.pipeline: decode, upscale,
encode threads) run with two differences:

* the decode thread demuxes the copied streams (audio, subtitles) too, and
  their packets travel through the queues beside the frames;
* the encode thread writes one output container, the upscaled video encoded
  and the copied packets muxed as they come (FFmpeg interleaves them by time).

Picture sequences (rtsr.io.sequences) take this path too, in and out: they
have no timestamps to cut at, and written frames are final as they come.

No segments and no resume: an interrupted pipe cannot be read again. To
standard output the stream is Matroska (or ``--format mpegts``), written as
it is encoded; to a file it is written to a hidden temporary and renamed at
the end, as every rtsr output is.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import av

from rtsr.atomic import commit_file, temporary_path
from rtsr.errors import EncodeError
from rtsr.io.alpha import keep_alpha
from rtsr.io.encode import (
    EncodePlan,
    EncodeSettings,
    add_video_stream,
    check_encoder_settings,
    check_size,
    choose_pix_fmt,
    video_encoder,
)
from rtsr.io.output import muxer_for
from rtsr.io.playable import announce_playability
from rtsr.io.probe import InputVideo
from rtsr.io.reader import FrameReader
from rtsr.io.remux import add_copies, copyable_tags, plan_copies
from rtsr.io.sequences import is_pattern, sequence_encoder
from rtsr.pipeline import DecodeStage, EncodeStage, Pipeline, UpscaleStage, run_stages
from rtsr.report import ProgressFactory, Report, StageClock

if TYPE_CHECKING:
    from rtsr.runner import Runner

log = logging.getLogger("rtsr")

STREAM_FORMATS = {"matroska": "matroska", "mkv": "matroska", "mpegts": "mpegts", "ts": "mpegts", "nut": "nut"}
STDOUT = "-"


class StreamWriter:
    """The encode thread's end of a one-pass run: frames encoded, copied packets muxed, into one container."""

    def __init__(self, output: av.container.OutputContainer, video: av.video.stream.VideoStream,
                 copies: dict[int, av.stream.Stream]) -> None:
        self.output, self.video, self.copies = output, video, copies
        self.frames = 0

    def write(self, item: av.VideoFrame | av.Packet) -> None:
        if isinstance(item, av.Packet):
            target = self.copies.get(item.stream.index)
            if target is not None:
                item.stream = target
                self.output.mux(item)
            return
        self.output.mux(self.video.encode(item))
        self.frames += 1

    def finish(self) -> None:
        self.output.mux(self.video.encode(None))  # the encoder's held frames

    def close(self) -> None:
        """Nothing here: the run closes the container."""


def stream_format(requested: str | None, dst: str) -> str:
    """The muxer of a one-pass output: ``--format``, else by the file's extension, else Matroska;
    ``image2`` for a picture sequence (rtsr.io.sequences)."""
    if is_pattern(dst):
        return "image2"
    if requested:
        if requested not in STREAM_FORMATS:
            raise EncodeError(f"--format takes {', '.join(sorted(set(STREAM_FORMATS)))}, not {requested!r}")
        return STREAM_FORMATS[requested]
    if dst == STDOUT:
        return "matroska"
    return muxer_for(Path(dst))


def pipe_muxer(muxer: str, source: av.container.InputContainer) -> str:
    """``muxer``, or MPEG-TS where Matroska cannot start a stream: AAC that comes as ADTS (from MPEG-TS,
    raw .aac) has no global header, which Matroska writes before the first packet, and on a pipe it
    cannot go back to add it (FFmpeg then refuses with EINVAL). MPEG-TS carries ADTS as it is."""
    headless = [f"#{s.index}" for s in source.streams.audio if s.codec_context.name == "aac"
                and not s.codec_context.extradata]
    if muxer != "matroska" or not headless:
        return muxer
    log.warning("writing MPEG-TS to standard output, not Matroska: the AAC audio (%s) has no global header, "
                "which Matroska needs before the first packet and cannot add later on a pipe", ", ".join(headless))
    return "mpegts"


def stream_video(runner: Runner, video: InputVideo, dst: str, settings: EncodeSettings, muxer: str,
                 report: Report, progress: ProgressFactory | None = None) -> Report:
    """Upscale ``video`` into ``dst`` (a file path, or "-" for standard output) in one pass with ``runner``
    (rtsr.runner); fills ``report``."""
    started = time.perf_counter()
    info = video.info
    sequence = muxer == "image2"
    options: dict[str, str] = {}
    if sequence:  # lossless pictures at the input's depth; the encoder settings do not apply
        name, options, pix_fmt = sequence_encoder(dst, info.layout.bits)
        codec = video_encoder(name)
        settings = EncodeSettings(codec.name, None, None, pix_fmt)
    else:
        codec = video_encoder(settings.codec)
        check_encoder_settings(codec.name, settings.crf, settings.preset)
        pix_fmt = choose_pix_fmt(codec, info.layout, settings.pix_fmt)
    if dst == STDOUT:
        muxer = pipe_muxer(muxer, video.container)
    if info.alpha:
        pix_fmt, report.alpha = keep_alpha(codec.name, muxer, info.layout, pix_fmt,
                                           None if sequence else settings.pix_fmt)
    out_size = info.layout.encodable_size(info.width * runner.scale, info.height * runner.scale)
    check_size(codec.name, out_size)
    if not sequence:
        announce_playability(codec.name, out_size, pix_fmt, runner.scale, settings.refuse_unplayable)
    report.input_size, report.output_size, report.pix_fmt = info.size, out_size, pix_fmt
    report.codec = codec.name
    copy_plan = [] if sequence else plan_copies(video.container, info.index, muxer, report)
    if sequence:
        report.skipped_streams += [f"#{s.index} {s.type} (a picture sequence holds only pictures)"
                                   for s in video.container.streams if s.type in ("audio", "subtitle")]
    plan = EncodePlan(muxer=muxer, codec=codec.name, pix_fmt=pix_fmt, size=out_size,
                      time_base=info.output_time_base, rate=info.output_rate, crf=settings.crf,
                      preset=settings.preset, options=options,
                      color=None if sequence else info.color, sample_aspect_ratio=info.sample_aspect_ratio,
                      hdr=None if sequence else info.hdr)
    # A sequence's files are each written under a temporary name and renamed by the muxer itself.
    target = dst if sequence else "pipe:1" if dst == STDOUT else str(temporary_path(Path(dst)))
    atomic = not sequence and dst != STDOUT
    clock = StageClock()
    try:
        with av.open(target, "w", format=muxer, options={"atomic_writing": "1"} if sequence else {}) as output:
            output.metadata.update(copyable_tags(video.container.metadata))
            encoder = add_video_stream(output, plan)
            if info.display_matrix:
                encoder.set_display_matrix(list(info.display_matrix))
            copies = add_copies(video.container, output, copy_plan)
            try:
                output.start_encoding()
            except av.FFmpegError as err:
                raise EncodeError(f"the {muxer} muxer refused the output's streams ({err.strerror}): "
                                  "try another --format, or write to a file") from None
            pipeline = Pipeline()
            others = tuple(video.container.streams[i] for i in copies)
            reader = FrameReader(video.container, video.stream, step=info.frame_step, clock=clock,
                                 deinterlace=info.field_order if info.deinterlace else None,
                                 fields=info.field_rate, other_streams=others,
                                 on_packet=lambda packet: pipeline.put(pipeline.to_upscale, packet))
            with runner.engine.sharing_cores():
                planes = runner.plane_upscaler(info, out_size, clock)
                try:
                    run_stages(DecodeStage(pipeline, reader), UpscaleStage(info, planes, pix_fmt, report),
                               EncodeStage(pipeline, StreamWriter(output, encoder, copies), clock), pipeline,
                               progress(info.output_frames, 0) if progress else None)
                finally:
                    report.corrupt_packets += reader.corrupt_packets
        if atomic:
            commit_file(Path(target), Path(dst))
    finally:
        if atomic:
            Path(target).unlink(missing_ok=True)
    report.wall_seconds = time.perf_counter() - started
    report.stage_seconds = dict(clock.seconds)
    return report
