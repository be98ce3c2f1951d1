import numpy as np
import pytest
import torch
from conftest import SITING_OFFSET

from rtsr.color import rgb_to_yuv, to_codes
from rtsr.engines.base import HostTimer
from rtsr.formats import LAYOUTS, ColorInfo
from rtsr.plane_upscaler import PlaneUpscaler, upscale_rgb_image


class NearestEngine:
    """A stand-in network: nearest-neighbour upscaling, so expected planes are known exactly."""

    name = "nearest"
    device = torch.device("cpu")

    def __init__(self, scale: int) -> None:
        self.scale = scale
        self.inputs: list[torch.Tensor] = []

    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.clone())
        return x.repeat_interleave(self.scale, -1).repeat_interleave(self.scale, -2)

    def timer(self) -> HostTimer:
        return HostTimer()

    def synchronize(self) -> None:
        pass


def _flat_planes(layout_name: str, width: int, height: int, rgb: tuple[float, float, float],
                 color: ColorInfo) -> list[np.ndarray]:
    layout = LAYOUTS[layout_name]
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    values = rgb_to_yuv(torch.tensor(rgb).view(3, 1, 1), color.matrix, layout.bits, color.full_range)
    cw, ch = layout.chroma_size(width, height)
    sizes = [(height, width), (ch, cw), (ch, cw)]
    return [np.full(size, int(to_codes(v, layout.bits, torch.int32)), dtype) for v, size in zip(values, sizes)]


@pytest.mark.parametrize("layout_name", ["yuv420p", "yuv422p", "yuv444p", "yuv420p10le"])
def test_luma_model_sees_only_luma_and_chroma_is_resized(layout_name: str) -> None:
    layout = LAYOUTS[layout_name]
    rng = np.random.default_rng(0)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    width, height, scale = 13, 9, 3
    cw, ch = layout.chroma_size(width, height)
    planes = [rng.integers(0, layout.max_code + 1, size, dtype=dtype)
              for size in [(height, width), (ch, cw), (ch, cw)]]
    engine = NearestEngine(scale)
    out_w, out_h = layout.encodable_size(width * scale, height * scale)
    upscaler = PlaneUpscaler(engine, "y", scale, layout, ColorInfo("bt709", False), (out_w, out_h))
    y, u, v = upscaler(planes)
    assert engine.inputs[0].shape == (1, 1, height, width)
    assert y.dtype == dtype and y.shape == (out_h, out_w)
    expected_y = planes[0].repeat(scale, 0).repeat(scale, 1)[:out_h, :out_w]
    assert np.array_equal(y, expected_y)
    assert u.shape == v.shape == layout.chroma_size(out_w, out_h)[::-1]


def test_flat_chroma_stays_flat_after_resizing() -> None:
    color = ColorInfo("bt709", False)
    planes = _flat_planes("yuv420p", 10, 6, (0.8, 0.3, 0.1), color)
    out = PlaneUpscaler(NearestEngine(2), "y", 2, LAYOUTS["yuv420p"], color, (20, 12))(planes)
    for before, after in zip(planes, out):
        assert np.all(after == before.flat[0])


@pytest.mark.parametrize("siting", ["left", "center"])
def test_chroma_stays_where_the_colour_was(siting: str) -> None:
    """Colour that varies smoothly across the picture, stored with the input's
    siting, lands on the output's (left-sited) chroma samples where it belongs;
    read with the other siting it would move by 1/3 input pixel at x3."""
    width, height, scale = 64, 8, 3

    def colour(x: np.ndarray) -> np.ndarray:  # chroma code value at input luma column x
        return 128 + 100 * np.sin(2 * np.pi * x / 32)

    stored = colour(2 * np.arange(width // 2) + SITING_OFFSET[siting])
    planes = [np.full((height, width), 100, np.uint8)]
    planes += [np.round(np.tile(stored, (height // 2, 1))).astype(np.uint8)] * 2
    out_size = (width * scale, height * scale)
    expected = colour((2 * np.arange(width * scale // 2) + 0.5) / scale - 0.5)  # output chroma is left-sited
    inner = slice(6, -6)
    errors = {}
    for read_as in ("left", "center"):
        color = ColorInfo("bt601", False, chroma_siting=read_as)
        _, u, v = PlaneUpscaler(NearestEngine(scale), "y", scale, LAYOUTS["yuv420p"], color, out_size)(planes)
        assert np.array_equal(u, v)
        errors[read_as] = np.abs(u.astype(float) - expected)[:, inner].max()
    other = "center" if siting == "left" else "left"
    assert errors[siting] <= 3.0  # bicubic on 16 samples a period, and rounding twice
    assert errors[other] >= 8.0


@pytest.mark.parametrize("matrix", ["bt601", "bt709", "bt2020"])
@pytest.mark.parametrize("layout_name, full_range", [("yuv420p", False), ("yuv444p", True), ("yuv420p10le", False)])
def test_rgb_model_round_trip_keeps_colour(matrix: str, layout_name: str, full_range: bool) -> None:
    """YUV -> RGB -> (identity-like network) -> YUV gives back the same codes: no colour shift."""
    color = ColorInfo(matrix, full_range)
    layout = LAYOUTS[layout_name]
    planes = _flat_planes(layout_name, 8, 6, (0.9, 0.2, 0.4), color)
    engine = NearestEngine(2)
    out = PlaneUpscaler(engine, "rgb", 2, layout, color, (16, 12))(planes)
    rgb_seen = engine.inputs[0][0, :, 0, 0]
    # Within 8-bit code rounding (about 1.5 steps of 1/219 after the matrix).
    torch.testing.assert_close(rgb_seen, torch.tensor([0.9, 0.2, 0.4]), atol=8e-3, rtol=0)
    for before, after in zip(planes, out):
        assert np.abs(after.astype(int) - int(before.flat[0])).max() <= 1


def test_rgb_model_with_the_wrong_matrix_would_be_caught() -> None:
    """The same check fails when the stream's matrix is ignored (BT.709 data read as BT.601)."""
    planes = _flat_planes("yuv444p", 8, 6, (0.9, 0.2, 0.4), ColorInfo("bt709", False))
    engine = NearestEngine(2)
    PlaneUpscaler(engine, "rgb", 2, LAYOUTS["yuv444p"], ColorInfo("bt601", False), (16, 12))(planes)
    assert (engine.inputs[0][0, :, 0, 0] - torch.tensor([0.9, 0.2, 0.4])).abs().max() > 0.02


def test_stage_times_are_recorded() -> None:
    color = ColorInfo("bt601", False)
    upscaler = PlaneUpscaler(NearestEngine(2), "y", 2, LAYOUTS["yuv420p"], color, (20, 12))
    upscaler(_flat_planes("yuv420p", 10, 6, (0.5, 0.5, 0.5), color))
    assert upscaler.clock.seconds["inference"] > 0
    assert upscaler.clock.seconds["convert"] > 0


@pytest.mark.parametrize("planes", ["y", "rgb"])
def test_upscale_rgb_image_keeps_a_flat_colour(planes: str) -> None:
    rgb = np.zeros((5, 7, 3), np.uint8)
    rgb[...] = (200, 40, 90)
    out = upscale_rgb_image(NearestEngine(3), planes, 3, rgb)
    assert out.shape == (15, 21, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb[0, 0]).max() <= 1
