#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs what it needs
# (scripts/setup.sh), checks formatting and lints, runs every test of the
# workspace (unit, real-model numerics, real brokers, real daemon, real
# browser), builds the controller boards within their flash/RAM budgets,
# and cross-compiles the daemon and tools for aarch64 (Jetson, Raspberry Pi).
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

step "cross-compile for aarch64-unknown-linux-gnu"
# Proves the tree builds and links for the boards. The optimized build,
# the arm64 package and the run under qemu-user are
# `bash scripts/package-deb.sh --target aarch64-unknown-linux-gnu` and
# `python3 scripts/aarch64-check.py` (docs/install.md); they are not in this
# suite yet: their cost against CI's time budget has not been measured.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
cargo build --locked --profile cross --target aarch64-unknown-linux-gnu -p easel-daemon -p easel-tools
file_out="$CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/cross/easeld"
test -x "$file_out"
echo "built $(basename "$file_out") and easel for aarch64"
