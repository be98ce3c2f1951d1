"""rtsr's networks as ONNX: for the OpenVINO engine, and for people who run our weights elsewhere.

The graph is the inference network (rtsr.models ``for_inference``: FSRCNN's
deconvolution as a sub-pixel convolution and a pixel shuffle, SRCNN with its
bicubic step inside), exported by torch's TorchScript-based exporter at opset
17 with dynamic height and width. Metadata in the file says what to feed it
and what comes out, so ONNX Runtime, OpenVINO, vs-mlrt or ``trtexec`` users
need nothing else from rtsr (docs/architecture.md shows how).
"""

from __future__ import annotations

import io
import warnings

import torch

from rtsr.checkpoints import LoadedModel
from rtsr.quantization import int8_network
from rtsr.version import __version__

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "lr", "hr"

_DOMAINS = {
    "y": ("BT.601 studio-range luma (Y code / 255: 16/255 is black, 235/255 is white), "
          "the papers' domain; chroma is not the network's (rtsr resizes it bicubically)"),
    "rgb": "RGB, full range, the stream's own matrix applied before (rtsr.color)",
}


def layout(loaded: LoadedModel) -> str:
    """The input and output tensors in words; a recurrent model's carry its state (rtsr.temporal.network)."""
    s, recurrent = loaded.scale, loaded.recurrent
    if recurrent is None:
        return (f"input (1, {loaded.channels}, H, W); output (1, {loaded.channels}, H*{s}, W*{s}); "
                "any H, W of at least 1")
    state = recurrent.state_channels
    return (f"recurrent, one frame per call in display order: input (1, {loaded.channels}, H, W) = this frame's "
            f"luma, then the memory warped onto this frame by the backward flow: the previous frame's luma, the "
            f"previous output folded by pixel_unshuffle({s}) ({s * s} channels), and the {state}-channel state "
            f"(first frame or scene cut: this luma, the luma repeated, zeros); output "
            f"(1, {1 + state // (s * s)}, H*{s}, W*{s}) = the HR luma, then the new state by pixel_shuffle({s}): "
            f"pixel_unshuffle({s}) of the whole output gives the next memory's last {s * s + state} channels")


def onnx_metadata(loaded: LoadedModel) -> dict[str, str]:
    """What a user of the ONNX file needs to know, as string pairs (ONNX's metadata_props)."""
    return {
        "rtsr.version": __version__,
        "rtsr.model": loaded.name,
        "rtsr.scale": str(loaded.scale),
        "rtsr.channels": str(loaded.channels),
        "rtsr.colour_domain": _DOMAINS[loaded.planes],
        "rtsr.value_range": "float32 in [0, 1] in; float32 out, to be clamped to [0, 1]",
        "rtsr.layout": layout(loaded),
        "rtsr.receptive_radius": str(loaded.receptive_radius),
        "rtsr.weights_sha256": loaded.weights_sha256,
        "rtsr.weights_meta": ", ".join(f"{k}={v}" for k, v in sorted(loaded.meta.items())
                                       if isinstance(v, (str, int, float))),
    }


def export_onnx(loaded: LoadedModel, example_hw: tuple[int, int] = (64, 64), int8: bool = False) -> bytes:
    """The inference network of ``loaded`` as a serialized ONNX model (opset OPSET, dynamic H and W).

    Input ``lr``: (1, C, H, W) float32; output ``hr``: (1, C, H·scale, W·scale)
    float32, C and the value domain as in onnx_metadata. ``example_hw`` is
    the traced size; any other size runs too. ``int8``: ``loaded`` holds int8
    weights (rtsr.quantization) and the graph carries their grid as
    QuantizeLinear/DequantizeLinear pairs around every convolution.
    """
    import onnx  # noqa: PLC0415  (a dependency; imported here so plain `import rtsr` stays light)

    if int8:
        quantized = int8_network(loaded.network, loaded.meta)
        if quantized is None:
            raise ValueError(f"{loaded.weights} does not hold int8 weights")
        network = quantized.exportable()
    else:
        network = loaded.network.for_inference().eval().requires_grad_(False)
    example = torch.rand(1, loaded.channels, *example_hw)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated in favour of the dynamo one, which
        # needs onnxscript (not otherwise a dependency); this one's graphs are tested against torch.
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
        with torch.inference_mode(False), torch.no_grad():
            torch.onnx.export(network, (example,), buffer, dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {2: "height", 3: "width"},
                                            OUTPUT_NAME: {2: "height_out", 3: "width_out"}})
    model = onnx.load_from_string(buffer.getvalue())
    described = onnx_metadata(loaded)
    if int8:
        described["rtsr.precision"] = ("int8: every convolution's input and weights on the QuantizeLinear/"
                                       "DequantizeLinear grids in the graph (quantization-aware weights)")
    for key, value in described.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = f"rtsr {loaded.name} ×{loaded.scale}: see the rtsr.* metadata for input and output"
    return model.SerializeToString()
