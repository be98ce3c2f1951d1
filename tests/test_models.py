import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rtsr.checkpoints import load_model, save_checkpoint
from rtsr.errors import WeightsError
from rtsr.models import (
    FSRCNN,
    MODELS,
    SCALES,
    SRCNN,
    SRResNet,
    get_architecture,
)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name, channels", [("fsrcnn", 1), ("srcnn", 1), ("srresnet", 3)])
def test_every_model_maps_lr_to_exactly_scale_times_larger(name: str, channels: int, scale: int) -> None:
    model = MODELS[name].build(scale).eval()
    with torch.no_grad():
        out = model(torch.rand(2, channels, 11, 13))
    assert out.shape == (2, channels, 11 * scale, 13 * scale)


@pytest.mark.parametrize("scale", SCALES)
def test_fsrcnn_subpixel_form_equals_transposed_convolution(scale: int) -> None:
    torch.manual_seed(scale)
    model = FSRCNN(scale).eval()
    with torch.no_grad():
        model.deconv.weight.normal_(0, 0.1)
        model.deconv.bias.fill_(0.3)
        x = torch.rand(1, 1, 17, 23)
        model.subpixel = False
        reference = model(x)
        model.subpixel = True
        fast = model(x)
        frozen = model.for_inference()(x)
    assert isinstance(model.deconv, torch.nn.ConvTranspose2d)
    assert model.deconv.kernel_size == (9, 9) and model.deconv.stride == (scale, scale)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(frozen, reference, atol=1e-5, rtol=1e-5)


def test_fsrcnn_has_the_papers_layers() -> None:
    model = FSRCNN(3)
    convs = [m for m in model.body if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(5, 5), (1, 1)] + [(3, 3)] * 4 + [(1, 1)]
    assert [c.out_channels for c in convs] == [56, 12, 12, 12, 12, 12, 56]
    assert sum(isinstance(m, torch.nn.PReLU) for m in model.body) == 7


def test_srcnn_is_9_5_5_with_64_32_filters() -> None:
    convs = [m for m in SRCNN(3).body if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(9, 9), (5, 5), (5, 5)]
    assert [c.out_channels for c in convs] == [64, 32, 1]


def test_srresnet_has_16_blocks_of_64_channels_with_bn() -> None:
    model = SRResNet(4)
    assert len(model.body) == 16 and model.channels == 64
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.body[0].modules())
    assert sum(isinstance(m, torch.nn.PixelShuffle) for m in model.upsample) == 2
    assert model.head[0].kernel_size == (9, 9) and model.tail.kernel_size == (9, 9)


def _save(tmp_path: Path, name: str, scale: int, **hparams: int) -> Path:
    model = MODELS[name].build(scale, **hparams)
    path = tmp_path / f"{name}_{scale}.pt"
    save_checkpoint(path, model, name, scale, iterations=7)
    return path


def test_checkpoint_round_trip_reads_hyper_parameters_from_the_weights(tmp_path: Path) -> None:
    path = _save(tmp_path, "fsrcnn", 2, d=32, s=5, m=1)
    loaded = load_model("fsrcnn", 2, path)
    model, meta = loaded.network, loaded.meta
    assert (model.d, model.s, model.m) == (32, 5, 1)
    assert meta == {"iterations": 7}
    assert not model.training


def test_bare_state_dict_loads_and_its_srresnet_scale_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "bare.pt"
    torch.save(SRResNet(2, blocks=2).state_dict(), path)
    model = load_model("srresnet", 2, path).network
    assert model.blocks == 2
    with pytest.raises(WeightsError, match="×2, not ×4"):
        load_model("srresnet", 4, path)


def test_wrong_architecture_is_a_clear_error(tmp_path: Path) -> None:
    path = _save(tmp_path, "srcnn", 3)
    with pytest.raises(WeightsError, match="holds srcnn weights, not fsrcnn"):
        load_model("fsrcnn", 3, path)
    bare = tmp_path / "bare_fsrcnn.pt"
    torch.save(FSRCNN(3).state_dict(), bare)
    with pytest.raises(WeightsError, match="does not hold srcnn weights"):
        load_model("srcnn", 3, bare)


def test_wrong_scale_is_a_clear_error(tmp_path: Path) -> None:
    path = _save(tmp_path, "fsrcnn", 3)
    with pytest.raises(WeightsError, match="is for ×3, not ×2"):
        load_model("fsrcnn", 2, path)


def test_unreadable_and_missing_weights(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read weights"):
        load_model("fsrcnn", 3, garbage)
    with pytest.raises(WeightsError, match="weights file not found"):
        load_model("fsrcnn", 3, tmp_path / "missing.pt")


def test_missing_shipped_weights_say_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("rtsr.catalog.WEIGHTS_DIR", tmp_path)
    with pytest.raises(WeightsError, match=r"no trained weights for srresnet ×3; pass --weights FILE"):
        load_model("srresnet", 3)


def test_unknown_model_and_scale() -> None:
    with pytest.raises(WeightsError, match="unknown model 'edsr'"):
        get_architecture("edsr")
    with pytest.raises(WeightsError, match="unsupported scale 5"):
        load_model("fsrcnn", 5)


def test_registry_is_explicit_and_consistent() -> None:
    assert set(MODELS) >= {"fsrcnn", "srcnn", "srresnet"}
    assert {a.planes for a in MODELS.values()} == {"y", "rgb"}
    for entry in MODELS.values():
        model = entry.build(2)
        assert entry.matches(model.state_dict())


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", ["fsrcnn", "srcnn", "srresnet"])
def test_shipped_weights_load_by_default_and_describe_themselves(name: str, scale: int) -> None:
    loaded = load_model(name, scale)
    model, meta = loaded.network, loaded.meta
    assert model.scale == scale and not model.training
    assert meta["iterations"] > 0 and meta["val_psnr"] > 20 and "git_commit" in meta
    assert all(p.dtype == torch.float32 for p in model.parameters())  # fp16-stored files compute in fp32


def test_the_catalog_names_every_model_the_registry_builds() -> None:
    from rtsr.catalog import DESCRIPTIONS

    assert list(DESCRIPTIONS) == list(MODELS) and all(MODELS[n].description == d for n, d in DESCRIPTIONS.items())


def test_models_import_without_the_video_stack() -> None:
    """Training tools import rtsr.models on machines that may lack PyAV; Upscaler still loads on use."""
    code = ("import sys, rtsr.models; assert 'av' not in sys.modules, 'av imported'; "
            "from rtsr import Upscaler; assert 'av' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
