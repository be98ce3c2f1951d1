"""Where bf16 or int8 may stand in for f32 without being asked: a quality gate, from measurement.

bf16 runs the openvino engine 1.7-5× faster than f32 on a CPU with AMX,
but it rounds every activation to 8 bits of mantissa, which costs quality.
The rule (issue 28): a lower precision runs by default only where it costs at
most MAX_LOSS_DB on Set5 and Set14 and gains at least MIN_GAIN in speed. The
loss depends on the weights, so the gate lists the shipped weights by their
digest, with the loss measured by

    python -m tools.lower_precision --data ../shared/datasets --models fsrcnn srcnn --scales 2 3 4 --no-int8
    python -m tools.lower_precision --data ../shared/datasets --models srresnet --scales 2 3 4 --no-int8 --rounds 3
    python -m tools.lower_precision --data ../shared/datasets --models fsrcnn --scales 2 3 4 --no-int8 \\
        --degradation compressed

(figures and date in docs/performance.md). Weights not listed -- a user's
own, or shipped ones retrained later -- are never run in bf16 unless asked
for (``--engine openvino-bf16``). The gain is measured on the user's machine
each time auto picks (rtsr.engines.picking).

int8 runs other weights, trained for it (rtsr.quantization), so its gate
lists those int8 weights by their digest, with the loss of the int8 engine
against the f32 weights they were trained from, measured by

    python -m tools.lower_precision --data ../shared/datasets --models fsrcnn --scales 2 3 4
    python -m tools.lower_precision --data ../shared/datasets --models fsrcnn --scales 2 3 4 --degradation compressed
"""

from __future__ import annotations

from rtsr.checkpoints import LoadedModel
from rtsr.quantization import int8_weights

MAX_LOSS_DB = 0.05
MIN_GAIN = 1.3
LOWER_PRECISION_ENGINES = ("openvino-bf16", "openvino-int8")

# weights_sha256 prefix -> (model, scale, worst Set5/Set14 PSNR loss of bf16 against f32, dB), measured
# 2026-12-01 on the development machine. Left out, for costing more than MAX_LOSS_DB:
# fsrcnn ×2 (f19358957f4e32da: -0.10 dB on Set5, -0.05 on Set14).
BF16_MEASURED_LOSS = {
    "67e2ed7a57d1d4fc": ("fsrcnn", 3, 0.02),
    "5ead4a3abecf6b2f": ("fsrcnn", 4, 0.02),
    "c2ce4ad30f04801f": ("srcnn", 2, 0.04),
    "9b982e5c9ce0ffb6": ("srcnn", 3, 0.02),
    "3d8f469729831f2e": ("srcnn", 4, 0.01),
    "4d31a489fdff949c": ("srresnet", 2, 0.00),  # below 0.005 dB
    "164cfb288d0c0a48": ("srresnet", 3, 0.00),
    "4fc59ae81edc1c7a": ("srresnet", 4, 0.00),
    # FSRCNN for compressed input (rtsr/weights/fsrcnn_x*_compressed.pt): bf16 scored 0.01-0.09 dB above f32
    "2e781293df0bad96": ("fsrcnn", 2, 0.00),
    "de0f018d580783b7": ("fsrcnn", 3, 0.00),
    "7a6053508dbe3ba1": ("fsrcnn", 4, 0.00),
}


def bf16_loss_db(loaded: LoadedModel) -> float | None:
    """The measured bf16 loss of these weights when they pass the gate, else None (never bf16 by default)."""
    entry = BF16_MEASURED_LOSS.get(loaded.weights_sha256[:16])
    if entry is None or entry[:2] != (loaded.name, loaded.scale) or entry[2] > MAX_LOSS_DB:
        return None
    return entry[2]

# int8 weights' sha256 prefix -> (model, scale, worst Set5/Set14 PSNR loss of openvino-int8 against the f32
# weights they were trained from, dB), measured on the development machine (docs/performance.md).
# 2026-12-04, Intel Xeon family 6 model 167 (AMX): every one over the gate, so int8 runs only when asked for.
INT8_MEASURED_LOSS: dict[str, tuple[str, int, float]] = {
    "a125351b04a31825": ("fsrcnn", 2, 0.35),  # Set5 -0.35, Set14 -0.17 dB
    "13e56704f28bf0cb": ("fsrcnn", 3, 0.15),  # Set5 -0.15, Set14 -0.09
    "841021c1f9d968bd": ("fsrcnn", 4, 0.09),  # Set5 -0.09, Set14 -0.06
    # from the weights for compressed input (fsrcnn_x*_compressed_int8.pt)
    "cd2d2e873a34e339": ("fsrcnn", 2, 0.41),  # Set5 -0.41, Set14 -0.23
    "86c3d80c725113da": ("fsrcnn", 3, 0.14),  # Set5 -0.14, Set14 -0.09
    "b2bdc36401d314be": ("fsrcnn", 4, 0.06),  # Set5 -0.06, Set14 -0.05
}


def is_lower_precision(engine: str) -> bool:
    return engine in LOWER_PRECISION_ENGINES


def lower_precisions(loaded: LoadedModel) -> tuple[dict[str, float], dict[str, str]]:
    """Which lower-precision engines may run ``loaded`` by default: {engine: measured loss in dB} for those
    that pass the gate, and {engine: why not} for the others (said in the summary)."""
    passed, refused = {}, {}
    bf16 = bf16_loss_db(loaded)
    if bf16 is None:
        refused["openvino-bf16"] = f"these weights are not measured within {MAX_LOSS_DB:g} dB of f32 in bf16"
    else:
        passed["openvino-bf16"] = bf16
    int8 = int8_weights(loaded)
    entry = None if int8 is None else INT8_MEASURED_LOSS.get(int8.weights_sha256[:16])
    if int8 is None:
        refused["openvino-int8"] = "no int8 weights were trained from these"
    elif entry is None or entry[:2] != (loaded.name, loaded.scale):
        refused["openvino-int8"] = "their int8 weights are not measured (rtsr/engines/precision.py)"
    elif entry[2] > MAX_LOSS_DB:
        refused["openvino-int8"] = (f"their int8 weights cost {entry[2]:.2f} dB on Set5/Set14, over the "
                                    f"{MAX_LOSS_DB:g} dB a lower precision may cost by default")
    else:
        passed["openvino-int8"] = entry[2]
    return passed, refused
