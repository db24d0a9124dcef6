#!/usr/bin/env bash
# `systemd-analyze verify` on every unit under packaging/systemd/, and any
# warning it prints is a failure. verify insists that ExecStart= names an
# executable that exists, so each unit is checked as a copy in a temp
# folder: /usr/bin/easeld* and /usr/bin/easel* point at the binaries this
# checkout built (CARGO_TARGET_DIR/debug, built by `cargo test
# --workspace`); any other program the unit starts (cage, chromium for
# the kiosk) that is not installed here points at /bin/true, and says so.
# Everything else in the unit is checked as shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(realpath -m "${CARGO_TARGET_DIR:-target}/debug")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
status=0
for unit in packaging/systemd/*.service; do
  name="$(basename "$unit")"
  cp "$unit" "$work/$name"
  for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$unit" | sort -u); do
    case "$exe" in
      /usr/bin/easel*)
        built="$target/$(basename "$exe")"
        [ -x "$built" ] || { echo "verify-units: $built is not built (cargo build --workspace)"; exit 1; }
        stand_in="$built" ;;
      *)
        [ -x "$exe" ] && continue
        echo "verify-units: $name: $exe is not installed here; checked with /bin/true in its place"
        stand_in=/bin/true ;;
    esac
    sed -i "s#=\([-@:+!]*\)$exe\b#=\1$stand_in#" "$work/$name"
  done
  out="$(systemd-analyze verify "$work/$name" 2>&1)" || { status=1; }
  if [ -n "$out" ]; then
    echo "$out"
    status=1
  fi
  [ "$status" -eq 0 ] && echo "verify-units: $name ok"
done
exit "$status"
