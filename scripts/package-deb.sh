#!/usr/bin/env bash
# Builds the board package `easel_<version>_<arch>.deb` (docs/install.md,
# "The package") and checks what is in it:
#
#   bash scripts/package-deb.sh                                     # amd64, this machine
#   bash scripts/package-deb.sh --target aarch64-unknown-linux-gnu  # arm64 (Jetson, Pi 5)
#
# The workspace is built first (release, with camera support), then
# cargo-deb only packs (`--no-build`): its own build would take one
# package's features and rebuild the dependencies. cargo-deb comes from
# crates.io when missing (about 3 minutes to compile on two busy cores).
# Prints the path of the package on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
target_args=()
arch_dir=release
if [ "${1:-}" = "--target" ]; then
  target_args=(--target "$2")
  arch_dir="$2/release"
  if [ "$2" = aarch64-unknown-linux-gnu ]; then
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER="${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}"
    export CC_aarch64_unknown_linux_gnu="${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}"
    # The camera bindings (bindgen) read the target's kernel headers.
    export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="${BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu:---sysroot=/usr/aarch64-linux-gnu}"
  fi
fi

if ! cargo deb --version 2>/dev/null | grep -q "$CARGO_DEB_VERSION"; then
  echo "package-deb: installing cargo-deb $CARGO_DEB_VERSION from crates.io"
  # Its own temporary target folder: nothing of the workspace's build moves.
  env -u CARGO_TARGET_DIR -u CARGO_BUILD_BUILD_DIR \
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

cargo build --release --locked --workspace --features easel-daemon/v4l "${target_args[@]}"
out="${CARGO_TARGET_DIR:-target}/debian"
mkdir -p "$out"
# --no-strip for a cross build: the host's strip does not know arm64.
strip_args=()
[ ${#target_args[@]} -gt 0 ] && strip_args=(--no-strip)
deb="$(cargo deb --no-build --locked -p easel-daemon "${target_args[@]}" "${strip_args[@]}" --output "$out" | tail -n 1)"
[ -f "$deb" ] || { echo "package-deb: cargo deb did not name a package: $deb"; exit 1; }

# What the package must hold, from the checkout itself: every shipped
# model's files, the binaries, the units, the config as a conffile.
contents="$(dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's#^\./#/#')"
want=(/usr/bin/easeld /usr/bin/easel /usr/bin/easel-controller
      /usr/lib/systemd/system/easeld.service /usr/lib/systemd/system/easel-kiosk.service
      /etc/easel/easel.toml /etc/pam.d/easel-kiosk /usr/share/doc/easel/install.md)
for model in models/*/; do
  for file in "$model"*; do
    want+=("/usr/share/easel/models/$(basename "$model")/$(basename "$file")")
  done
done
missing=0
for path in "${want[@]}"; do
  grep -qx "$path" <<<"$contents" || { echo "package-deb: $deb lacks $path"; missing=1; }
done
conffiles="$(dpkg-deb --info "$deb" conffiles 2>/dev/null || true)"
grep -qx /etc/easel/easel.toml <<<"$conffiles" || { echo "package-deb: /etc/easel/easel.toml is not a conffile"; missing=1; }
# The users must exist before cargo-deb's part starts easeld.
postinst="$(dpkg-deb --info "$deb" postinst)"
users_at="$(grep -n -m1 "adduser --system" <<<"$postinst" | cut -d: -f1)"
start_at="$(grep -n -m1 "deb-systemd-invoke" <<<"$postinst" | cut -d: -f1)"
if [ -z "$users_at" ] || [ -z "$start_at" ] || [ "$users_at" -gt "$start_at" ]; then
  echo "package-deb: the postinst must make the users (line ${users_at:-none}) before it starts easeld (line ${start_at:-none})"
  missing=1
fi
[ "$missing" -eq 0 ] || exit 1
echo "package-deb: $(dpkg-deb --field "$deb" Package Version Architecture Depends | tr '\n' ' ')"
echo "package-deb: ${#want[@]} required paths present, conffile /etc/easel/easel.toml"
echo "$deb"
