#!/usr/bin/env bash
# Builds the benchmark images as OCI layouts from Debian packages (needs root, debootstrap, umoci
# and a Debian mirror; no other network). Output: $OUT/layout with tags
#   python   — Debian bookworm minbase | python3 | an app layer: ~2000 small .py files + one large incompressible file
#   tools    — Debian bookworm minbase | coreutils-level tools already in minbase + curl, procps (a shell workload)
# Re-running reuses the debootstrap cache in $OUT/cache.
set -euo pipefail
OUT=${1:-$(cd "$(dirname "$0")/.." && pwd)/out/images}
MIRROR=${CLIP_BENCH_MIRROR:-http://deb.debian.org/debian}
LARGE_MB=${CLIP_BENCH_LARGE_MB:-160}
SMALL_FILES=${CLIP_BENCH_SMALL_FILES:-2000}
mkdir -p "$OUT/cache"
LAYOUT="$OUT/layout"

if [ ! -f "$OUT/cache/base.tar" ]; then
  rm -rf "$OUT/cache/base"
  debootstrap --variant=minbase bookworm "$OUT/cache/base" "$MIRROR" >"$OUT/cache/debootstrap.log" 2>&1
  tar -C "$OUT/cache/base" --numeric-owner -cf "$OUT/cache/base.tar" .
  rm -rf "$OUT/cache/base"
fi

in_chroot() { # run a command in a rootfs with /proc and /dev available
  local root=$1; shift
  mount -t proc proc "$root/proc"
  mount --bind /dev "$root/dev"
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  local rc=0
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
  umount "$root/dev" "$root/proc"
  return $rc
}

clean_apt() {
  rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb "$1"/var/log/apt/* "$1"/tmp/* 2>/dev/null || true
}

rm -rf "$LAYOUT" "$OUT/bundle"
umoci init --layout "$LAYOUT"

# --- python image ---
umoci new --image "$LAYOUT:python"
umoci unpack --image "$LAYOUT:python" "$OUT/bundle" >/dev/null
tar -C "$OUT/bundle/rootfs" -xf "$OUT/cache/base.tar"
clean_apt "$OUT/bundle/rootfs"
umoci repack --refresh-bundle --image "$LAYOUT:python" "$OUT/bundle"
in_chroot "$OUT/bundle/rootfs" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 >/dev/null'
clean_apt "$OUT/bundle/rootfs"
umoci repack --refresh-bundle --image "$LAYOUT:python" "$OUT/bundle"
python3 - "$OUT/bundle/rootfs/app" "$SMALL_FILES" "$LARGE_MB" <<'PY'
import os, random, sys
root, n, large_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(42)
words = "def class return import from self value items append print yield lambda data result".split()
for i in range(n):
    d = os.path.join(root, "app", f"pkg{i % 40:02d}")
    os.makedirs(d, exist_ok=True)
    body = "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(4, 14))) for _ in range(rng.randint(5, 120)))
    with open(os.path.join(d, f"mod{i:04d}.py"), "w") as f:
        f.write(f"# module {i}\nVALUE = {i}\n'''\n{body}\n'''\n")
with open(os.path.join(root, "model.bin"), "wb") as f:
    for _ in range(large_mb):
        f.write(rng.randbytes(1 << 20))
with open(os.path.join(root, "main.py"), "w") as f:
    f.write("import app.pkg00.mod0000 as m\nprint(42)\n")
open(os.path.join(root, "app", "__init__.py"), "w").close()
PY
umoci repack --refresh-bundle --image "$LAYOUT:python" "$OUT/bundle"
umoci config --image "$LAYOUT:python" --config.workingdir /app --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.env PYTHONDONTWRITEBYTECODE=1 --config.cmd python3 --config.cmd -c --config.cmd 'print(42)'
rm -rf "$OUT/bundle"

# --- tools image: shell workload touching a handful of binaries ---
umoci new --image "$LAYOUT:tools"
umoci unpack --image "$LAYOUT:tools" "$OUT/bundle" >/dev/null
tar -C "$OUT/bundle/rootfs" -xf "$OUT/cache/base.tar"
clean_apt "$OUT/bundle/rootfs"
umoci repack --refresh-bundle --image "$LAYOUT:tools" "$OUT/bundle"
in_chroot "$OUT/bundle/rootfs" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends procps curl xz-utils file >/dev/null'
clean_apt "$OUT/bundle/rootfs"
umoci repack --refresh-bundle --image "$LAYOUT:tools" "$OUT/bundle"
umoci config --image "$LAYOUT:tools" --config.cmd sh --config.cmd -c --config.cmd 'uname -s; ls /usr/bin | wc -l; ps -o pid= -p 1 >/dev/null && echo ps-ok; xz --version | head -1; file /bin/sh'
rm -rf "$OUT/bundle"
umoci gc --layout "$LAYOUT"
echo "built $LAYOUT:"
umoci ls --layout "$LAYOUT"
du -sh "$LAYOUT"
