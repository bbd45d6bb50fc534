#!/usr/bin/env bash
# What a bare WebKitGTK window costs on this machine, for comparison with the
# console's memory (docs/BENCHMARKS.md, "Console"): WebKitGTK's own
# MiniBrowser showing one heading, idle 10 s, the PSS of its UI, web and
# network processes summed. Run inside scripts/with-desktop.sh; the
# environment decides WebKit's settings, e.g.
#   bash scripts/with-desktop.sh bash scripts/webkit-floor.sh
#   WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 JSC_useJIT=false \
#     bash scripts/with-desktop.sh bash scripts/webkit-floor.sh
set -euo pipefail
MINI=$(ls /usr/lib/*/webkit2gtk-4.1/MiniBrowser 2>/dev/null | head -n 1)
[ -x "$MINI" ] || { echo "MiniBrowser not found (package libwebkit2gtk-4.1-0)" >&2; exit 1; }
"$MINI" "data:text/html,<h1>Hello</h1>" >/dev/null 2>&1 &
ui=$!
trap 'kill $ui 2>/dev/null || true' EXIT
sleep 10
total=0
report=""
for pid in $ui $(pgrep -P $ui) ; do
  pss=$(awk '/^Pss:/{print $2}' "/proc/$pid/smaps_rollup")
  total=$((total + pss))
  report="$report $(cat "/proc/$pid/comm") $((pss / 1024)) MB,"
done
printf 'bare WebKitGTK window, idle: PSS %d MB (%s)\n' $((total / 1024)) "${report%,}"
