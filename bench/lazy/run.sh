#!/usr/bin/env bash
# Lazy-read benchmark (issue 3): bytes fetched and latency of single 4 KiB file reads through clip's
# lazy reader against a real docker-registry on loopback. Generates a deterministic single-layer image
# (default 224 MiB tar), pushes and indexes it, reads files cold and cached; writes docs/bench-lazy.md.
#
#   bench/lazy/run.sh [--size-mb 224] [--files 12] [--span-mib 4] [--hit-reads 2000] [--report FILE] [--work DIR] [--keep]
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
if ! command -v docker-registry >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "docker-registry is missing: apt-get install -y docker-registry" >&2; exit 1; }
  apt-get install -y docker-registry >/dev/null
fi
dotnet build "$REPO/bench/Clip.NetBench/Clip.NetBench.csproj" -c Release --nologo -v quiet >/dev/null
# Which clip sources the benchmark was built from (it compiles src/ from this working tree).
dirty=$(git -C "$REPO" status --porcelain -- src 2>/dev/null | wc -l)
note="Built from clip sources at git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$([ "$dirty" = 0 ] || echo " plus $dirty uncommitted file(s) in src/")."
has_report=0
for a in "$@"; do [ "$a" = --report ] && has_report=1; done
if [ "$has_report" = 1 ]; then
  exec "$REPO/bench/Clip.NetBench/bin/Release/net10.0/clip-netbench" lazy --note "$note" "$@"
fi
exec "$REPO/bench/Clip.NetBench/bin/Release/net10.0/clip-netbench" lazy --note "$note" --report "$REPO/docs/bench-lazy.md" "$@"
