#!/bin/sh
# easel end to end against onnxruntime (issue "faster than onnxruntime"):
# morph fps, live fps and generate->generated latency of the real easeld,
# beside onnxruntime's raw inference on the same files and threads.
#
#   bash bench/speed.sh                     # threads = 2, the reference models
#   THREADS=1 bash bench/speed.sh
#   bash bench/speed.sh --latent-model tests/fixtures/models/dcgan-64 --image-model models/style-256
#
# Needs cargo, python3 with onnxruntime and numpy (scripts/setup.sh installs
# them). Run it on an otherwise idle machine.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p easel-daemon --bin easeld -p easel-tools --bin easel
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec python3 bench/speed.py --easeld "$target_dir/release/easeld" --easel "$target_dir/release/easel" "$@"
