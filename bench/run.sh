#!/bin/sh
# The easel benchmark: easel on both of its engines (`easel bench --engine
# tract,onnxruntime`, release build) and onnxruntime used alone
# (bench/ort_bench.py) on the reference models, at 1 and 2 threads, then
# the three side by side as a markdown table.
#
#   bench/run.sh                         # every reference model (models/*, tests/fixtures/models/*), threads 1,2
#   bench/run.sh tests/fixtures/models/dcgan-64         # some models
#   THREADS=1,2,4 RUNS=50 bench/run.sh   # more threads / runs
#   TRACT_DISABLE_DIRECT_SPATIAL=1 bench/run.sh models/style-256
#                                        # tract knobs pass through (shown in the table)
#   MQTT=0 bench/run.sh                  # skip the MQTT control plane benchmark (docs/mqtt.md)
#   DEPLOY=0 bench/run.sh                # skip the model deploy benchmark (docs/deploy.md)
#
# Needs: cargo, python3 with onnxruntime and numpy (pip install onnxruntime numpy);
# easel's onnxruntime engine loads the library of that same Python package
# (or ORT_DYLIB_PATH's).
# Writes bench/out/{easel,ort}.json, bench/out/table.md and, for image
# models, bench/out/live.md (live mode through easeld; not committed).
# Run it on an otherwise idle machine: both runtimes use every core you give them.
set -eu
cd "$(dirname "$0")/.."

THREADS=${THREADS:-1,2}
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-5}
if [ "$#" -eq 0 ]; then
    set -- models/*/ tests/fixtures/models/*/
fi

cargo build --release -p easel-tools --bin easel
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
easel="$target_dir/release/easel"

mkdir -p bench/out
echo "easel on tract and on onnxruntime (easel bench):" >&2
"$easel" bench --engine tract,onnxruntime --threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP" --json "$@" >bench/out/easel.json
echo "easel on tract without its fast paths (EASEL_TRACT_FUSE=0):" >&2
EASEL_TRACT_FUSE=0 "$easel" bench --engine tract --threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP" --json "$@" >bench/out/easel-plain.json
echo "onnxruntime alone (bench/ort_bench.py):" >&2
python3 bench/ort_bench.py --threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP" --json "$@" >bench/out/ort.json
python3 bench/ort_bench.py --compare bench/out/easel.json bench/out/ort.json bench/out/easel-plain.json | tee bench/out/table.md
# The default CPPN at a kiosk's screen size, the same three ways.
SCREEN=${SCREEN:-1920x1080}
echo "cppn-aurora at $SCREEN:" >&2
"$easel" bench --engine tract,onnxruntime --threads "$THREADS" --runs 10 --warmup 2 --size "$SCREEN" --json models/cppn-aurora >bench/out/easel-screen.json
EASEL_TRACT_FUSE=0 "$easel" bench --engine tract --threads "$THREADS" --runs 5 --warmup 1 --size "$SCREEN" --json models/cppn-aurora >bench/out/easel-screen-plain.json
python3 bench/ort_bench.py --threads "$THREADS" --runs 10 --warmup 2 --size "$SCREEN" --json models/cppn-aurora >bench/out/ort-screen.json
python3 bench/ort_bench.py --compare bench/out/easel-screen.json bench/out/ort-screen.json bench/out/easel-screen-plain.json | tee bench/out/screen.md
# Live mode end to end (frames/s, capture-to-display latency) for the image
# models among them, beside onnxruntime: bench/live_bench.py.
cargo build --release -p easel-daemon --bin easeld
python3 bench/live_bench.py --easeld "$target_dir/release/easeld" --threads "$THREADS" "$@" | tee bench/out/live.md

# The MQTT control plane (docs/mqtt.md): command-to-event latency over 200
# `generate` on dcgan-64 and a 10 x 1000 flood, against the real easeld on
# its embedded broker and on mosquitto (needs mosquitto installed).
if [ "${MQTT:-1}" != 0 ]; then
    echo "MQTT control plane (easel ctl bench):" >&2
    cargo build --release -p easel-daemon --bin easeld
    cargo test --release -p easel-tools --test ctl -- --ignored --nocapture bench_control_plane | tee bench/out/mqtt.txt
fi

# Model deploy over MQTT (docs/deploy.md): a 14.3 MB signed package sent by
# the real `easel deploy --activate` to the real easeld, over the embedded
# broker and mosquitto: transfer time and throughput, commit to activated,
# commit to the first picture of the new model.
if [ "${DEPLOY:-1}" != 0 ]; then
    echo "model deploy (easel deploy):" >&2
    cargo test --release -p easel-daemon --test deploy_mqtt -- --ignored --nocapture bench_deploy | tee bench/out/deploy.txt
fi
