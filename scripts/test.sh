#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what it needs
# (scripts/setup.sh), checks formatting and lints, runs every test of the
# workspace (unit, real-model numerics, real brokers, real daemon, real
# browser), builds the controller boards within their flash/RAM budgets,
# builds the arm64 package and runs it under qemu-user (Jetson, Raspberry Pi).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

# One warm target directory outside the checkout, shared by every step.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/easel/target}"
mkdir -p "$CARGO_TARGET_DIR"

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "systemd units (systemd-analyze verify, with the binaries just built)"
bash scripts/verify-units.sh

step "camera support (feature v4l): the source layer's unit tests"
# --workspace, as above: `-p easel-daemon` alone would resolve the
# dependencies' features for that one package and compile tract and the
# rest again; this way only the daemon and the v4l crates are new.
cargo test --workspace --locked --features easel-daemon/v4l --lib source

step "controller boards (flash/RAM budgets)"
# Board crates keep their own target folders (their .cargo/config.toml).
env -u CARGO_TARGET_DIR bash firmware/ci.sh

step "aarch64: the optimized build, the arm64 package, and both run under qemu-user"
# A release build for the boards (Jetson, Raspberry Pi 5), packed into the
# .deb a technician installs, its contents checked; then that build runs
# under emulation: every reference model and its quantized variants
# against onnxruntime, and the daemon online, answering, stopping.
deb="$(bash scripts/package-deb.sh --target aarch64-unknown-linux-gnu | tee /dev/stderr | tail -n 1)"
echo "built $deb"
python3 scripts/aarch64-check.py \
  --arm-dir "$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release" \
  --host-easel "$CARGO_TARGET_DIR/debug/easel"
