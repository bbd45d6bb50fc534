#!/usr/bin/env bash
# The console's benchmarks (docs/BENCHMARKS.md, "Console"): builds the
# release binaries, then
#   * type-ahead over 100,000 cached contracts (typeahead_bench), and
#   * cold start to the search screen and memory after loading a
#     10,000-user contract (console_bench, in a throwaway desktop session:
#     Xvfb, D-Bus + gnome-keyring, tauri-driver; see scripts/with-desktop.sh).
# Run `bash scripts/console-test.sh setup` once first (packages, tauri-driver, ui/dist).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
[[ "$TARGET" = /* ]] || TARGET="$PWD/$TARGET"
cargo build --release --locked --workspace --bins --examples
echo "== type-ahead"
"$TARGET/release/examples/typeahead_bench"
echo "== start-up and memory"
bash scripts/with-desktop.sh "$TARGET/release/examples/console_bench" "$TARGET/release/tollgate-console"
echo "== a bare WebKitGTK window with the same settings, for comparison"
# The same defaults as src-tauri/src/webview.rs (DEFAULTS); keep the two lists alike.
WEBKIT_DISABLE_COMPOSITING_MODE=${WEBKIT_DISABLE_COMPOSITING_MODE:-1} WEBKIT_DISABLE_DMABUF_RENDERER=${WEBKIT_DISABLE_DMABUF_RENDERER:-1} \
  JSC_useJIT=${JSC_useJIT:-false} bash scripts/with-desktop.sh bash scripts/webkit-floor.sh
