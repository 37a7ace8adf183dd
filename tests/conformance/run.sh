#!/usr/bin/env bash
# Runs containerd's snapshotter conformance suite (snapshots/testsuite from containerd 1.6,
# Debian's golang-github-containerd-containerd-dev) against clip-snapshotter, and the same suite
# against containerd's overlayfs snapshotter as the reference. Installs nothing; needs root.
#
#   tests/conformance/run.sh            build the daemon, run both suites, compare
#   CLIP_SNAPSHOTTER="dotnet /path/clip-snapshotter.dll" tests/conformance/run.sh   use a built daemon
#   CLIP_CONFORMANCE_OVERLAY=0 ...      skip the overlay reference
#
# Exit 0 when every case that passes for overlayfs also passes for clip.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
gocode=/usr/share/gocode

fail() { echo "conformance: $*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || fail "needs root (the suite mounts overlay and bind mounts)"
command -v go >/dev/null || fail "go not found: apt-get install -y golang-go"
[ -d "$gocode/src/github.com/containerd/containerd/snapshots/testsuite" ] ||
	fail "containerd test suite not found: apt-get install -y golang-github-containerd-containerd-dev"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || fail "the kernel has no overlay filesystem"

work="$(mktemp -d /tmp/clip-conformance.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if [ -z "${CLIP_SNAPSHOTTER:-}" ]; then
	command -v dotnet >/dev/null || fail "dotnet not found and CLIP_SNAPSHOTTER not set"
	echo "conformance: building clip-snapshotter"
	dotnet build "$repo/src/Clip.Snapshotter" -c Release -o "$work/bin" -nologo -v quiet >"$work/build.log" 2>&1 ||
		{ cat "$work/build.log"; fail "build failed"; }
	CLIP_SNAPSHOTTER="dotnet $work/bin/clip-snapshotter.dll"
fi
export CLIP_SNAPSHOTTER

pkg="$work/gopath/src/clip.local/conformance"
mkdir -p "$pkg"
cp "$here"/*.go "$pkg/"
export GO111MODULE=off GOPATH="$work/gopath:$gocode" GOCACHE="$work/gocache" GOFLAGS=-mod= GOPROXY=off
export CLIP_CONFORMANCE_OVERLAY="${CLIP_CONFORMANCE_OVERLAY-1}"
if [ "$CLIP_CONFORMANCE_OVERLAY" = 0 ]; then unset CLIP_CONFORMANCE_OVERLAY; fi

echo "conformance: go test (containerd snapshots/testsuite) against $CLIP_SNAPSHOTTER"
set +e
(cd "$pkg" && go test -v -count=1 -parallel 2 -timeout 30m .) >"$work/test.log" 2>&1
status=$?
set -e
cp "$work/test.log" "${CLIP_CONFORMANCE_LOG:-/tmp/clip-conformance.log}"

result() { { grep -E -- "--- (PASS|FAIL|SKIP): $1/" "$work/test.log" || true; } | sed -E 's/^ *--- (PASS|FAIL|SKIP): [^/]+\/([^ ]+).*/\2 \1/' | sort; }
result TestClip >"$work/clip.txt"
result TestOverlayReference >"$work/overlay.txt"

echo "conformance: clip results"
sed 's/^/  /' "$work/clip.txt"
pass=$(grep -c ' PASS$' "$work/clip.txt" || true)
failed=$(grep -c ' FAIL$' "$work/clip.txt" || true)
total=$(wc -l <"$work/clip.txt")
[ "$total" -gt 0 ] || { tail -50 "$work/test.log"; fail "no test case ran"; }

regressions=0
if [ -s "$work/overlay.txt" ]; then
	echo "conformance: overlayfs reference: $(grep -c ' PASS$' "$work/overlay.txt" || true) passed, $(grep -c ' FAIL$' "$work/overlay.txt" || true) failed"
	while read -r name verdict; do
		if [ "$verdict" = PASS ] && ! grep -qx "$name PASS" "$work/clip.txt"; then
			echo "conformance: $name passes for overlayfs but not for clip"
			regressions=$((regressions + 1))
		fi
	done <"$work/overlay.txt"
fi
if [ "$failed" -gt 0 ] || [ "$regressions" -gt 0 ]; then
	grep -E -A30 -- "--- FAIL: TestClip/" "$work/test.log" | head -200 || true
fi
skipped=$(grep -c ' SKIP$' "$work/clip.txt" || true)
echo "conformance: $pass passed, $failed failed, $skipped skipped"
[ "$status" = 0 ] || [ "$failed" -gt 0 ] || [ "$regressions" -gt 0 ] || { tail -50 "$work/test.log"; fail "go test exited $status"; }
[ "$failed" -eq 0 ] && [ "$regressions" -eq 0 ]
