"""rtsr.io.degradation, and the weights rtsr runs for each input: clean, or trained for compressed input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import decode_video, run_rtsr_here

from rtsr.checkpoints import load_model
from rtsr.errors import InputError
from rtsr.io.degradation import Degradation, judge_codec, judge_picture, judge_video
from rtsr.io.probe import InputVideo
from rtsr.models import SCALES
from rtsr.run_spec import RunSpec, UpscaleOptions, choose_spec
from rtsr.segments.pool import WorkerSpec
from rtsr.upscaler import Upscaler


@pytest.mark.parametrize("codec, bits_per_pixel, words", [
    ("ffv1", None, "clean"),  # lossless
    ("prores", 1.5, "clean"),  # a mastering codec
    ("h264", None, "compressed"),  # lossy, rate unknown
    ("h264", 0.05, "compressed"),
    ("h264", 0.02, "heavily compressed"),
    ("h264", 0.3, "clean"),  # near-lossless
    ("hevc", 0.064, "compressed"),  # worth 0.107 in H.264: x265 CRF 32 on the real clips' ×2 LR
    ("hevc", 0.12, "clean"),  # x265 CRF 24 there
    ("mpeg2video", 0.1, "compressed"),  # MPEG-2 needs twice H.264's bits for the same picture
    ("mjpeg", 3.0, "clean"),  # a good JPEG
    ("mjpeg", 0.25, "compressed"),
])
def test_codecs_and_rates_are_judged(codec, bits_per_pixel, words) -> None:
    judged = judge_codec(codec, bits_per_pixel)
    assert judged.words == words and codec in judged.reason
    assert judged.level == ("none" if words == "clean" else "compressed")


def test_h264_is_judged_by_its_quantiser_and_lossless_input_is_clean(clip_factory) -> None:
    heavy = clip_factory("heavy.mp4", width=160, height=120, frames=12, audio=False, extra_options={"crf": "35"})
    fine = clip_factory("fine.mp4", width=160, height=120, frames=12, audio=False, extra_options={"crf": "4"})
    lossless = clip_factory("lossless.mkv", width=160, height=120, frames=12, audio=False, codec="ffv1")
    with InputVideo.open(heavy) as video:
        judged = judge_video(video)
    assert judged.level == "compressed" and "h264, mean QP" in judged.reason and "over 12 frames" in judged.reason
    with InputVideo.open(fine) as video:
        assert judge_video(video).level == "none"
    with InputVideo.open(lossless) as video:
        assert judge_video(video).reason == "lossless ffv1" and judge_video(video).level == "none"


def test_pictures_are_judged_by_their_quality(clip_factory, tmp_path) -> None:
    frames, _ = decode_video(clip_factory("p.mkv", width=320, height=240, frames=1, audio=False, codec="ffv1"))
    bgr = cv2.cvtColor(frames[0].to_ndarray(format="rgb24"), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(tmp_path / "p.png"), bgr)
    cv2.imwrite(str(tmp_path / "good.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 98])
    cv2.imwrite(str(tmp_path / "poor.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 15])
    assert judge_picture(tmp_path / "p.png", "png", 320, 240).level == "none"
    assert judge_picture(tmp_path / "good.jpg", "mjpeg", 320, 240).level == "none"
    poor = judge_picture(tmp_path / "poor.jpg", "mjpeg", 320, 240)
    assert poor.level == "compressed" and poor.reason == "jpeg, quality 16"  # from its quantisation table
    assert judge_picture(tmp_path / "p.png", "png", 320, 240).reason == "lossless png"


@pytest.mark.parametrize("scale", SCALES)
def test_fsrcnn_ships_weights_for_compressed_input_and_they_say_so(scale) -> None:
    clean, compressed = (load_model("fsrcnn", scale, degradation=level) for level in ("none", "compressed"))
    assert compressed.weights.name == f"fsrcnn_x{scale}_compressed.pt"
    assert compressed.meta["degradation"] == ["heavy"] and compressed.meta["pairs"]
    assert compressed.weights_sha256 != clean.weights_sha256


def test_the_upscaler_picks_per_input_and_says_why(clip_factory) -> None:
    heavy = clip_factory("heavy.mp4", width=160, height=120, frames=12, audio=False, extra_options={"crf": "35"})
    lossless = clip_factory("lossless.mkv", width=160, height=120, frames=12, audio=False, codec="ffv1")
    up = Upscaler("fsrcnn", 2, "cpu")
    with InputVideo.open(heavy) as video:
        runner, said = up.runner_for(video)
    assert said.startswith("fsrcnn ×2 for compressed input (h264, mean QP")
    assert runner.loaded.weights.name == "fsrcnn_x2_compressed.pt" and runner.spec.degradation == "compressed"
    with InputVideo.open(lossless) as video:
        runner, said = up.runner_for(video)
    assert said == "fsrcnn ×2 for clean input (lossless ffv1)" and runner.loaded.weights.name == "fsrcnn_x2.pt"

    with InputVideo.open(heavy) as video:
        assert Upscaler("fsrcnn", 2, "cpu", degradation="none").runner_for(video)[1].endswith(
            "for clean input (asked for)")
        said = Upscaler("srcnn", 2, "cpu").runner_for(video)[1]
    assert "for clean input" in said and "no shipped srcnn ×2 weights for compressed input" in said


def test_the_level_is_checked_and_given_weights_are_not_overridden(random_weights) -> None:
    with pytest.raises(InputError, match="choose from auto, none, compressed"):
        Upscaler("fsrcnn", 2, "cpu", degradation="medium")
    with pytest.raises(InputError, match="--weights"):
        Upscaler("fsrcnn", 2, "cpu", weights=random_weights("fsrcnn", 2), degradation="compressed")


def test_the_image_api_takes_the_level() -> None:
    rng = np.random.default_rng(0)
    rgb = np.kron(rng.integers(0, 256, (12, 16, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    up = Upscaler("fsrcnn", 2, "cpu")
    clean = up.upscale_image(rgb)
    assert np.array_equal(up.upscale_image(rgb, degradation="none"), clean)
    compressed = up.upscale_image(rgb, degradation="compressed")
    assert compressed.shape == clean.shape and not np.array_equal(compressed, clean)
    with pytest.raises(InputError, match="choose from none, compressed"):
        up.upscale_image(rgb, degradation="auto")


def test_upscale_image_gives_the_same_picture_whatever_ran_before(clip_factory, tmp_path) -> None:
    """What runs is chosen per call: a compressed video before it does not change a picture's weights."""
    heavy = clip_factory("heavy.mp4", width=96, height=64, frames=4, audio=False, extra_options={"crf": "40"})
    rgb = np.kron(np.random.default_rng(1).integers(0, 256, (12, 16, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    fresh = Upscaler("fsrcnn", 2, "cpu").upscale_image(rgb)
    used = Upscaler("fsrcnn", 2, "cpu")
    report = used.upscale_video(heavy, tmp_path / "out.mkv", codec="ffv1")
    assert "for compressed input" in report.weights
    assert np.array_equal(used.upscale_image(rgb), fresh)
    assert not np.array_equal(used.upscale_image(rgb, degradation="compressed"), fresh)
    assert np.array_equal(used.upscale_image(rgb), fresh)


def test_a_spec_is_chosen_by_a_pure_function() -> None:
    options = UpscaleOptions("fsrcnn", 3)
    judged = Degradation("compressed", "h264, mean QP 31.0 over 48 frames")
    assert choose_spec(options, judged) == choose_spec(options, judged)
    spec, why = choose_spec(options, judged)
    assert spec == RunSpec("fsrcnn", 3, "compressed", None, "auto") and why.startswith("fsrcnn ×3 for compressed")
    assert choose_spec(options)[0].degradation == "none"  # a bare picture: the clean weights
    assert choose_spec(UpscaleOptions("srcnn", 3), judged)[0].degradation == "none"  # none shipped for it
    assert choose_spec(UpscaleOptions("fsrcnn", 3, weights="my.pt"), judged) == (
        RunSpec("fsrcnn", 3, "none", "my.pt", "auto"), "my.pt (given)")
    with pytest.raises(ValueError, match="--weights"):
        UpscaleOptions("fsrcnn", 3, weights="my.pt", degradation="compressed")


def test_segment_workers_load_the_weights_the_driver_picked() -> None:
    spec = WorkerSpec(RunSpec("fsrcnn", 2, "compressed", None, "cpu"))
    assert spec.build_runner().loaded.weights.name == "fsrcnn_x2_compressed.pt"


def test_the_summary_says_which_weights_ran(clip_factory, tmp_path) -> None:
    src = clip_factory("in.mp4", width=160, height=120, frames=6, extra_options={"crf": "35"})
    done = run_rtsr_here(src, "-o", tmp_path / "out.mkv", "--scale", "2", "--engine", "cpu")
    assert done.returncode == 0, done.stderr
    assert "\nweights: fsrcnn ×2 for compressed input (h264, mean QP" in done.stderr
    done = run_rtsr_here(src, "-o", tmp_path / "none.mkv", "--scale", "2", "--engine", "cpu", "--degradation", "none")
    assert "\nweights: fsrcnn ×2 for clean input (asked for)" in done.stderr


def test_live_sources_are_judged_from_their_header(clip_factory) -> None:
    from rtsr.live.sources import open_source

    clip = clip_factory("live.mp4", width=160, height=120, frames=6, audio=False, extra_options={"crf": "35"})
    for spec, level in ((str(clip), "compressed"), ("testsrc2=size=160x120:rate=24", "none")):
        source = open_source(spec)
        try:
            assert source.degradation().level == level, spec
        finally:
            source.close()
