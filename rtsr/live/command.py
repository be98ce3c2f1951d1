"""The ``rtsr live`` command: options, checks before the source opens, and the run (rtsr.live.session)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from rtsr.atomic import orphaned_temporaries
from rtsr.cli_args import add_model_options, crf_value, positive_seconds, upscaler_from
from rtsr.errors import RtsrError
from rtsr.io.encode import check_encoder_settings, video_encoder
from rtsr.io.output import check_output
from rtsr.live import KEYS, LiveOptions, LiveUpscaler, open_source, run_live
from rtsr.live.sound import SoundDevice, WithSound
from rtsr.live.sources import NETWORK_TIMEOUT

log = logging.getLogger("rtsr")

LIVE_EPILOG = """\
examples:
  rtsr live 0                                   webcam 0, FSRCNN ×2, in a window
  rtsr live /dev/video2 --scale 3
  rtsr live rtsp://camera.local/stream --no-window -o cam_x2.mp4
  rtsr live testsrc2=size=320x240:rate=24       FFmpeg test pattern (any lavfi source)
  rtsr live clip.mp4                            a file, played at its own frame rate

keys in the window:
""" + "\n".join(f"  {key:<8} {what}" for key, what in KEYS.items()) + """

It never falls behind the source: when upscaling is slower, the newest frame
wins and the others are counted as dropped. Ctrl-C finalizes a recording."""


def rescue_partial_recordings(output: Path, what: str) -> list[Path]:
    """Recordings to ``output`` that a killed ``rtsr live`` left hidden: made visible (keep) or removed.

    Each plays up to its last whole second (the recorder's streamable muxing).
    Returns the files kept.
    """
    kept = []
    for partial in orphaned_temporaries(output):
        size = partial.stat().st_size / 1e6
        if what == "remove":
            partial.unlink(missing_ok=True)
            log.warning("removed %s (%.1f MB), a recording to %s cut off by a kill", partial.name, size, output)
            continue
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(partial.stat().st_mtime))
        visible = output.with_name(f"{output.stem}.partial-{stamp}{output.suffix}")
        partial.rename(visible)
        kept.append(visible)
        log.warning("a recording to %s was cut off by a kill: kept as %s (%.1f MB, plays up to its last "
                    "second); --partial remove removes such files", output, visible, size)
    return kept


def live_command(argv: list[str], parser_class: type[argparse.ArgumentParser]) -> int:
    """``rtsr live SOURCE``."""
    parser = parser_class(prog="rtsr live", description="Upscale a webcam, stream or file live, on screen "
                     "and/or to a file.", epilog=LIVE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="webcam index or /dev/video path, URL, lavfi source, or file")
    add_model_options(parser, scale=2)
    parser.add_argument("-o", "--output", type=Path,
                        help="record here (always with --no-window; with a window, where 'r' records)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--partial", choices=("keep", "remove"), default="keep",
                        help="a recording to the same -o cut off by a kill: keep it beside the output as "
                             "NAME.partial-TIME.EXT (default), or remove it")
    parser.add_argument("--no-window", action="store_true", help="no display: for servers")
    parser.add_argument("--timeout", type=positive_seconds, default=NETWORK_TIMEOUT, metavar="S",
                        help=f"seconds a network stream may stay silent, connecting or playing "
                             f"(default {NETWORK_TIMEOUT:g})")
    parser.add_argument("--duration", type=float, help="stop after this many seconds")
    parser.add_argument("--codec", default="libx264", help="recording encoder (default libx264)")
    parser.add_argument("--crf", type=crf_value, default=20, help="recording quality (default 20)")
    parser.add_argument("--preset", default="veryfast", help="recording preset (default veryfast)")
    parser.add_argument("--audio", metavar="FORMAT:DEVICE",
                        help="record sound from this FFmpeg input with a source that has none (a camera): "
                             "pulse:default, alsa:hw:1, lavfi:sine=frequency=440")
    parser.add_argument("--screenshot-dir", type=Path, default=Path("."), help="where 's' saves PNGs")
    args = parser.parse_args(argv)
    if args.output is not None:
        check_output(args.output, args.overwrite)
        rescue_partial_recordings(args.output, args.partial)
        check_encoder_settings(video_encoder(args.codec).name, args.crf, args.preset)
    if not args.no_window and sys.platform.startswith("linux") and not os.environ.get("DISPLAY") \
            and not os.environ.get("WAYLAND_DISPLAY"):
        raise RtsrError("no display to open a window on; use --no-window -o out.mp4")
    source = open_source(args.source, args.timeout)  # first: a typo in the source should not wait for a model
    if args.audio is not None:
        if source.audio is not None:
            source.close()
            raise RtsrError(f"{source.description} has its own sound, which recordings keep; --audio is for "
                            "sources without (cameras)")
        try:
            source = WithSound(source, SoundDevice(args.audio))
        except BaseException:
            source.close()
            raise
    size = source.frame_size()
    try:
        runner, weights = upscaler_from(args).runner_judged(source.degradation)
        if size is not None:  # auto on the CPU measures now, not while the source already runs
            runner.prepare_engine(*size)
    except BaseException:
        source.close()
        raise
    engine = runner.engine.name if size is not None or not runner.engine_choice.candidates else "auto"
    options = LiveOptions(
        label=f"{runner.model} x{runner.scale} {engine}",
        window=not args.no_window, output=args.output, duration=args.duration,
        screenshot_dir=args.screenshot_dir, codec=args.codec, crf=args.crf, preset=args.preset,
    )
    report = run_live(source, LiveUpscaler(runner), options)
    print(f"{report.summary()}\nweights: {weights}", file=sys.stderr)
    return 0
