"""A run of compressed video packets that travels on its own: to a worker process or a Ray node.

A segment's worker (rtsr.segments) never opens the input: the driver reads
the segment's packets and sends them with what the decoder needs, so no
shared filesystem is required and the object store carries only compressed
bytes, never raw frames. The packets keep their exact pts/dts in the input's
time base; no container is involved (re-muxing into one would round them:
NUT and Matroska pick their own time bases).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av


@dataclass(frozen=True)
class DecoderParameters:
    """What a decoder of the input's video stream is opened with (picklable)."""

    codec: str  # FFmpeg decoder name: h264, hevc, vp9, prores, ...
    extradata: bytes | None  # the codec's headers (avcC, hvcC, ...), when the container keeps them apart
    width: int
    height: int
    pix_fmt: str | None
    time_base: Fraction  # of the packets' pts/dts

    @classmethod
    def of_stream(cls, stream: av.video.stream.VideoStream) -> DecoderParameters:
        ctx = stream.codec_context
        return cls(ctx.name, bytes(ctx.extradata) if ctx.extradata else None, ctx.width, ctx.height,
                   ctx.format.name if ctx.format else None, stream.time_base)

    def open_decoder(self) -> av.CodecContext:
        """A fresh decoder (FrameReader.from_packets sets its threads)."""
        decoder = av.CodecContext.create(self.codec, "r")
        if self.extradata:
            decoder.extradata = self.extradata
        decoder.width, decoder.height = self.width, self.height
        if self.pix_fmt:
            decoder.pix_fmt = self.pix_fmt
        return decoder


@dataclass(frozen=True)
class PacketRun:
    """Consecutive video packets (decode order) and the parameters to decode them.

    ``packets`` holds (payload, pts, dts, keyframe) per packet; a few MB for
    ten seconds of 1080p H.264.
    """

    decoder: DecoderParameters
    packets: tuple[tuple[bytes, int | None, int | None, bool], ...]

    @classmethod
    def collect(cls, decoder: DecoderParameters, packets: list[av.Packet]) -> PacketRun:
        return cls(decoder, tuple((bytes(p), p.pts, p.dts, p.is_keyframe) for p in packets))

    @property
    def size(self) -> int:
        """Bytes of payload."""
        return sum(len(payload) for payload, *_ in self.packets)

    def av_packets(self) -> Iterator[av.Packet]:
        for payload, pts, dts, keyframe in self.packets:
            packet = av.Packet(payload)
            packet.pts, packet.dts, packet.time_base = pts, dts, self.decoder.time_base
            packet.is_keyframe = keyframe
            yield packet
