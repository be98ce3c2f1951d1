"""The ``rtsr`` command. Library errors become one line on stderr and an exit code here only.

Exit codes: 0 success, 1 user or input error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rtsr import __version__
from rtsr.batch import is_batch
from rtsr.catalog import check_model, check_scale
from rtsr.cli_args import add_model_options, crf_value, jobs_value, positive_seconds, rate_value, upscaler_from
from rtsr.errors import RtsrError
from rtsr.io.deinterlace import MODES
from rtsr.io.encode import check_encoder_settings, video_encoder
from rtsr.io.output import OUTPUT_FORMATS, check_paths
from rtsr.io.probe import InputVideo, VideoInfo, is_pipe
from rtsr.io.sequences import is_pattern, output_pattern
from rtsr.logs import log_to_stderr
from rtsr.pictures import is_picture_file, is_picture_output, upscale_picture, upscale_pictures
from rtsr.report import clock_time, realtime_fps
from rtsr.segments.driver import DEFAULT_SEGMENT_SECONDS
from rtsr.segments.ray_pool import RAY_CONNECT_SECONDS, ray_available
from rtsr.streaming import STREAM_FORMATS
from rtsr.text import counted

if TYPE_CHECKING:
    from rtsr.runner import Runner

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/(?!/)")  # as pathlib leaves a URL: "rtsp:/host/..."
log = logging.getLogger("rtsr")

EXAMPLES = """\
examples:
  rtsr input.mp4 -o output.mp4 --scale 3
      FSRCNN ×3 on the fastest engine here; audio and subtitles copied.
  rtsr clip.mkv -o clip_x2.mkv --scale 2 --model srcnn --crf 16 --preset slow
  rtsr hdr10.mkv -o big.mkv --scale 2 --pix-fmt yuv420p10le
  rtsr input.mp4 -o output.mp4 --engine cpu --weights my_fsrcnn_x3.pt --overwrite
  rtsr holiday/ -o holiday_x2/ --scale 2      every video in a folder; finished ones are skipped
  rtsr film.mkv -o film_x3.mkv --jobs 4       four workers, each on its own segment
  rtsr film.mkv -o film_x3.mkv --ray          the segments on a Ray cluster ($RAY_ADDRESS or local)
  rtsr photo.jpg -o photo_x3.png              a picture to a picture (.png, .jpg, .webp, .tif, .bmp)
  rtsr clip.h264 -o clip_x3.mkv --fps 30      a raw stream; --fps when it carries no frame rate
  cat clip.ts | rtsr - -o clip_x2.mkv         from a pipe, in one pass (no segments, no resume)
  rtsr "frames/%05d.png" -o up.mp4 --fps 24   numbered pictures in (or a folder with --fps)
  rtsr clip.mkv -o "up/%05d.png"              frames out as lossless pictures (.png, .tif, .webp)
  rtsr clip.mkv -o - --scale 2 | mpv -        to a pipe: Matroska (or -f mpegts) as it is encoded

engines: auto picks tensorrt > cuda on a GPU; without one it times the CPU engines (PyTorch cpu,
  openvino) on the run's frame size, keeps the fastest and remembers the verdict (rtsr engines list);
  the summary says which ran and why.
output formats: """ + " ".join(OUTPUT_FORMATS) + """
resuming: work is saved beside the output every minute; after Ctrl-C or a crash,
  run the same command again and it goes on where it stopped.
other commands:
  rtsr check --help      before a long job: will upscaling help this clip, how long will it take here
  rtsr compare --help    one frame by nearest, bicubic and each model, side by side in a PNG
  rtsr bench --help      model and end-to-end throughput against the 24 fps real-time target
  rtsr engines --help    list, prebuild or clear the cached engines and the CPU engines' verdicts
  rtsr export --help     the network as ONNX, for ONNX Runtime, OpenVINO, vs-mlrt or trtexec
  rtsr live --help       upscale a webcam, RTSP stream or test source live, in a window or to a file

exit codes: 0 done, 1 bad input or settings (several inputs: any failed), 130 interrupted (Ctrl-C),
  143 terminated (SIGTERM);
  after 130 or 143 the output path stays untouched and the same command resumes."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 1."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"rtsr: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="rtsr",
        description="Real-time video super-resolution: upscale a video file with a small CNN.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", type=Path, nargs="+",
                        help="video file to upscale (never modified); several files or a folder of videos "
                             "with -o FOLDER/")
    parser.add_argument("-o", "--output", required=True,
                        help="output video file, or an output folder (several inputs, or a path ending in /)")
    add_model_options(parser, scale=3)
    parser.add_argument("--codec", default="auto",
                        help="video encoder: auto (h264_nvenc on a GPU that has NVENC, else libx264), "
                             "libx264, libx265, h264_nvenc, hevc_nvenc, ... (default auto)")
    parser.add_argument("--crf", type=crf_value, default=18, help="encoder quality, lower is better (default 18; "
                        "x264/x265 0-51, fractions too; VP9 and AV1 0-63)")
    parser.add_argument("--preset", default="medium", help="encoder speed preset (default medium)")
    parser.add_argument("--pix-fmt", help="output pixel format (default: the input's; 10-bit stays 10-bit)")
    parser.add_argument("--refuse-unplayable", action="store_true", help="an output most players cannot open "
                        "(larger than 8K, H.264 4:4:4) is an error before any work, not a warning")
    parser.add_argument("--deinterlace", choices=MODES, default="auto",
                        help="interlaced input (DVD, broadcast, camcorder) through FFmpeg's bwdif before upscaling: "
                             "auto (when the stream or its first frame says interlaced), on, off, or fields (one frame "
                             "per field: 50i becomes 50p; one job) (default auto)")
    parser.add_argument("-f", "--format", choices=tuple(STREAM_FORMATS),
                        help="container of a stream written to standard output (-o -): matroska (default), "
                             "mpegts or nut")
    parser.add_argument("--fps", type=rate_value, metavar="RATE",
                        help="the input's frame rate (24, 29.97, 30000/1001): for raw streams (.h264, .hevc) that "
                             "carry none or the wrong one, and picture sequences (default 25); one input only")
    parser.add_argument("--jobs", type=jobs_value, default=None, metavar="N|auto",
                        help="worker processes, each upscaling a segment of the video at a time "
                             "(default auto: chosen for this machine, said in the summary)")
    parser.add_argument("--segment-seconds", type=positive_seconds, default=DEFAULT_SEGMENT_SECONDS,
                        metavar="S", help=f"video seconds per segment, cut at keyframes "
                                          f"(default {DEFAULT_SEGMENT_SECONDS:g})")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the segments on a Ray cluster: ADDRESS (or $RAY_ADDRESS), else a local "
                             "one; needs pip install 'rtsr[ray]'")
    parser.add_argument("--timeout", type=positive_seconds, default=RAY_CONNECT_SECONDS, metavar="S",
                        help=f"seconds a Ray cluster at ADDRESS may take to answer (default {RAY_CONNECT_SECONDS:g})")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--version", action="version", version=f"rtsr {__version__}")
    return parser


def _check_settings(args: argparse.Namespace) -> None:
    """Check the cheap things first, so a typo never waits for a model to load."""
    check_model(args.model)
    check_scale(args.scale)
    from rtsr.engines import choose_engine  # noqa: PLC0415  (torch loads after the torch-free checks)

    choose_engine(args.engine)
    if args.codec != "auto":
        check_encoder_settings(video_encoder(args.codec).name, args.crf, args.preset)
    if args.ray is not None:
        ray_available()


def _refuse_urls(inputs: list[Path]) -> None:
    """File mode takes files; a URL given to it (which Path would mangle: http:/host) says where streams go."""
    for path in inputs:
        if URL_SCHEME.match(str(path)):
            url = URL_SCHEME.sub(lambda m: m.group(0) + "/", str(path), count=1)
            raise RtsrError(f"{url} is a stream, not a file: `rtsr live {url} -o out.mp4` records a stream "
                            "upscaled; `rtsr FILE -o OUT` takes files")


def _validate(args: argparse.Namespace) -> InputVideo:
    """Check the settings and the paths of a one-input run; returns the opened input.

    The input is opened and probed here, once: the run decodes from it.
    """
    _check_settings(args)
    check_paths(args.input[0], args.output, args.overwrite)
    return InputVideo.open(args.input[0], args.fps, args.deinterlace)


def _warn_if_slow(runner: Runner, info: VideoInfo) -> None:
    """Before a CPU run slower than half real time (a quality model, or FSRCNN on 8K), say how long it will take."""
    if runner.engine.device.type != "cpu":
        return
    with runner.engine.sharing_cores():  # as during the run
        seconds = runner.estimate_frame_seconds(info.width, info.height)
    if seconds * realtime_fps(info.output_rate) < 2:  # within 2x of real time: nothing to warn about
        return
    total = f", about {clock_time(seconds * info.frames)} for {counted(info.frames, 'frame')}" if info.frames else ""
    log.warning("%s ×%d runs on the CPU here: about %.1f s per frame%s; a GPU engine (--engine cuda or "
                "tensorrt) is the way to run it at speed", runner.model, runner.scale, seconds, total)


def _configure_logging(quiet: bool) -> None:
    log_to_stderr(logging.ERROR if quiet else logging.INFO)


def _one_pass(args: argparse.Namespace) -> bool:
    """Whether the run is rtsr.streaming's: a pipe in or out, or a picture sequence in or out."""
    src, dst = args.input[0], args.output
    if len(args.input) != 1:
        return False
    sequence_in = is_pattern(src) or (src.is_dir() and args.fps is not None)
    if sequence_in and args.output_is_folder:
        args.output = Path(output_pattern(dst, True))  # frames into the folder
    return sequence_in or is_pattern(args.output) or is_pipe(src) or str(dst) == "-" or is_pipe(dst)


def _upscale(args: argparse.Namespace) -> int:
    _refuse_urls(args.input)
    if _one_pass(args):
        return _upscale_stream(args)
    if is_batch(args.input, args.output, args.output_is_folder):
        return _upscale_many(args)
    if is_picture_output(args.output):
        return _upscale_picture(args)
    with _validate(args) as video:
        upscaler = upscaler_from(args)
        runner, _ = upscaler.runner_for(video)  # the run reuses it: the input judged once, the engine measured once
        _warn_if_slow(runner, video.info)
        report = upscaler.upscale_video(
            video, args.output, codec=args.codec, crf=args.crf, preset=args.preset,
            pix_fmt=args.pix_fmt, overwrite=args.overwrite,
            progress=not args.quiet and sys.stderr.isatty(), jobs=args.jobs,
            segment_seconds=args.segment_seconds, ray=args.ray, ray_timeout=args.timeout,
            refuse_unplayable=args.refuse_unplayable,
        )
    if not args.quiet:
        print(report.summary(), file=sys.stderr)
    return EXIT_OK


def _upscale_stream(args: argparse.Namespace) -> int:
    """One pass (rtsr.streaming): a pipe in or out (``cat x.ts | rtsr - -o out.mkv``, ``rtsr in.mp4 -o - |
    mpv -``), or a picture sequence in or out (``rtsr "f/%05d.png" -o out.mp4 --fps 24``, ``-o "up/%05d.png"``)."""
    _check_settings(args)
    log.info("one pass (a pipe or a picture sequence): no segments, and no resume if it is interrupted")
    upscaler = upscaler_from(args)
    report = upscaler.upscale_stream(
        args.input[0], "-" if str(args.output) in ("-", "pipe:1", "/dev/stdout") else args.output,
        codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, format=args.format,
        progress=not args.quiet and sys.stderr.isatty(), deinterlace=args.deinterlace, fps=args.fps,
        overwrite=args.overwrite, refuse_unplayable=args.refuse_unplayable)
    if not args.quiet:
        print(report.summary(), file=sys.stderr)
    return EXIT_OK


def _upscale_picture(args: argparse.Namespace) -> int:
    """One picture to one picture (rtsr.pictures): ``rtsr photo.jpg -o photo_x3.png``."""
    _check_settings(args)
    if args.output.exists() and not args.overwrite:  # before the model loads
        raise RtsrError(f"output exists: {args.output} (pass --overwrite to replace it)")
    done = upscale_picture(upscaler_from(args), args.input[0], args.output, args.overwrite)
    if not args.quiet:
        print(f"{done.line()}\nwrote {args.output}", file=sys.stderr)
    return EXIT_OK


def _upscale_many(args: argparse.Namespace) -> int:
    """Several inputs or a folder into the output folder; exit 1 when any file failed.

    Pictures named among the inputs become pictures (rtsr.pictures); a folder's pictures are left out
    (with what to do: --fps takes them as frames)."""
    _check_settings(args)
    upscaler = upscaler_from(args)
    say = None if args.quiet else lambda line: print(f"rtsr: {line}", file=sys.stderr)
    pictures = [path for path in args.input if is_picture_file(path)]
    failed = upscale_pictures(upscaler, pictures, args.output, args.overwrite, say) if pictures else []
    videos = [path for path in args.input if path not in pictures]
    if not videos:
        for line in failed if args.quiet else []:
            print(f"rtsr: FAILED {line}", file=sys.stderr)
        return EXIT_ERROR if failed else EXIT_OK
    batch = upscaler.upscale_videos(
        videos, args.output, codec=args.codec, crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt,
        overwrite=args.overwrite, progress=not args.quiet and sys.stderr.isatty(), jobs=args.jobs,
        segment_seconds=args.segment_seconds, ray=args.ray, ray_timeout=args.timeout, deinterlace=args.deinterlace,
        on_report=say, refuse_unplayable=args.refuse_unplayable,
    )
    batch.failed[:0] = failed
    if not args.quiet or batch.failed:
        print(batch.summary(), file=sys.stderr)
    return EXIT_ERROR if batch.failed else EXIT_OK


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd, docker, kill, timeout), handled as Ctrl-C is: work is kept, then exit 143."""


def handle_stop_signals() -> None:
    """Ctrl-C and SIGTERM stop a run once; further ones while it closes its work are ignored.

    The first signal raises KeyboardInterrupt (Terminated for SIGTERM) in the
    main thread, and the run then closes the chunk it was writing, which
    takes a second or two. A second Ctrl-C used to interrupt that closing and
    lose the work; now it only prints that rtsr is finishing. A SIGINT that
    the parent shell ignores (a background job) stays ignored.
    """
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stopping.is_set():
            os.write(2, b"rtsr: still saving what was upscaled; it stops in a moment\n")
            return
        stopping.set()
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()

    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _guarded(command: Callable[[], int], interrupted: str = "interrupted") -> int:
    """Run a command, turning library errors and Ctrl-C into a message and an exit code."""
    try:
        return command()
    except RtsrError as err:
        print(f"rtsr: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except Terminated:
        print("rtsr: " + interrupted.replace("interrupted", "terminated (SIGTERM)", 1), file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"rtsr: {interrupted}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `rtsr bench | head`: the reader left; not an error
        sys.stdout = open(os.devnull, "w")
        return EXIT_OK
    except OSError as err:  # the machine refused (a full disk, a permission): one line, as for rtsr's own errors
        where = f": {err.filename}" if err.filename else ""
        print(f"rtsr: error: {err.strerror or err}{where}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Each subcommand's module is imported when it is asked for: `rtsr --help` loads no torch.

    if argv[:1] == ["bench"]:
        from rtsr import bench  # noqa: PLC0415

        _configure_logging(quiet=False)
        return _guarded(lambda: bench.main(argv[1:], _Parser))
    if argv[:1] == ["live"]:
        from rtsr.live.command import live_command  # noqa: PLC0415

        _configure_logging(quiet=False)
        return _guarded(lambda: live_command(argv[1:], _Parser), "interrupted; any recording was finalized")
    if argv[:1] in (["engines"], ["export"]):
        from rtsr.engines_cli import engines_command, export_command  # noqa: PLC0415

        _configure_logging(quiet=False)
        return _guarded(lambda: (engines_command if argv[0] == "engines" else export_command)(argv[1:], _Parser))
    if argv[:1] in (["check"], ["compare"]):
        from rtsr.check.cli import check_command, compare_command  # noqa: PLC0415

        _configure_logging(quiet=False)
        command = check_command if argv[0] == "check" else compare_command
        return _guarded(lambda: command(argv[1:], _Parser))
    args = build_parser().parse_args(argv)
    args.output_is_folder = args.output.endswith(("/", os.sep))  # Path() drops the slash that says so
    args.output = Path(args.output)
    _configure_logging(args.quiet)
    return _guarded(lambda: _upscale(args), "interrupted")


def run() -> NoReturn:
    """Console-script entry point (also ``python -m rtsr``)."""
    handle_stop_signals()
    sys.exit(main())
