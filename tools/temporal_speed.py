"""The recurrent model's step against FSRCNN, model only, on the cpu engine (docs/temporal.md).

    python -m tools.temporal_speed 4            # ×4 at 640×360 LR: FSRCNN, rlsp's engine, its whole step
    python -m tools.temporal_speed 3 32 5       # another width/depth of rlsp (random weights: speed only)

Medians of 8 after one untimed call, 2 threads, on a smooth picture panning
2 pixels a frame (rtsr.bench.panning_frames), so the memory is warped and
kept, as in a video. Run it with nothing else on the machine.
"""

from __future__ import annotations

import sys
import time

import torch

from rtsr.bench import panning_frames
from rtsr.engines.cpu import CpuEngine
from rtsr.models import FSRCNN
from rtsr.temporal.motion import backward_flow
from rtsr.temporal.network import RLSP, reset_memory, warp
from rtsr.temporal.state import Recurrence, luma_codes


def median_ms(run, count: int = 8) -> float:
    run()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(sorted(times)[count // 2] * 1000, 1)


def main() -> None:
    scale = int(sys.argv[1])
    channels = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    layers = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    torch.set_num_threads(2)
    height, width = 360, 640
    model = RLSP(scale, channels, layers).eval()
    engine, fsrcnn = CpuEngine(model), CpuEngine(FSRCNN(scale).eval())
    pan = panning_frames(height, width, torch.device("cpu"))
    with torch.inference_mode():
        memory = reset_memory(pan[1], model.layout)
        packed = torch.cat([pan[1], memory], dim=1)
        flow = torch.from_numpy(backward_flow(luma_codes(pan[1]), luma_codes(pan[0]))).permute(2, 0, 1)[None]
        recurrence = Recurrence(model.layout)
        step = median_ms(lambda: recurrence.step(engine.run, pan[recurrence.frames % len(pan)]))
        base = median_ms(lambda: fsrcnn.run(pan[1]))
        print(f"×{scale} rlsp {channels}×{layers}, 640×360: FSRCNN {base} ms | rlsp engine "
              f"{median_ms(lambda: engine.run(packed))} ms | whole step {step} ms ({step / base:.2f}×) | DIS "
              f"{median_ms(lambda: backward_flow(luma_codes(pan[1]), luma_codes(pan[0])))} ms | warp "
              f"{median_ms(lambda: warp(memory, flow))} ms | resets {recurrence.resets}")


if __name__ == "__main__":
    main()
