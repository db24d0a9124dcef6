#!/bin/sh
# What Content Credentials cost: signing time per picture (easel bench-sign)
# and generate -> generated latency of the real easeld with and without
# signing (docs/performance.md, "Content Credentials").
#
#   bash bench/signing.sh                       # dcgan-64, threads = 2
#   bash bench/signing.sh --model models/cppn-aurora
#
# Needs cargo and python3. Run it on an otherwise idle machine.
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p easel-daemon --bin easeld -p easel-tools --bin easel
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
exec python3 bench/signing.py --easeld "$target_dir/release/easeld" --easel "$target_dir/release/easel" "$@"
