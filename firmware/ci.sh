#!/usr/bin/env bash
# Builds every controller board for its own target, from its own folder
# (each board's .cargo/config.toml only applies there), prints flash and
# static RAM per board from the ELF section headers, and fails when a board
# exceeds its budget. Needs rustup/cargo; installs the rustup targets and,
# if missing, binutils (for readelf). Budgets are documented in README.md.
set -euo pipefail
cd "$(dirname "$0")"

# board folder -> target, flash budget (bytes), static RAM budget (bytes)
declare -A TARGET=(
  [rp2040-w5500]=thumbv6m-none-eabi
  [esp32c3]=riscv32imc-unknown-none-elf
)
declare -A FLASH_BUDGET=(
  [rp2040-w5500]=$((160 * 1024))
  [esp32c3]=$((1024 * 1024))
)
declare -A RAM_BUDGET=(
  [rp2040-w5500]=$((64 * 1024))
  [esp32c3]=$((256 * 1024))
)

if ! command -v readelf >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -qq binutils >/dev/null
  else
    echo "firmware/ci.sh: readelf not found; install binutils" >&2
    exit 1
  fi
fi

boards=()
for dir in boards/*/; do
  board=$(basename "$dir")
  [ -f "$dir/Cargo.toml" ] || continue
  if [ -z "${TARGET[$board]:-}" ]; then
    echo "firmware/ci.sh: board $board has no target/budget entry in ci.sh" >&2
    exit 1
  fi
  boards+=("$board")
done
if [ ${#boards[@]} -eq 0 ]; then
  echo "firmware/ci.sh: no boards found" >&2
  exit 1
fi

targets=()
for board in "${boards[@]}"; do targets+=("${TARGET[$board]}"); done
rustup target add "${targets[@]}" >/dev/null 2>&1

# Code the chip runs from RAM (interrupt vectors, the WiFi driver's
# time-critical functions): an executable section whose address falls in
# this range occupies SRAM as well as flash. Boards without one run all
# their code from flash.
declare -A IRAM=(
  [esp32c3]=0x4037c000-0x403e0000
)

# Build-time settings the measured image should have (WiFi credentials:
# the ESP32-C3 builds without them too, as an image to set up on site).
# When neither the environment nor the board's easel.env gives one, the
# build gets a placeholder that only proves it builds; a technician's own
# settings are never replaced, so the ELF left in target/ stays theirs.
declare -A REQUIRED=(
  [esp32c3]="EASEL_WIFI_SSID EASEL_WIFI_PASSWORD"
)

# Sums section sizes from `readelf -S -W`: flash = allocated sections with
# contents (code, read-only data, the initial image of .data); RAM =
# writable allocated sections (.data, .bss, .uninit) plus code placed in
# the board's IRAM range.
sizes() {
  local flash=0 ram=0 type addr size flags lo=1 hi=0
  if [ -n "${2:-}" ]; then
    lo=$((${2%-*})) hi=$((${2#*-}))
  fi
  while read -r type addr size flags; do
    [[ $flags == *A* ]] || continue
    [ "$type" = NOBITS ] || flash=$((flash + 16#$size))
    if [[ $flags == *W* ]]; then
      ram=$((ram + 16#$size))
    elif [[ $flags == *X* ]] && ((16#$addr >= lo && 16#$addr < hi)); then
      ram=$((ram + 16#$size))
    fi
  done < <(readelf -S -W "$1" | sed -E 's/^ *\[ *[0-9]+\] *//' |
    awk 'NF >= 7 && $2 != "NULL" { print $2, $3, $5, $7 }')
  echo "$flash $ram"
}

# Each board builds into its own target/ folder (its dependencies are
# built for its own target with its own settings): a shared
# CARGO_TARGET_DIR would put the ELF elsewhere.
unset CARGO_TARGET_DIR

status=0
printf '%-16s %-30s %10s %10s %10s %10s\n' board target flash budget ram budget
for board in "${boards[@]}"; do
  target=${TARGET[$board]}
  placeholders=()
  for key in ${REQUIRED[$board]:-}; do
    if [ -z "${!key+set}" ] && ! grep -qs "^ *$key *=" "boards/$board/easel.env"; then
      placeholders+=("$key=ci-placeholder")
    fi
  done
  (cd "boards/$board" &&
    env ${placeholders[@]+"${placeholders[@]}"} cargo build --release --locked --quiet)
  pkg=$(sed -n 's/^name *= *"\(.*\)"/\1/p' "boards/$board/Cargo.toml" | head -n1)
  elf="boards/$board/target/$target/release/$pkg"
  read -r flash ram < <(sizes "$elf" "${IRAM[$board]:-}")
  printf '%-16s %-30s %10d %10d %10d %10d\n' "$board" "$target" "$flash" "${FLASH_BUDGET[$board]}" "$ram" "${RAM_BUDGET[$board]}"
  if [ "$flash" -gt "${FLASH_BUDGET[$board]}" ]; then
    echo "FAIL: $board flash $flash > budget ${FLASH_BUDGET[$board]}" >&2
    status=1
  fi
  if [ "$ram" -gt "${RAM_BUDGET[$board]}" ]; then
    echo "FAIL: $board static RAM $ram > budget ${RAM_BUDGET[$board]}" >&2
    status=1
  fi
done
exit $status
