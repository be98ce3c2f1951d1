import pytest
import torch

from rtsr.color import (
    LAYOUTS,
    MATRIX_COEFFICIENTS,
    describe_color,
    luma_to_model,
    model_to_luma,
    rgb_to_yuv,
    to_codes,
    working_layout,
    yuv_to_rgb,
)


@pytest.mark.parametrize("matrix", list(MATRIX_COEFFICIENTS))
@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("full_range", [False, True])
def test_rgb_yuv_round_trip(matrix: str, bits: int, full_range: bool) -> None:
    torch.manual_seed(0)
    rgb = torch.rand(3, 8, 9)
    y, u, v = rgb_to_yuv(rgb, matrix, bits, full_range)
    back = yuv_to_rgb(y, u, v, matrix, bits, full_range)
    torch.testing.assert_close(back, rgb, atol=1e-5, rtol=0)
    # After rounding to codes the error is below one code step.
    codes = [to_codes(p, bits, torch.int32) for p in (y, u, v)]
    step = 1.0 / ((1 << bits) - 1)
    assert (yuv_to_rgb(*codes, matrix, bits, full_range) - rgb).abs().max() < 3 * step


def test_known_code_values() -> None:
    white, black = torch.ones(3, 1, 1), torch.zeros(3, 1, 1)
    assert [float(p) for p in rgb_to_yuv(white, "bt709", 8, False)] == pytest.approx([235, 128, 128])
    assert [float(p) for p in rgb_to_yuv(black, "bt709", 8, False)] == pytest.approx([16, 128, 128])
    assert [float(p) for p in rgb_to_yuv(white, "bt709", 10, False)] == pytest.approx([940, 512, 512])
    assert [float(p) for p in rgb_to_yuv(white, "bt601", 8, True)] == pytest.approx([255, 128, 128])
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    # BT.709 red: Y = 16 + 219 * 0.2126, Cr at the top of its range.
    y, _, v = rgb_to_yuv(red, "bt709", 8, False)
    assert float(y) == pytest.approx(16 + 219 * 0.2126)
    assert float(v) == pytest.approx(240)
    # The papers' BT.601 formula: Y = 16 + 65.481 R + 128.553 G + 24.966 B.
    y, _, _ = rgb_to_yuv(torch.tensor([0.2, 0.5, 0.7]).view(3, 1, 1), "bt601", 8, False)
    assert float(y) == pytest.approx(16 + 65.481 * 0.2 + 128.553 * 0.5 + 24.966 * 0.7, abs=1e-3)


def test_wrong_matrix_would_shift_colour() -> None:
    """Decoding BT.709 video with BT.601 changes red noticeably: the matrix matters."""
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    y, u, v = rgb_to_yuv(red, "bt709", 8, False)
    assert (yuv_to_rgb(y, u, v, "bt601", 8, False) - red).abs().max() > 0.05


@pytest.mark.parametrize("bits", [8, 10])
@pytest.mark.parametrize("full_range", [False, True])
def test_luma_model_domain_round_trip(bits: int, full_range: bool) -> None:
    codes = torch.arange(0, 1 << bits, dtype=torch.int32).view(1, -1)
    x = luma_to_model(codes, bits, full_range)
    assert x.shape == (1, 1, 1, 1 << bits)
    assert torch.equal(model_to_luma(x, bits, full_range, torch.int32), codes)


def test_luma_model_domain_matches_the_papers() -> None:
    # Limited-range black and white are 16/255 and 235/255 at any bit depth.
    for bits in (8, 10):
        step = 1 << (bits - 8)
        x = luma_to_model(torch.tensor([[16 * step, 235 * step]]), bits, False)
        torch.testing.assert_close(x.flatten(), torch.tensor([16 / 255, 235 / 255]))
    x = luma_to_model(torch.tensor([[0, 255]]), 8, True)
    torch.testing.assert_close(x.flatten(), torch.tensor([16 / 255, 235 / 255]))


def test_describe_color_follows_tags_then_conventions() -> None:
    layout = LAYOUTS["yuv420p"]
    assert describe_color(1, 1, 1, 1, layout, 360).matrix == "bt709"
    assert describe_color(9, 1, 9, 16, layout, 2160).matrix == "bt2020"
    assert describe_color(5, 0, 2, 2, layout, 1080).matrix == "bt601"
    assert describe_color(2, 0, 2, 2, layout, 576).matrix == "bt601"
    assert describe_color(2, 0, 2, 2, layout, 720).matrix == "bt709"
    assert not describe_color(2, 0, 2, 2, layout, 576).full_range
    assert describe_color(2, 2, 2, 2, layout, 576).full_range
    assert describe_color(2, 0, 2, 2, LAYOUTS["yuvj420p"], 576).full_range


def test_layouts() -> None:
    yuv420 = LAYOUTS["yuv420p"]
    assert yuv420.chroma_size(427, 241) == (214, 121)
    assert yuv420.encodable_size(1281, 723) == (1280, 722)
    assert LAYOUTS["yuv422p"].encodable_size(1281, 723) == (1280, 723)
    assert LAYOUTS["yuv444p10le"].encodable_size(1281, 723) == (1281, 723)
    assert LAYOUTS["yuv444p10le"].max_code == 1023
    assert working_layout("yuv420p10le", 10).bits == 10
    assert working_layout("rgb24", 8).pix_fmt == "yuv420p"
    assert working_layout("p010le", 10).pix_fmt == "yuv420p10le"
