import math

import pytest
import torch
import torch.nn.functional as F
from conftest import SITING_OFFSET

from rtsr.color import (
    MATRIX_COEFFICIENTS,
    luma_to_model,
    model_to_luma,
    resample_chroma,
    resize_plane,
    rgb_to_yuv,
    subsample_chroma,
    to_codes,
    upsample_columns,
    yuv_to_rgb,
)
from rtsr.formats import LAYOUTS, chroma_siting, describe_color, working_layout


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


# --------------------------------------------------------------------------- chroma siting


def _bicubic_at(plane: torch.Tensor, columns: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``plane`` sampled at fractional (rows × columns) positions, pixel k's centre at k:
    an independent bicubic (grid_sample, a = -0.75, edges repeated)."""
    height, width = plane.shape
    gx, gy = (2 * columns + 1) / width - 1, (2 * rows + 1) / height - 1
    grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), -1)[None].float()
    return F.grid_sample(plane[None, None].float(), grid, mode="bicubic", padding_mode="border",
                         align_corners=False)[0, 0]


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_upsample_columns_centred_is_the_usual_bicubic_resize(factor: int) -> None:
    plane = torch.rand(7, 11, generator=torch.Generator().manual_seed(factor)) * 255
    out = upsample_columns(plane, factor, (1 / factor - 1) / 2)
    torch.testing.assert_close(out, resize_plane(plane, 7, 11 * factor), atol=1e-3, rtol=0)


@pytest.mark.parametrize("scale", [1, 2, 3, 4])
@pytest.mark.parametrize("siting_in", ["left", "center"])
@pytest.mark.parametrize("siting_out", ["left", "center"])
def test_resample_chroma_samples_where_the_sitings_put_each_chroma_sample(scale, siting_in, siting_out) -> None:
    """Output chroma column j sits at output luma x = 2j + a_out, which is input luma
    (x + 0.5)/scale - 0.5, which is input chroma column (that - a_in)/2."""
    plane = torch.rand(9, 13, generator=torch.Generator().manual_seed(scale)) * 255
    out = resample_chroma(plane, scale, (1, 1), siting_in, (1, 1), siting_out)
    assert out.shape == (9 * scale, 13 * scale)
    x_out = 2 * torch.arange(out.shape[1], dtype=torch.float64) + SITING_OFFSET[siting_out]
    columns = ((x_out + 0.5) / scale - 0.5 - SITING_OFFSET[siting_in]) / 2
    rows = (torch.arange(out.shape[0], dtype=torch.float64) + 0.5) / scale - 0.5  # rows are centred
    torch.testing.assert_close(out, _bicubic_at(plane, columns, rows), atol=1e-3, rtol=0)


@pytest.mark.parametrize("siting", ["left", "center"])
def test_resample_chroma_onto_the_luma_grid(siting: str) -> None:
    plane = torch.rand(5, 6, generator=torch.Generator().manual_seed(3)) * 255
    out = resample_chroma(plane, 1, (1, 0), siting, (0, 0), "center")  # 4:2:2 -> 4:4:4
    assert out.shape == (5, 12)
    columns = (torch.arange(12, dtype=torch.float64) - SITING_OFFSET[siting]) / 2
    torch.testing.assert_close(out, _bicubic_at(plane, columns, torch.arange(5.0)), atol=1e-3, rtol=0)


def test_subsample_chroma_puts_each_sample_where_its_siting_says() -> None:
    ramp = torch.arange(20.0).repeat(6, 1)  # value = luma column
    left, centre = subsample_chroma(ramp, (1, 1), "left"), subsample_chroma(ramp, (1, 1), "center")
    assert left.shape == centre.shape == (3, 10)
    torch.testing.assert_close(left[:, 1:], ramp[:3, 2:20:2])  # at x = 2j
    torch.testing.assert_close(centre, ramp[:3, 0:20:2] + 0.5)  # at x = 2j + 0.5
    assert subsample_chroma(torch.zeros(5, 21), (1, 1), "left").shape == (3, 11)
    assert subsample_chroma(torch.zeros(5, 21), (1, 0), "center").shape == (5, 11)


def test_chroma_survives_subsampling_and_upsampling_only_when_the_siting_matches() -> None:
    """Smooth colour, subsampled as an encoder would, comes back in place; read with
    the other siting it moves sideways by half a luma pixel."""
    x = torch.arange(64, dtype=torch.float32)
    truth = (128 + 100 * torch.sin(2 * math.pi * x / 32)).repeat(8, 1)
    inner = slice(4, -4)
    for siting, other in (("left", "center"), ("center", "left")):
        stored = subsample_chroma(truth, (1, 1), siting)
        back = resample_chroma(stored, 1, (1, 1), siting, (0, 0), "center")
        wrong = resample_chroma(stored, 1, (1, 1), other, (0, 0), "center")
        assert (back - truth)[:, inner].abs().max() < 2.5
        assert (wrong - truth)[:, inner].abs().max() > 7


def test_chroma_siting_follows_the_codec_and_the_conversion() -> None:
    yuv420 = LAYOUTS["yuv420p"]
    assert chroma_siting("h264", (1, 1), yuv420) == "left"
    assert chroma_siting("hevc", (1, 1), LAYOUTS["yuv420p10le"]) == "left"
    assert chroma_siting("mpeg1video", (1, 1), yuv420) == "center"
    assert chroma_siting("mjpeg", (1, 1), LAYOUTS["yuvj420p"]) == "center"
    assert chroma_siting("ffv1", (0, 0), yuv420) == "center"  # RGB, subsampled by FFmpeg's scaler
    assert chroma_siting("dvvideo", (2, 0), yuv420) == "center"  # 4:1:1, resampled likewise
    assert chroma_siting("h264", (1, 0), LAYOUTS["yuv422p"]) == "left"
