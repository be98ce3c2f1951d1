import dataclasses
import json
import subprocess

import pytest
from conftest import run_rtsr_here

from rtsr.bench import SCHEMA, ModelResult, format_table, parse_size
from rtsr.errors import RtsrError
from rtsr.io.encode import encoder_options, resolve_codec


def _bench(*args: str) -> subprocess.CompletedProcess:
    return run_rtsr_here("bench", *args)


def test_model_bench_json_schema() -> None:
    result = _bench("--json", "--engines", "cpu", "--models", "fsrcnn", "srcnn", "--scales", "2",
                    "--sizes", "32x24", "48x16", "--frames", "2", "--warmup", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["schema"] == SCHEMA and report["kind"] == "model"
    assert len(report["results"]) == 4
    fields = {f.name: f.type for f in dataclasses.fields(ModelResult)}
    for row in report["results"]:
        assert set(row) == set(fields)
        assert row["engine"] == "cpu" and row["fps"] > 0 and row["bicubic_fps"] > 0
        # fps is rounded to 0.01, ms to 0.001 and the ratio to 0.001, each from the unrounded
        # figure: the reported values agree within the sum of those roundings (fps can be below 1
        # on a loaded machine, and a tiny frame can take under a millisecond on an idle one).
        ms_from_fps = 1000 / row["fps"]
        assert abs(row["ms_per_frame"] - ms_from_fps) <= 5e-4 + ms_from_fps * 0.005 / row["fps"] * 1.01
        assert abs(row["realtime_ratio"] - row["fps"] / 24) <= 5e-4 + 0.005 / 24 * 1.01
    assert {r["output"] for r in report["results"]} == {"64x48", "96x32"}


def test_e2e_bench_json(tmp_path) -> None:
    result = _bench("--e2e", "--json", "--engines", "cpu", "--scales", "2", "--sizes", "64x48",
                    "--frames", "6", "--warmup", "2", "--preset", "ultrafast")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    row = report["results"][0]
    # the 2 warm-up frames run first, untimed and uncounted
    assert report["kind"] == "e2e" and row["frames"] == 6 and row["warmup_frames"] == 2
    assert row["output"] == "128x96"
    assert set(row["stage_ms_per_frame"]) == {"decode", "convert", "inference", "encode"}
    assert row["bottleneck"] in row["stage_ms_per_frame"]


def test_e2e_bench_compares_job_counts() -> None:
    result = _bench("--e2e", "--json", "--engines", "cpu", "--scales", "2", "--sizes", "64x48",
                    "--frames", "24", "--warmup", "0", "--preset", "ultrafast", "--jobs", "1", "2")
    assert result.returncode == 0, result.stderr
    one, two = json.loads(result.stdout)["results"]
    assert (one["jobs"], two["jobs"]) == (1, 2) and one["frames"] == two["frames"] == 24
    assert one["speedup_vs_first"] == 1.0 and two["speedup_vs_first"] == round(two["fps"] / one["fps"], 3)
    assert two["segment_seconds"] == 0.125  # a 1 s clip: four segments per job
    assert _bench("--e2e", "--jobs", "0").returncode == 1


def test_table_and_bad_sizes() -> None:
    row = ModelResult("fsrcnn", 3, "cpu", "640x360", "1920x1080", 30, 41.6, 24.0, 49.8, 1.0, 156.0,
                      "random (speed only)")
    table = format_table([row])
    assert "1920x1080" in table and "random weights" in table
    assert parse_size("640x360") == (640, 360)
    with pytest.raises(RtsrError):
        parse_size("640by360")
    assert _bench("--engines", "cuda", "--frames", "1").returncode in (0, 1)


def test_codec_auto_and_encoder_options() -> None:
    assert resolve_codec("auto", gpu_present=False) == "libx264"
    assert resolve_codec("libx265", gpu_present=True) == "libx265"
    assert encoder_options("libx264", 18, "medium") == {"crf": "18", "preset": "medium"}
    assert encoder_options("h264_nvenc", 20, "slow") == {"rc": "vbr", "cq": "20", "preset": "p5"}
    assert encoder_options("hevc_nvenc", None, "p7") == {"preset": "p7"}
    assert encoder_options("libsvtav1", 30, "veryfast") == {"crf": "30", "preset": "10"}
    assert encoder_options("libvpx-vp9", 31, "medium") == {"crf": "31", "b": "0", "cpu-used": "3",
                                                            "deadline": "good"}
    assert encoder_options("ffv1", 18, "medium") == {}  # it has neither: its own defaults
    assert resolve_codec("auto", gpu_present=False, muxer="webm") == "libvpx-vp9"


def test_cpu_engines_side_by_side_in_one_run() -> None:
    result = _bench("--json", "--engines", "cpu", "openvino", "--models", "fsrcnn", "--scales", "2",
                    "--sizes", "48x32", "--frames", "2", "--warmup", "1")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    assert [r["engine"] for r in rows] == ["cpu", "openvino"]
    assert rows[0]["vs_first_engine"] == 1.0
    assert rows[1]["vs_first_engine"] == pytest.approx(rows[1]["fps"] / rows[0]["fps"], rel=0.02)
    table = _bench("--engines", "cpu", "openvino", "--models", "fsrcnn", "--scales", "2", "--sizes", "48x32",
                   "--frames", "2", "--warmup", "1")
    assert table.returncode == 0 and "× 1st engine" in table.stdout and "openvino" in table.stdout
