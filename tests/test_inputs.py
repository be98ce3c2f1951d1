"""Inputs and outputs a new user tries: raw streams, pipes, interlaced video, pictures, odd output paths,
encoder settings, an unreachable Ray cluster, a start offset, workers outliving their driver."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from rtsr.cli import main
from rtsr.errors import RtsrError
from rtsr.io.probe import InputVideo
from rtsr.segments.ray_pool import check_ray_address


def encode(path: Path, frames: int = 24, size: tuple[int, int] = (96, 64), codec: str = "libx264",
           fmt: str | None = None, options: dict | None = None, first_pts: int = 0,
           picture=None) -> Path:
    """testsrc2 (or ``picture(index)`` -> (H, W, 3) uint8 RGB) into ``path``, 24 fps."""
    width, height = size
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=24, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        source = av.open(f"testsrc2=size={width}x{height}:rate=24:duration={frames / 24 + 1}", format="lavfi")
        with source:
            for index, frame in zip(range(frames), source.decode(video=0)):
                if picture is not None:
                    frame = av.VideoFrame.from_ndarray(picture(index), format="rgb24")
                frame = frame.reformat(format="yuv420p")
                frame.pts, frame.time_base = first_pts + index, Fraction(1, 24)
                frame.pict_type = av.video.frame.PictureType.NONE
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def frames_of(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


# --------------------------------------------------------------------------- raw streams and pipes


@pytest.mark.parametrize("fmt, codec, suffix", [("h264", "libx264", ".h264"), ("hevc", "libx265", ".hevc")])
def test_raw_elementary_streams_open_like_files(tmp_path, fmt, codec, suffix, capsys) -> None:
    raw = encode(tmp_path / f"clip{suffix}", codec=codec, fmt=fmt,
                 options={"x265-params": "log-level=error"} if codec == "libx265" else {})
    out = tmp_path / "out.mkv"
    assert main([str(raw), "-o", str(out), "--scale", "2", "--engine", "cpu"]) == 0
    assert "raw elementary stream" in capsys.readouterr().err  # one job, and why
    with av.open(str(out)) as container:
        assert container.duration / 1e6 == pytest.approx(1.0, abs=0.05)  # 24 frames at the stream's 24 fps
    assert len(frames_of(out)) == 24
    assert main([str(raw), "-o", str(tmp_path / "fps30.mkv"), "--scale", "2", "--engine", "cpu", "--fps", "30"]) == 0
    with av.open(str(tmp_path / "fps30.mkv")) as container:
        assert container.duration / 1e6 == pytest.approx(0.8, abs=0.05)


def test_a_pipe_in_is_upscaled_in_one_pass_with_its_audio(clip_factory, tmp_path) -> None:
    clip = clip_factory("c.mkv", frames=24)
    out = tmp_path / "o.mkv"
    with open(clip, "rb") as data:
        piped = subprocess.run([sys.executable, "-m", "rtsr", "-", "-o", str(out), "--scale", "2", "--engine", "cpu"],
                               stdin=data, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "one pass" in piped.stderr and "copied: #1 audio aac" in piped.stderr
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.video[0].width == 192
    assert len(frames_of(out)) == 24
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mkv", "o.mkv"]  # no temporary, no work folder


@pytest.mark.parametrize("fmt, magic", [(None, b"\x1a\x45\xdf\xa3"), ("mpegts", b"G")])
def test_a_pipe_out_carries_the_stream_as_it_is_encoded(clip_factory, tmp_path, fmt, magic) -> None:
    clip = clip_factory("c.mp4", frames=24)
    piped = subprocess.run([sys.executable, "-m", "rtsr", str(clip), "-o", "-", "--scale", "2", "--engine", "cpu",
                            *(["-f", fmt] if fmt else [])], capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr.decode()
    assert piped.stdout.startswith(magic) and b"wrote standard output" in piped.stderr  # logs on stderr only
    (tmp_path / "got").write_bytes(piped.stdout)
    with av.open(str(tmp_path / "got")) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    assert len(frames_of(tmp_path / "got")) == 24


def test_an_mp4_with_its_index_at_the_end_says_why_it_cannot_come_through_a_pipe(clip_factory, tmp_path) -> None:
    clip = clip_factory("c.mp4", width=320, height=240, frames=96)  # beyond what FFmpeg's buffer can seek back in
    with open(clip, "rb") as data:
        piped = subprocess.run([sys.executable, "-m", "rtsr", "-", "-o", str(tmp_path / "o.mkv")],
                               stdin=data, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 1 and "+faststart" in piped.stderr and "Traceback" not in piped.stderr


def test_the_python_api_streams_too(clip_factory, tmp_path) -> None:
    from rtsr.upscaler import Upscaler

    report = Upscaler("fsrcnn", 2, "cpu").upscale_stream(clip_factory("c.mkv"), tmp_path / "o.mkv")
    assert report.frames == 12 and report.jobs_reason.startswith("one pass")
    with pytest.raises(RtsrError, match="is a pipe"):
        Upscaler("fsrcnn", 2, "cpu").upscale_video("-", tmp_path / "x.mkv")


# --------------------------------------------------------------------------- interlaced video


def woven(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """A bar moving 6 pixels per field, the two fields of each frame woven together (top field first)."""
    picture = np.full((height, width, 3), 40, np.uint8)
    for field in (0, 1):
        left = (index * 2 + field) * 6 % (width - 16)
        picture[field::2, left:left + 16] = 220
    return picture


def comb(frame: av.VideoFrame) -> float:
    """How much the rows alternate: large for woven fields of moving content, small for one picture."""
    y = frame.to_ndarray(format="gray").astype(float)
    return float(np.abs(y[1:-1] - (y[:-2] + y[2:]) / 2).mean())


@pytest.mark.parametrize("flag, order", [("tff=1", "tff"), ("bff=1", "bff")])
def test_interlaced_input_is_deinterlaced_and_flagged_progressive(tmp_path, flag, order, capsys) -> None:
    src = encode(tmp_path / "i.mp4", picture=woven, options={"flags": "+ildct+ilme", "x264-params": flag, "crf": "10"})
    with InputVideo.open(src) as video:
        assert video.info.field_order == order and video.info.deinterlace
    out, raw = tmp_path / "d.mp4", tmp_path / "raw.mp4"
    assert main([str(src), "-o", str(out), "--scale", "2", "--engine", "cpu"]) == 0
    summary = capsys.readouterr().err
    assert f"deinterlaced: bwdif, {'top' if order == 'tff' else 'bottom'} field first" in summary
    assert main([str(src), "-o", str(raw), "--scale", "2", "--engine", "cpu", "--deinterlace", "off"]) == 0
    assert "NOT deinterlaced" in capsys.readouterr().err
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.field_order == 1  # progressive
    done, kept = frames_of(out), frames_of(raw)
    assert len(done) == len(kept) == 24
    assert [f.time for f in done] == pytest.approx([f.time for f in kept])  # the input's timestamps
    assert np.mean([comb(f) for f in done]) < 0.5 * np.mean([comb(f) for f in kept])


def test_field_rate_gives_a_frame_per_field(tmp_path, capsys) -> None:
    src = encode(tmp_path / "i.mkv", picture=woven, options={"flags": "+ildct+ilme", "x264-params": "tff=1"})
    out = tmp_path / "fields.mkv"
    assert main([str(src), "-o", str(out), "--scale", "2", "--engine", "cpu", "--deinterlace", "fields",
                 "--jobs", "2"]) == 0
    err = capsys.readouterr().err
    assert "one frame per field" in err and "jobs: 1 (one job: segments are cut in frames" in err
    times = [f.time for f in frames_of(out)]
    assert len(times) == 48 and np.diff(times) == pytest.approx(np.full(47, 1 / 48), abs=0.0011)
    assert "MISSING" not in err


def test_a_resumed_deinterlaced_read_matches_the_whole_one(tmp_path) -> None:
    from rtsr.io.reader import FrameReader

    src = encode(tmp_path / "i.mkv", picture=woven, options={"flags": "+ildct+ilme", "x264-params": "tff=1",
                                                              "g": "6"})

    def read(after: int | None, fields: bool) -> list[tuple[int, bytes]]:
        with InputVideo.open(src) as video:
            reader = FrameReader(video.container, video.stream, step=video.info.frame_step, after_pts=after,
                                 deinterlace="tff", fields=fields)
            return [(f.pts, bytes(f.planes[0])) for f in reader.frames()]

    for fields in (False, True):
        whole = read(None, fields)
        cut = whole[len(whole) // 2 + 1][0]  # resume part-way, after a frame that is not a keyframe's
        resumed = read(cut, fields)
        assert resumed and resumed == [item for item in whole if item[0] > cut]  # bwdif had its context


def test_progressive_input_is_left_alone(clip_factory) -> None:
    with InputVideo.open(clip_factory("p.mp4")) as video:
        assert not video.info.deinterlace


# --------------------------------------------------------------------------- outputs


def test_a_picture_upscales_to_a_picture(tmp_path, clip_factory, capsys) -> None:
    import cv2

    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8))
    assert main([str(photo), "-o", str(tmp_path / "photo_x3.jpg"), "--engine", "cpu"]) == 0
    assert cv2.imread(str(tmp_path / "photo_x3.jpg")).shape == (120, 180, 3)
    assert "weights: fsrcnn ×3 for clean input (lossless png)" in capsys.readouterr().err
    # a poor JPEG gets the weights for compressed input, judged from its quantisation table
    assert main([str(tmp_path / "photo_x3.jpg"), "-o", str(tmp_path / "again.png"), "--engine", "cpu"]) == 0
    assert "weights: fsrcnn ×3 for clean input (jpeg, quality 95)" in capsys.readouterr().err
    cv2.imwrite(str(tmp_path / "poor.jpg"), cv2.imread(str(photo)), [cv2.IMWRITE_JPEG_QUALITY, 30])
    assert main([str(tmp_path / "poor.jpg"), "-o", str(tmp_path / "poor_x3.png"), "--engine", "cpu"]) == 0
    assert "weights: fsrcnn ×3 for compressed input (jpeg, quality 30)" in capsys.readouterr().err
    assert main([str(clip_factory("v.mp4")), "-o", str(tmp_path / "v.png")]) == 1
    assert "is a video" in capsys.readouterr().err


def test_an_output_folder_for_one_input_is_created(clip_factory, tmp_path) -> None:
    clip = clip_factory("c.mp4")
    assert main([str(clip), "-o", f"{tmp_path / 'new' / 'deeper'}/", "--scale", "2", "--engine", "cpu"]) == 0
    assert (tmp_path / "new" / "deeper" / "c.mp4").is_file()
    assert main([str(clip), "-o", str(tmp_path / "noext")]) == 1  # without the slash: says how


def test_a_symlinked_output_is_written_through(clip_factory, tmp_path) -> None:
    clip = clip_factory("c.mp4")
    target = tmp_path / "store" / "real.mp4"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.mp4"
    link.symlink_to(target)
    assert main([str(clip), "-o", str(link), "--scale", "2", "--engine", "cpu", "--overwrite"]) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert len(frames_of(target)) == 12


@pytest.mark.parametrize("args, message", [
    (["--crf", "99"], "out of libx264's range 0-51"),
    (["--crf", "-1"], "out of libx264's range"),
    (["--preset", "nonsense"], "ultrafast, superfast"),
    (["--codec", "libvpx-vp9", "--crf", "18.5", "-o", "{tmp}/x.webm"], "takes a whole --crf"),
    (["--crf", "high"], "takes a number"),
])
def test_encoder_settings_are_checked_before_any_work(clip_factory, tmp_path, capsys, args, message) -> None:
    clip = clip_factory("c.mp4")
    out = ["-o", str(tmp_path / "x.mp4")] if "-o" not in args else []
    started = time.perf_counter()
    try:
        code = main([str(clip), *out, *(a.format(tmp=tmp_path) for a in args)])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 1
    assert message in capsys.readouterr().err and time.perf_counter() - started < 10
    assert not [p for p in tmp_path.iterdir() if p.name != "c.mp4"]


def test_a_fractional_crf_reaches_x264(clip_factory, tmp_path) -> None:
    assert main([str(clip_factory("c.mp4")), "-o", str(tmp_path / "x.mp4"), "--crf", "18.5", "--engine", "cpu",
                 "--scale", "2"]) == 0


# --------------------------------------------------------------------------- start offsets


def test_an_mkv_that_starts_at_10_s_is_not_called_damaged(tmp_path, capsys) -> None:
    src = encode(tmp_path / "late.mkv", frames=48, first_pts=240)
    with InputVideo.open(src) as video:
        assert video.info.frames == 48
    assert main([str(src), "-o", str(tmp_path / "o.mkv"), "--scale", "2", "--engine", "cpu"]) == 0
    assert "MISSING" not in capsys.readouterr().err


# --------------------------------------------------------------------------- Ray and workers


def _listener(answer: bytes | None, accepted: threading.Event | None = None) -> tuple[socket.socket, int]:
    """A local TCP port that answers every connection with ``answer`` (None: stays silent); ``accepted``
    is set on the first connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            if accepted is not None:
                accepted.set()
            if answer is not None:
                conn.recv(64)
                conn.sendall(answer)

    threading.Thread(target=serve, daemon=True).start()
    return server, server.getsockname()[1]


def test_ray_addresses_are_checked_within_the_timeout() -> None:
    silent, port = _listener(None)
    started = time.perf_counter()
    with pytest.raises(RtsrError, match="did not answer within 1 s"):
        check_ray_address(f"127.0.0.1:{port}", 1.0)
    assert time.perf_counter() - started < 3
    silent.close()
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))  # a port nobody listens on
    with pytest.raises(RtsrError, match="cannot reach"):
        check_ray_address(f"127.0.0.1:{unused.getsockname()[1]}", 1.0)
    unused.close()
    grpc, port = _listener(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))  # an HTTP/2 SETTINGS frame, as gRPC sends
    check_ray_address(f"127.0.0.1:{port}", 2.0)
    check_ray_address(f"ray://127.0.0.1:{port}", 2.0)
    grpc.close()
    check_ray_address("auto")  # Ray's own


def test_ctrl_c_stops_a_run_waiting_for_a_silent_ray_cluster(clip_factory, tmp_path) -> None:
    pytest.importorskip("ray")
    clip = clip_factory("c.mp4", frames=48)
    connected = threading.Event()
    silent, port = _listener(None, connected)
    process = subprocess.Popen([sys.executable, "-m", "rtsr", str(clip), "-o", str(tmp_path / "o.mp4"),
                                "--ray", f"127.0.0.1:{port}", "--timeout", "60", "--segment-seconds", "0.5"],
                               stderr=subprocess.PIPE, text=True)
    assert connected.wait(60), "rtsr never tried the address"
    time.sleep(0.5)  # waiting for an answer now
    process.send_signal(signal.SIGINT)
    started = time.perf_counter()
    _, err = process.communicate(timeout=20)
    silent.close()
    assert process.returncode == 130 and time.perf_counter() - started < 3, err


def test_segment_workers_die_with_their_driver(clip_factory, tmp_path) -> None:
    clip = clip_factory("long.mp4", width=320, height=240, frames=480)
    process = subprocess.Popen([sys.executable, "-m", "rtsr", str(clip), "-o", str(tmp_path / "o.mp4"),
                                "--jobs", "2", "--segment-seconds", "2", "--engine", "cpu"],
                               stderr=subprocess.DEVNULL)
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2:
        time.sleep(0.5)
        children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        workers = [int(pid) for pid in children
                   if "rtsr-segment" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
                   or "multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]
    assert workers, "no worker started"
    time.sleep(2)  # they are encoding now
    process.kill()
    process.wait()
    time.sleep(1.5)
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
             and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]
    assert not alive, alive


def test_a_folder_of_pictures_says_what_to_do(tmp_path, capsys) -> None:
    import cv2

    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(3):
        cv2.imwrite(str(folder / f"{index:05d}.png"), np.zeros((16, 16, 3), np.uint8))
    assert main([str(folder), "-o", f"{tmp_path / 'out'}/"]) == 1
    err = capsys.readouterr().err
    assert "3 still pictures" in err and "rtsr photo.png -o photo_x3.png" in err


def test_pictures_named_one_by_one_stay_pictures(tmp_path, clip_factory, capsys) -> None:
    import cv2

    names = []
    for index in range(2):
        path = tmp_path / f"p{index}.png"
        cv2.imwrite(str(path), np.random.default_rng(index).integers(0, 256, (20, 30, 3), dtype=np.uint8))
        names.append(str(path))
    clip = clip_factory("v.mp4")
    out = tmp_path / "out"
    assert main([*names, str(clip), "-o", f"{out}/", "--scale", "2", "--engine", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "v.mp4"]
    assert cv2.imread(str(out / "p0.png")).shape == (40, 60, 3)


def test_picture_sequences_in_and_out(tmp_path, capsys) -> None:
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    for index in range(6):
        grey = np.full((24, 32, 3), 40 * index, np.uint8)
        cv2.imwrite(str(frames / f"{index:05d}.png"), grey)
    video = tmp_path / "seq.mkv"
    assert main([f"{frames}/%05d.png", "-o", str(video), "--fps", "12", "--scale", "2", "--engine", "cpu"]) == 0
    times = [f.time for f in frames_of(video)]
    assert len(times) == 6 and times[-1] == pytest.approx(5 / 12, abs=0.01)
    assert main([str(frames), "-o", str(tmp_path / "glob.mkv"), "--fps", "12", "--engine", "cpu"]) == 0
    assert len(frames_of(tmp_path / "glob.mkv")) == 6
    up = tmp_path / "up"
    assert main([str(video), "-o", f"{up}/%04d.png", "--engine", "cpu", "--scale", "2"]) == 0
    written = sorted(up.iterdir())
    assert [p.name for p in written] == [f"{n:04d}.png" for n in range(1, 7)]
    picture = cv2.imread(str(written[3]))
    assert picture.shape == (96, 128, 3) and np.abs(picture.astype(int) - 120).max() <= 3  # grey stays grey
    assert main([str(video), "-o", f"{up}/%04d.png", "--engine", "cpu", "--scale", "2"]) == 1  # exists
    assert "output exists" in capsys.readouterr().err


def test_ten_bit_video_writes_sixteen_bit_pictures(clip_factory, tmp_path) -> None:
    import cv2

    clip = clip_factory("deep.mkv", pix_fmt="yuv420p10le", codec="libx265", frames=3,
                        extra_options={"x265-params": "log-level=error"})
    assert main([str(clip), "-o", f"{tmp_path}/%03d.tif", "--engine", "cpu", "--scale", "2"]) == 0
    assert cv2.imread(str(tmp_path / "001.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_a_frame_flag_alone_leaves_the_field_order_to_bwdif() -> None:
    from rtsr.io.deinterlace import Deinterlacer, field_order, wants_deinterlacing

    class Flagged:
        interlaced_frame = True

    order = field_order(0, Flagged())  # the stream says nothing; PyAV shows no field order on frames
    assert order == "interlaced" and wants_deinterlacing("auto", order)
    assert Deinterlacer(order).parity == "auto"  # not a guessed "tff": a BFF clip would be woven backwards
    assert field_order(3, Flagged()) == "bff" and field_order(0, None) == "unknown"
