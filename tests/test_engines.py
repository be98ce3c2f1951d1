import pytest
import torch

from rtsr.engines import EngineChoice, choose_engine, run_in_strips, unavailable_reason
from rtsr.engines.cpu import CpuEngine
from rtsr.errors import EngineUnavailable
from rtsr.models import MODELS


def test_cpu_is_always_available_and_auto_explains_skips() -> None:
    assert choose_engine("cpu") == EngineChoice("cpu")
    choice = choose_engine("auto")
    if not torch.cuda.is_available():
        assert choice.name == "cpu"
        assert set(choice.skipped) == {"tensorrt", "cuda"}
        reason = choice.skipped["cuda"]
        if choice.skipped["tensorrt"] == reason:  # one reason, said once (it was said twice in every summary)
            assert choice.describe().count(reason) == 1 and "tensorrt and cuda skipped" in choice.describe()
        else:
            assert "tensorrt skipped" in choice.describe()
        assert choice.candidates == ("cpu", "openvino")  # timed on the run's shape (rtsr.engines.picking)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU messages")
@pytest.mark.parametrize("name", ["cuda", "tensorrt"])
def test_gpu_engines_say_why_they_are_not_available(name: str) -> None:
    reason = unavailable_reason(name)
    assert reason
    with pytest.raises(EngineUnavailable, match=f"engine {name} is not available here: "):
        choose_engine(name)


def test_unknown_engine() -> None:
    with pytest.raises(EngineUnavailable, match="unknown engine 'vulkan'"):
        choose_engine("vulkan")


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("name, channels", [("fsrcnn", 1), ("srcnn", 1), ("srresnet", 3)])
def test_strips_equal_one_whole_frame_pass(name: str, channels: int, scale: int) -> None:
    torch.manual_seed(0)
    model = MODELS[name].build(scale, **({"blocks": 2} if name == "srresnet" else {})).eval()
    if name == "fsrcnn":
        torch.nn.init.normal_(model.deconv.weight, std=0.1)
    x = torch.rand(1, channels, 41, 19)
    with torch.no_grad():
        whole = model(x)
        strips = run_in_strips(model, x, scale, rows=5, halo=model.receptive_radius())
    torch.testing.assert_close(strips, whole, atol=1e-5, rtol=1e-4)


def test_strips_with_too_little_context_differ() -> None:
    """The strip test above can fail: without halo the strip seams show."""
    torch.manual_seed(0)
    model = MODELS["srcnn"].build(2).eval()
    x = torch.rand(1, 1, 40, 16)
    with torch.no_grad():
        assert not torch.allclose(run_in_strips(model, x, 2, rows=5, halo=0), model(x), atol=1e-5)


def test_cpu_engine_runs_the_fast_form() -> None:
    torch.manual_seed(0)
    model = MODELS["fsrcnn"].build(3).eval()
    engine = CpuEngine(model, strip_pixels=16 * 8)
    x = torch.rand(1, 1, 30, 16)
    with torch.no_grad():
        torch.testing.assert_close(engine.run(x), model(x), atol=1e-5, rtol=1e-4)


def test_strips_are_balanced_so_no_sliver_reaches_the_network() -> None:
    heights: list[int] = []

    def network(x: torch.Tensor) -> torch.Tensor:
        heights.append(x.shape[-2])
        return x.repeat_interleave(2, -1).repeat_interleave(2, -2)

    x = torch.rand(1, 1, 101, 8)
    out = run_in_strips(network, x, 2, rows=50, halo=4)  # naive split: 50 + 50 + 1
    assert torch.equal(out, network(x))
    assert len(heights) == 4 and min(heights[:3]) >= 33 + 4  # strips of 34/34/33 rows plus context
