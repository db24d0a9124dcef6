#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what it needs
# (scripts/setup.sh), checks formatting and lints, runs every test of the
# workspace (unit, real-model numerics, real brokers, real daemon, real
# browser), builds the controller boards within their flash/RAM budgets,
# and builds the boards' aarch64 package and runs it under qemu-user.
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
cargo test --workspace --locked --no-fail-fast

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

step "aarch64 (Jetson, Raspberry Pi): optimized build, arm64 package, run under qemu-user"
# The boards' release build (camera support on) and the arm64 .deb with
# its contents checked, then that build run under qemu-user against the
# onnxruntime fixtures and as a daemon (scripts/aarch64-check.py; --quick:
# emulation is slow, the full check is an hour: docs/install.md).
bash scripts/package-deb.sh --target aarch64-unknown-linux-gnu
python3 scripts/aarch64-check.py --quick \
  --arm-dir "$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release" \
  --host-easel "$CARGO_TARGET_DIR/debug/easel"
