#!/usr/bin/env bash
# Installs what easel's tests and builds need on a fresh Debian machine
# that has only the Rust toolchain: system packages (brokers, browser,
# cross compiler), rustup targets and components. Safe to run again.
set -euo pipefail

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v readelf >/dev/null 2>&1 || need_apt+=(binutils)
# systemd-analyze: scripts/verify-units.sh checks the units in packaging/systemd.
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# qemu-user: the aarch64 build runs under emulation (scripts/aarch64-check.py).
command -v qemu-aarch64-static >/dev/null 2>&1 || need_apt+=(qemu-user-static)
# dpkg-deb: the package step reads the .deb it built (scripts/package-deb.sh).
command -v dpkg-deb >/dev/null 2>&1 || need_apt+=(dpkg)
# libclang: the `v4l` feature (camera support) generates its kernel bindings at build time.
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Installing the broker package may start a system mosquitto on 1883. It is
# left alone: it may be the venue's broker. Every test starts its own
# brokers and daemons on free ports and stops only those it started, so
# nothing here needs 1883 (or any fixed port) free.

rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add aarch64-unknown-linux-gnu thumbv6m-none-eabi riscv32imc-unknown-none-elf >/dev/null
# onnxruntime: the numerics fixtures, `easel quantize` tests (every variant
# must run there too), the bench comparison scripts, and easel's own
# onnxruntime engine, whose tests load the wheel's library (>= 1.17).
python3 -c 'import onnxruntime, onnx, numpy, PIL' >/dev/null 2>&1 \
  || python3 -m pip install --quiet onnxruntime onnx numpy pillow \
  || python3 -m pip install --quiet --break-system-packages onnxruntime onnx numpy pillow
# c2pa-python: the CAI's own C2PA SDK (its wheel bundles a build of
# c2pa-rs), the independent reader the Content Credentials tests check
# easel's signed pictures with (tests/c2pa_check.py).
python3 -c 'import c2pa' >/dev/null 2>&1 \
  || python3 -m pip install --quiet c2pa-python \
  || python3 -m pip install --quiet --break-system-packages c2pa-python
# python-osc: a real OSC client for the OSC edge's tests (daemon/tests/osc.rs).
python3 -c 'import pythonosc' >/dev/null 2>&1 \
  || python3 -m pip install --quiet python-osc \
  || python3 -m pip install --quiet --break-system-packages python-osc
