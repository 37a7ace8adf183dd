#!/usr/bin/env bash
# make demo: clip end to end on a fresh Debian bookworm machine (run as root).
#  1. installs the Debian packages it needs, builds clip
#  2. starts a registry on loopback with a sample image (busybox + a 64 MiB data file nobody reads)
#  3. indexes the image once and stores the index in the registry (what a CI pipeline does)
#  4. starts clip-snapshotter and a private containerd that uses clip as a proxy plugin
#  5. pulls lazily with `ctr-remote image rpull --snapshotter clip`, runs the container with
#     `ctr run --snapshotter clip`, and prints what was fetched against the image size.
# Everything lives under $DEMO_DIR and is stopped and removed on exit (set KEEP=1 to keep it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO_DIR=${DEMO_DIR:-/tmp/clip-demo}
PORT=${PORT:-5055}
REF=127.0.0.1:$PORT/demo/app:1
[ "$(id -u)" = 0 ] || { echo "make demo needs root (FUSE, mounts, containerd)"; exit 1; }

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "installing Debian packages"
export DEBIAN_FRONTEND=noninteractive
if ! command -v ctr-remote >/dev/null || ! command -v docker-registry >/dev/null || ! command -v umoci >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq containerd runc docker-registry skopeo umoci busybox-static stargz-snapshotter fuse3 curl >/dev/null
fi

say "building clip (make build)"
make -C "$ROOT" build >/dev/null
CLIPCTL=$ROOT/bin/clipctl
SNAPSHOTTER=$ROOT/bin/clip-snapshotter

PIDS=()
cleanup() {
  set +e
  if [ -S "$DEMO_DIR/containerd.sock" ]; then
    ctr -a "$DEMO_DIR/containerd.sock" -n demo task kill -s KILL demo >/dev/null 2>&1
    ctr -a "$DEMO_DIR/containerd.sock" -n demo container rm demo >/dev/null 2>&1
  fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  grep -E " $DEMO_DIR" /proc/mounts | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$DEMO_DIR"
}
trap cleanup EXIT
cleanup; trap cleanup EXIT
mkdir -p "$DEMO_DIR"

say "starting a registry on 127.0.0.1:$PORT"
cat > "$DEMO_DIR/registry.yml" <<YML
version: 0.1
log: { level: warn }
storage: { filesystem: { rootdirectory: $DEMO_DIR/registry } }
http: { addr: 127.0.0.1:$PORT }
YML
docker-registry serve "$DEMO_DIR/registry.yml" >"$DEMO_DIR/registry.log" 2>&1 & PIDS+=($!)
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.1; done

say "building a sample image: busybox, 300 small files, a 64 MiB data file the container never reads"
umoci init --layout "$DEMO_DIR/layout" >/dev/null
umoci new --image "$DEMO_DIR/layout:app" >/dev/null
umoci unpack --image "$DEMO_DIR/layout:app" "$DEMO_DIR/bundle" >/dev/null
R=$DEMO_DIR/bundle/rootfs
mkdir -p "$R/bin" "$R/etc" "$R/data" "$R/app/lib"
cp /bin/busybox "$R/bin/busybox"
for a in sh cat echo ls wc head; do ln -sf busybox "$R/bin/$a"; done
head -c $((64 << 20)) /dev/urandom > "$R/data/model.bin"
for i in $(seq 300); do seq "$i" $((i * 40)) > "$R/app/lib/part$i.txt"; done
umoci repack --refresh-bundle --image "$DEMO_DIR/layout:app" "$DEMO_DIR/bundle" >/dev/null
echo "hello from a lazily pulled image" > "$R/app/hello.txt"
umoci repack --refresh-bundle --image "$DEMO_DIR/layout:app" "$DEMO_DIR/bundle" >/dev/null
umoci config --image "$DEMO_DIR/layout:app" --config.cmd /bin/sh --config.cmd -c \
  --config.cmd 'cat /app/hello.txt; echo "files in /app/lib: $(ls /app/lib | wc -l)"' >/dev/null
skopeo copy -q --dest-tls-verify=false "oci:$DEMO_DIR/layout:app" "docker://$REF"

mkdir -p "$DEMO_DIR/certs.d/127.0.0.1:$PORT"
printf 'server = "http://127.0.0.1:%s"\n[host."http://127.0.0.1:%s"]\n  capabilities = ["pull", "resolve"]\n' "$PORT" "$PORT" > "$DEMO_DIR/certs.d/127.0.0.1:$PORT/hosts.toml"

say "indexing once and storing the index in the registry: clipctl index --image $REF --push"
"$CLIPCTL" index --image "$REF" --push --root "$DEMO_DIR/ci" --hosts-dir "$DEMO_DIR/certs.d"

say "starting clip-snapshotter and containerd (clip as proxy plugin)"
cat > "$DEMO_DIR/clip.toml" <<TOML
root_dir = "$DEMO_DIR/clip"
socket = "$DEMO_DIR/clip.sock"
metrics_address = "127.0.0.1:$((PORT + 1))"
[lazy]
background_fetch = false
certs_dir = "$DEMO_DIR/certs.d"
TOML
"$SNAPSHOTTER" --config "$DEMO_DIR/clip.toml" >"$DEMO_DIR/clip.log" 2>&1 & PIDS+=($!)
cat > "$DEMO_DIR/containerd.toml" <<TOML
version = 2
root = "$DEMO_DIR/containerd/root"
state = "$DEMO_DIR/containerd/state"
[grpc]
  address = "$DEMO_DIR/containerd.sock"
[proxy_plugins.clip]
  type = "snapshot"
  address = "$DEMO_DIR/clip.sock"
TOML
for _ in $(seq 100); do [ -S "$DEMO_DIR/clip.sock" ] && break; sleep 0.1; done
containerd --config "$DEMO_DIR/containerd.toml" >"$DEMO_DIR/containerd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do ctr -a "$DEMO_DIR/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.1; done
CTR=(ctr -a "$DEMO_DIR/containerd.sock" -n demo)

say "lazy pull: ctr-remote image rpull --snapshotter clip $REF"
start=$(date +%s.%N)
ctr-remote -a "$DEMO_DIR/containerd.sock" -n demo image rpull --plain-http --snapshotter clip "$REF"
pulled=$(date +%s.%N)

say "run: ctr run --snapshotter clip --rm $REF demo"
"${CTR[@]}" run --snapshotter clip --rm "$REF" demo
ran=$(date +%s.%N)

image_bytes=$(skopeo inspect --raw --tls-verify=false "docker://$REF" | tr -d ' \n' | sed 's/.*"layers":\[//' | grep -o '"size":[0-9]*' | cut -d: -f2 | awk '{s += $1} END {printf "%d", s}')
fetched=$(curl -fs "http://127.0.0.1:$((PORT + 1))/metrics" | awk '/^clip_content_fetched_bytes_total/ {s += $2} END {printf "%d", s}')
blobs=$(find "$DEMO_DIR/containerd/root" -path '*content*blobs*' -type f 2>/dev/null | wc -l)
say "result"
awk -v img="$image_bytes" -v got="$fetched" -v t0="$start" -v t1="$pulled" -v t2="$ran" -v blobs="$blobs" 'BEGIN {
  printf "image compressed size : %12d bytes\n", img
  printf "fetched lazily by clip: %12d bytes (%.2f%% of the image)\n", got, 100 * got / img
  printf "pull took %.2fs, run took %.2fs\n", t1 - t0, t2 - t1
  printf "blobs in containerd content store: %d (manifest and config: the layers were never downloaded)\n", blobs
}'
