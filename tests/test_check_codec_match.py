"""rtsr.check.codec_match: the input's quantiser read back, and the shrunk frames compressed again with it."""

from __future__ import annotations

import numpy as np
import pytest

from rtsr.check.codec_match import CodecMatch, choose_match, crf_from_bits, measure_h264_qp, x264_roundtrip
from rtsr.io.degradation import Degradation
from rtsr.metrics import psnr


@pytest.mark.parametrize("crf", [20, 40])
def test_the_quantiser_of_an_h264_clip_is_read_back(clip_factory, crf) -> None:
    path = clip_factory(f"q{crf}.mp4", width=160, height=120, frames=24, audio=False,
                        extra_options={"crf": str(crf)})
    qp, frames = measure_h264_qp(path)
    assert frames == 24 and crf - 4 < qp < crf + 8  # x264's P and B frames sit above the CRF
    match = choose_match(path, "h264", Degradation("none", "h264", bits_per_pixel=0.2))  # measured: not the bits
    assert match.mode == "qp" and match.value == pytest.approx(qp, abs=0.05)


def test_other_codecs_fall_back_to_the_bits_per_pixel(clip_factory) -> None:
    path = clip_factory("m.mkv", width=160, height=120, frames=12, codec="mpeg4", audio=False)
    assert measure_h264_qp(path) is None
    assert choose_match(path, "mpeg4", Degradation("none", "mpeg4", bits_per_pixel=0.5)) is None  # clean: as it is
    heavy = choose_match(path, "mpeg4", Degradation("compressed", "mpeg4 at 0.030 bit/pixel", bits_per_pixel=0.03))
    assert heavy.mode == "crf" and 30 < heavy.value <= 45 and "guess" in heavy.reason
    assert crf_from_bits(Degradation("compressed", "", bits_per_pixel=0.09), "h264") == pytest.approx(18)
    assert crf_from_bits(Degradation("compressed", "", bits_per_pixel=0.09 / 4), "h264") == pytest.approx(18 + 2 * 5.9)
    assert crf_from_bits(Degradation("compressed", ""), "h264") is None


def test_the_roundtrip_degrades_more_at_a_higher_quantiser() -> None:
    rng = np.random.default_rng(0)
    grey = np.kron(rng.integers(0, 256, (20, 27)), np.ones((3, 3))).astype(np.uint8)[:, :-2]  # odd width
    rgb = np.repeat(grey[..., None], 3, axis=2)  # grey: no chroma for 4:2:0 to lose
    mild, harsh = (x264_roundtrip(rgb, CodecMatch("qp", qp, "test")) for qp in (18, 45))
    assert mild.shape == harsh.shape == rgb.shape
    assert psnr(mild, rgb) > psnr(harsh, rgb) + 6
