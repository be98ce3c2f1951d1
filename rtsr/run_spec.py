"""What runs, as a value: the user's options, the judged input, and the RunSpec chosen from them.

    UpscaleOptions (what the user asked) + Degradation (what the input is) ─▶ choose_spec ─▶ RunSpec
    RunSpec ─▶ rtsr.runner.build_runner ─▶ Runner (the weights loaded, the engine built)

``choose_spec`` is a pure function: the same options and judgement give the
same spec, whatever ran before. rtsr.Upscaler keeps one Runner per spec, so
a picture upscaled after a compressed video runs the weights a picture gets,
not the video's. Torch-free: a spec travels to worker processes and Ray
nodes as it is.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from rtsr.catalog import weights_file
from rtsr.io.degradation import CHOICES, Degradation, asked

# A bare RGB array says nothing of how it was stored: under "auto" it gets the clean weights.
UNJUDGED = Degradation("none", "a picture given as pixels")


@dataclass(frozen=True)
class UpscaleOptions:
    """What the user asked for (rtsr.Upscaler's arguments), checked, before any input is seen.

    ``degradation``: "auto" (judge each input), "none" or "compressed" (those
    shipped weights); ``weights``: a weights file that always runs;
    ``engine``: a name from rtsr.engines.ENGINE_NAMES or "auto".
    """

    model: str = "fsrcnn"
    scale: int = 3
    engine: str = "auto"
    weights: str | None = None
    engine_dir: str | None = None
    compile: bool = True
    degradation: str = "auto"

    def __post_init__(self) -> None:
        if self.degradation not in CHOICES:
            raise ValueError(f"degradation {self.degradation!r}: choose from {', '.join(CHOICES)}")
        if self.weights and self.degradation not in ("auto", "none"):
            raise ValueError("--weights names the weights to run, so --degradation cannot pick others")

    @property
    def judges_inputs(self) -> bool:
        """Whether the spec depends on the input: shipped weights under "auto"."""
        return self.degradation == "auto" and not self.weights


@dataclass(frozen=True)
class RunSpec:
    """One network, its weights and its engine: everything that decides an upscaled frame's pixels.

    ``degradation``: the shipped weights' level (none | compressed; "none" for
    a given ``weights`` file); ``engine``: as asked ("auto") or settled by name
    ("openvino-bf16"), which is how segment workers receive it.
    """

    model: str
    scale: int
    degradation: str
    weights: str | None
    engine: str
    engine_dir: str | None = None
    compile: bool = True

    @property
    def precision(self) -> str:
        """The arithmetic the engine runs in: fp16 (cuda, tensorrt), bf16 (openvino-bf16), int8
        (openvino-int8), f32 (cpu, openvino), or "measured" (auto on the CPU picks per frame size,
        rtsr.engines.picking)."""
        if self.engine in ("cuda", "tensorrt"):
            return "fp16"
        if self.engine == "auto":
            return "measured"
        return next((p for p in ("bf16", "int8") if self.engine.endswith(p)), "f32")


def choose_spec(options: UpscaleOptions, judged: Degradation | None = None) -> tuple[RunSpec, str]:
    """The spec that runs for an input judged ``judged`` (None: a bare picture), and why, for the report:
    "fsrcnn ×4 for compressed input (h264, mean QP 31.2 over 48 frames)", "my.pt (given)".

    The judgement counts only under degradation "auto" with shipped weights; a
    level without shipped weights for this model and scale falls back to the
    clean ones, and the reason says so.
    """
    spec = RunSpec(options.model, options.scale, "none", options.weights, options.engine, options.engine_dir,
                   options.compile)
    if options.weights:
        return spec, f"{options.weights} (given)"
    level = (judged or UNJUDGED) if options.degradation == "auto" else asked(options.degradation)
    if level.level != "none" and not weights_file(options.model, options.scale, level.level).is_file():
        level = Degradation("none", f"{level.reason}; no shipped {options.model} ×{options.scale} weights for "
                                    f"{level.level} input")
    return dataclasses.replace(spec, degradation=level.level), f"{options.model} ×{options.scale} {level.describe()}"

