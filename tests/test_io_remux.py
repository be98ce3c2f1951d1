"""What the output keeps besides the upscaled video: streams, tags, chapters, flags, cover art, attachments."""

from __future__ import annotations

import logging
from fractions import Fraction

import av
import pytest
from conftest import FONT_BYTES

from rtsr import Upscaler
from rtsr.io.remux import copyable_tags, muxer_options


@pytest.fixture
def upscaler(random_weights):
    return Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2))


def _stream_types(path) -> list[str]:
    with av.open(str(path)) as container:
        return [stream.type for stream in container.streams]


def test_subtitles_are_copied_to_mkv_and_reported_when_mp4_cannot_hold_them(clip_factory, upscaler, tmp_path, caplog):
    src = clip_factory("subs.mkv", subtitles=True, frames=6)
    to_mkv = upscaler.upscale_video(src, tmp_path / "subs_out.mkv")
    assert any("subtitle" in s for s in to_mkv.copied_streams)
    assert _stream_types(tmp_path / "subs_out.mkv") == ["video", "audio", "subtitle"]
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        to_mp4 = upscaler.upscale_video(src, tmp_path / "subs_out.mp4")
    assert len(to_mp4.skipped_streams) == 1 and "subtitle" in to_mp4.skipped_streams[0]
    assert "not copying" in caplog.text
    assert "NOT copied" in to_mp4.summary()
    assert _stream_types(tmp_path / "subs_out.mp4") == ["video", "audio"]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_titles_chapters_languages_flags_pixel_shape_and_rotation_survive(suffix, clip_factory, upscaler, tmp_path):
    src = clip_factory(f"described{suffix}", described=True)
    dst = tmp_path / f"out{suffix}"
    report = upscaler.upscale_video(src, dst)
    assert "2 chapters" in report.summary() and not report.skipped_streams  # the mp4 chapter track is rebuilt
    with av.open(str(dst)) as result:
        tags = {key.lower(): value for key, value in result.metadata.items()}
        assert tags["title"] == "Holiday" and tags["comment"] == "keep me"
        assert [chapter["metadata"]["title"] for chapter in result.chapters()] == ["Intro", "Main"]
        video, audio = result.streams.video[0], result.streams.audio[0]
        assert video.language == "eng" and audio.language == "fra"
        assert video.sample_aspect_ratio == Fraction(4, 3)
        assert next(result.decode(video=0)).rotation == 90
        if suffix == ".mkv":  # mp4 stores neither track titles nor the commentary flag
            assert audio.metadata["title"] == "Commentary"
            assert audio.disposition & av.stream.Disposition.comment


def test_cover_art_is_copied_and_never_taken_for_the_video(clip_factory, upscaler, tmp_path):
    src = clip_factory("song.mp4", cover_art=True, frames=6)
    report = upscaler.upscale_video(src, tmp_path / "out.mp4")
    assert report.frames == 6 and report.input_size == (96, 64)
    with av.open(str(src)) as original, av.open(str(tmp_path / "out.mp4")) as result:
        covers = [s for s in result.streams.video if s.disposition & av.stream.Disposition.attached_pic]
        assert len(covers) == 1 and result.streams.video[0] not in covers
        picture = next(result.demux(covers[0]))
        assert bytes(picture) == bytes(next(original.demux(original.streams.video[1])))  # unchanged


def test_attachments_are_embedded_in_mkv_and_reported_for_mp4(clip_factory, upscaler, tmp_path, caplog):
    src = clip_factory("styled.mkv", font=True, frames=6)
    kept = upscaler.upscale_video(src, tmp_path / "out.mkv")
    assert "#2 attachment subtitles.ttf" in kept.copied_streams
    with av.open(str(tmp_path / "out.mkv")) as result:
        (font,) = [s for s in result.streams if s.type == "attachment"]
        assert font.name == "subtitles.ttf" and font.mimetype == "font/ttf" and bytes(font.data) == FONT_BYTES
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        lost = upscaler.upscale_video(src, tmp_path / "out.mp4")
    assert "NOT copied: #2 attachment subtitles.ttf (a mp4 file cannot hold attachments)" in lost.summary()
    assert "not copying #2 attachment" in caplog.text


def test_stale_tags_are_not_copied():
    tags = {"title": "x", "ENCODER": "Lavf", "major_brand": "isom", "DURATION": "00:00:01", "BPS": "9",
            "_STATISTICS_TAGS": "BPS", "language": "fra"}
    assert copyable_tags(tags) == {"title": "x", "language": "fra"}


def test_mp4_timescales_follow_the_video_time_base():
    assert muxer_options("mp4", Fraction(1, 24)) == {"movie_timescale": "12288", "video_track_timescale": "12288"}
    assert muxer_options("mov", Fraction(1, 90000))["movie_timescale"] == "90000"
    assert muxer_options("matroska", Fraction(1, 1000)) == {}
