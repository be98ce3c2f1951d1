#!/usr/bin/env bash
# The one-call GPU check (docs/performance.md, "The GPU check"): on a GPU machine (H100/H200 class,
# 16 cores, no network, PyAV not installed), in at most 8 minutes:
#   PyAV from a wheel folder -> pytest -m gpu -> model-only bench (compiled: the three models x3 at three
#   sizes and SRResNet x4 960x540; FSRCNN eager) -> end-to-end bench (jobs 1/4/8, presets veryfast and
#   medium; each stage alone, CPU decoding against NVDEC) -> rtsr live headless;
#   JSON and one log written into OUT.
#
#   usage: tools/gpu_check.sh WHEELS OUT
#     WHEELS  folder holding a PyAV wheel for this machine's Python (av-*.whl)
#     OUT     folder for gpu_check.log and the bench JSON files (at most 8 files)
#   environment: RTSR_CHECK_ENGINE (default cuda), RTSR_CHECK_SMALL=1 (tiny sizes: a dry run on a CPU)
#
# Every step has its own time limit and the whole has a deadline; a step that fails or runs out of time
# is logged and the next one runs. The exit status is that of the last failed step (0 when none failed).
set -uo pipefail
wheels=${1:?usage: tools/gpu_check.sh WHEELS OUT}
out=${2:?usage: tools/gpu_check.sh WHEELS OUT}
cd "$(dirname "$0")/.." || exit 1
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
log="$out/gpu_check.log"
: > "$log"
engine=${RTSR_CHECK_ENGINE:-cuda}
deadline=$((SECONDS + 470))  # 8 minutes, less a margin for the last step's clean-up
status=0

say() { echo "$*" | tee -a "$log"; }

# step NAME SECONDS OUTFILE COMMAND...: run COMMAND within SECONDS (and the deadline); stdout to OUTFILE
# ("-": the log), stderr to the log.
step() {
    local name=$1 budget=$2 target=$3
    shift 3
    local left=$((deadline - SECONDS))
    if ((left < 15)); then
        say "== $name: SKIPPED, out of time"
        status=1
        return
    fi
    ((budget > left)) && budget=$left
    say "== $name ($(date -u +%FT%TZ), up to ${budget} s)"
    local started=$SECONDS code
    if [ "$target" = "-" ]; then
        timeout "$budget" "$@" >>"$log" 2>&1
    else
        timeout "$budget" "$@" >"$out/$target" 2>>"$log"
    fi
    code=$?
    ((code != 0)) && status=$code
    say "== $name: exit $code after $((SECONDS - started)) s"
}

site=$(mktemp -d /tmp/rtsr-site.XXXXXX)
if ! python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheels"/av-*.whl >>"$log" 2>&1; then
    say "cannot install PyAV from $wheels"
    exit 1
fi
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1

if [ "${RTSR_CHECK_SMALL:-0}" = 1 ]; then
    model_sizes=(64x48 96x64); frames=12; e2e_720=(96x64 24); e2e_360=(64x48 24); live_size=128x96; live_seconds=3
    srresnet_x4=64x48
else
    model_sizes=(640x360 1280x720 1920x1080); frames=50; e2e_720=(1280x720 120); e2e_360=(640x360 240)
    live_size=1280x720; live_seconds=20; srresnet_x4=960x540
fi

step machine 30 - bash -c 'date -u; nproc; free -g | head -2; (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true);
    python3 -c "import torch, av; print(\"torch\", torch.__version__, \"cuda\", torch.version.cuda, \"available\", torch.cuda.is_available(), \"PyAV\", av.__version__)"'
step "pytest -m gpu" 150 - python3 -m pytest -q -m gpu -p no:cacheprovider -o addopts="" tests
step "model-only bench" 90 bench_model.json python3 -m rtsr bench --json --engines "$engine" \
    --models fsrcnn srcnn srresnet --scales 3 --sizes "${model_sizes[@]}" --frames "$frames" --warmup 5
step "model-only SRResNet x4 $srresnet_x4" 40 bench_srresnet_x4.json python3 -m rtsr bench --json \
    --engines "$engine" --models srresnet --scales 4 --sizes "$srresnet_x4" --frames "$frames" --warmup 5
step "model-only bench, eager" 60 bench_model_eager.json python3 -m rtsr bench --json --engines "$engine" \
    --models fsrcnn --scales 3 --sizes "${model_sizes[@]}" --frames "$frames" --warmup 5 --no-compile
for preset in veryfast medium; do
    step "e2e ${e2e_720[0]} x3 $preset" 110 "e2e_720p_$preset.json" python3 -m rtsr bench --e2e --json \
        --engines "$engine" --scales 3 --sizes "${e2e_720[0]}" --frames "${e2e_720[1]}" --warmup 10 \
        --preset "$preset" --jobs 1 4 8
    step "e2e ${e2e_360[0]} x3 $preset" 80 "e2e_360p_$preset.json" python3 -m rtsr bench --e2e --json \
        --engines "$engine" --scales 3 --sizes "${e2e_360[0]}" --frames "${e2e_360[1]}" --warmup 10 \
        --preset "$preset" --jobs 1 4 8
done
step "live ${live_size} x2, ${live_seconds} s" $((live_seconds + 40)) - python3 -m rtsr live \
    "testsrc2=size=${live_size}:rate=60" --scale 2 --engine "$engine" --no-window --duration "$live_seconds" \
    -o "$site/live.mp4" --overwrite
say "== done in $SECONDS s, status $status"
exit "$status"
