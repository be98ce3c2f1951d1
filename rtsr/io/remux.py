"""Remuxing: which input streams the output keeps, and the final mux of the upscaled chunks with them.

The upscaled video arrives as chunk files (rtsr.io.resume); everything else
(audio, subtitles, cover art, attachments, chapters, tags) comes from the
input, packet for packet. Nothing here encodes or decodes.
"""

from __future__ import annotations

import heapq
import io
import logging
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from rtsr.errors import DecodeError, EncodeError
from rtsr.io.alpha import has_alpha
from rtsr.io.encode import MPEGTS_CODECS
from rtsr.report import Report

log = logging.getLogger("rtsr")


# Tags the muxer writes itself, or statistics of the old encoding: copying them would leave stale values.
_STALE_TAGS = frozenset({"encoder", "major_brand", "minor_version", "compatible_brands", "duration", "bps",
                         "number_of_frames", "number_of_bytes"})


def copyable_tags(metadata: dict[str, str]) -> dict[str, str]:
    """The tags to carry over (title, language, creation time, ...): all but the stale ones."""
    return {key: value for key, value in metadata.items()
            if key.lower() not in _STALE_TAGS and not key.lower().startswith("_statistics_")}


def muxer_options(muxer: str, time_base: Fraction) -> dict[str, str]:
    """Options that make ``muxer`` keep timestamps exact.

    MP4/MOV store a track's start offset in an edit list counted in the
    movie timescale, 1/1000 s by default: a stream starting part-way (a
    chunk, a B-frame delay) would move by up to half a millisecond. Both
    timescales are set to the one the muxer picks for the video track
    (the time base's denominator, doubled up to at least 10000).
    """
    if muxer not in ("mp4", "mov"):
        return {}
    timescale = time_base.denominator
    while timescale < 10000:
        timescale *= 2
    return {"movie_timescale": str(timescale), "video_track_timescale": str(timescale)}


def assemble(src: Path, video_index: int, chunks: list[Path], plan: list[int], tmp: Path, muxer: str,
             time_base: Fraction, display_matrix: tuple[int, ...] | None, report: Report) -> None:
    """Mux the chunks' video and the input's planned streams into ``tmp``, interleaved by time.

    Nothing is re-encoded. Also carries over what describes the file:
    container tags, chapters, stream tags and flags, the display matrix.
    ``video_index`` is the input's upscaled stream; ``time_base`` its time base.
    """
    if not chunks:
        raise DecodeError("not one video frame could be decoded; nothing was written")
    with (av.open(str(src), "r") as source,
          av.open(str(tmp), "w", format=muxer, options=muxer_options(muxer, time_base)) as output):
        with av.open(str(chunks[0]), "r") as first:
            video = _stream_like(output, first.streams.video[0])
            headers = first.streams.video[0].codec_context.extradata
        if display_matrix:
            video.set_display_matrix(list(display_matrix))
        rate = source.streams[video_index].average_rate
        if rate:  # else Matroska derives one from the time base: "12800 fps" for a 25 fps video
            video.codec_context.framerate = rate
        _copy_description(source.streams[video_index], video)
        # The input's alpha_mode (Matroska's element, or its ALPHA_MODE tag) is not the output's: it is set
        # only where the output's VP9 carries alpha beside its packets (rtsr.io.alpha).
        for key in [key for key in video.metadata if key.lower() == "alpha_mode"]:
            del video.metadata[key]
        if report.codec == "libvpx-vp9" and has_alpha(report.pix_fmt):
            video.metadata["alpha_mode"] = "1"
        output.metadata.update(copyable_tags(source.metadata))
        chapters = source.chapters()
        if chapters:
            output.set_chapters(chapters)
            report.chapters = len(chapters)
        copies = add_copies(source, output, plan)
        output.start_encoding()
        others = source.demux([source.streams[i] for i in copies]) if copies else iter(())
        video_packets = ((packet, video) for packet in _video_packets(chunks, headers))
        other_packets = ((packet, copies[packet.stream.index]) for packet in others if packet.size)
        for packet, target in heapq.merge(video_packets, other_packets, key=lambda item: _packet_time(item[0])):
            packet.stream = target
            output.mux(packet)


def _video_packets(chunks: list[Path], headers: bytes | None) -> Iterator[av.Packet]:
    """Every chunk's video packets in decode order, with dts that increase across chunk boundaries.

    Each chunk was encoded on its own, so the dts of its first packets (as
    many as the B-frame delay) may not fit after the chunk before it:
    Matroska stores no dts, so FFmpeg leaves them unset; and an MP4/MOV
    encoder places them its delay before the chunk's first pts, which falls at
    or before the previous chunk's last dts when that chunk was too short to
    be delayed itself (one or two frames, from a run interrupted early). Such
    packets get dts spread evenly above the last dts so far and below the
    chunk's next usable one (or their own smallest pts when it has none):
    increasing, and never after their own pts. At the very start of the
    output, unset dts are left to the muxer.
    """
    last_dts: int | None = None  # the last dts passed on
    for chunk in chunks:
        pending: list[av.Packet] = []
        for packet in _chunk_packets(chunk, headers):
            if packet.dts is None or (last_dts is not None and packet.dts <= last_dts):
                pending.append(packet)
                continue
            if pending:
                yield from _with_dts(pending, last_dts, packet.dts)
                pending = []
            last_dts = packet.dts
            yield packet
        if pending:
            yield from _with_dts(pending, last_dts, min(p.pts for p in pending) + 1)
            last_dts = pending[-1].dts if pending[-1].dts is not None else last_dts


def _with_dts(packets: list[av.Packet], after: int | None, before: int) -> list[av.Packet]:
    """``packets`` with dts set strictly between ``after`` and ``before`` (left unset when ``after`` is None)."""
    if after is None:
        return packets
    gap = before - after
    if gap <= len(packets):
        raise EncodeError("the upscaled chunks leave no room for decode timestamps at a chunk boundary")
    for index, packet in enumerate(packets, 1):
        packet.dts = after + gap * index // (len(packets) + 1)
    return packets


def _chunk_packets(chunk: Path, headers: bytes | None) -> Iterator[av.Packet]:
    """The video packets of one chunk, in order; checks it was encoded with the first chunk's headers."""
    with av.open(str(chunk), "r") as container:
        stream = container.streams.video[0]
        if stream.codec_context.extradata != headers:
            raise EncodeError(f"{chunk} was encoded with other codec headers than the first chunk; "
                              f"remove {chunk.parent} and run again")
        for packet in container.demux(stream):
            if packet.size:
                yield packet


def _packet_time(packet: av.Packet) -> float:
    """Seconds at which ``packet`` is decoded; cover art (no timestamps) first."""
    ticks = packet.dts if packet.dts is not None else packet.pts
    return float("-inf") if ticks is None else float(ticks * packet.time_base)


def plan_copies(source: av.container.InputContainer, video_index: int, muxer: str, report: Report) -> list[int]:
    """The input streams, besides the upscaled video, that the output can hold (their indices).

    Audio, subtitles and cover art are copied packet for packet; attachments
    (the fonts of styled subtitles) are embedded whole, in Matroska. Every
    other stream is listed in the report and warned about -- at the start,
    not after hours of upscaling.
    """
    with av.open(io.BytesIO(), "w", format=muxer) as scratch:  # only asked what it can hold
        supported = MPEGTS_CODECS if muxer == "mpegts" else set(scratch.supported_codecs)
    chapters = len(source.chapters())
    chapter_track = bool(chapters) and "mov" in source.format.name.split(",")
    plan: list[int] = []

    def skip(label: str, why: str) -> None:
        report.skipped_streams.append(f"{label} ({why})")
        log.warning("not copying %s: %s", label, why)

    for stream in source.streams:
        if stream.index == video_index:
            continue
        if chapter_track and stream.type == "data" and stream.frames == chapters:
            continue  # an mp4/mov chapter track: the muxer rebuilds it from the chapters
        if stream.type == "attachment":
            label = f"#{stream.index} attachment {stream.name}"
            if muxer != "matroska":
                skip(label, f"a {muxer} file cannot hold attachments")
                continue
        else:
            cover_art = stream.type == "video" and stream.disposition & av.stream.Disposition.attached_pic
            if stream.type not in ("audio", "subtitle") and not cover_art:
                skip(f"#{stream.index} {stream.type}", "only one video is upscaled; audio, subtitles, "
                     "cover art and attachments are copied")
                continue
            name = stream.codec_context.name if stream.codec_context else "?"
            label = f"#{stream.index} {'cover art' if cover_art else stream.type} {name}"
            if name not in supported:
                skip(label, f"a {muxer} file cannot hold {name}")
                continue
        plan.append(stream.index)
        report.copied_streams.append(label)
    return plan


def add_copies(source: av.container.InputContainer, output: av.container.OutputContainer,
                plan: list[int]) -> dict[int, av.stream.Stream]:
    """Add the planned streams to ``output``; returns input index -> output stream for packet copies."""
    copies: dict[int, av.stream.Stream] = {}
    for index in plan:
        stream = source.streams[index]
        if stream.type == "attachment":
            output.add_attachment(stream.name, stream.mimetype, bytes(stream.data))
            continue
        copies[index] = _stream_like(output, stream)
        _copy_description(stream, copies[index])
    return copies


def _stream_like(output: av.container.OutputContainer, template: av.stream.Stream) -> av.stream.Stream:
    """A stream of ``output`` for ``template``'s packets, whichever decoder FFmpeg named its codec by.

    PyAV looks a video template's codec up as an *encoder* of its decoder's
    name, and AV1 is decoded by "libdav1d", which names no encoder: the
    output would fail at the final mux. Then the template's own codec is
    kept (``opaque``): packets are copied, nothing is encoded.
    """
    try:
        return output.add_stream_from_template(template)
    except av.codec.codec.UnknownCodecError:
        return output.add_stream_from_template(template, opaque=True)


def _copy_description(source: av.stream.Stream, target: av.stream.Stream) -> None:
    """Language, title and other tags, and the default/forced/... flags, from one stream to another."""
    target.metadata.update(copyable_tags(source.metadata))
    target.disposition = source.disposition
