#!/usr/bin/env bash
# Cold container start on a shaped network (issue 6): overlayfs vs clip, measured from the registry's side.
#
#   bench/start/bench-start.sh [--reps N] [--bandwidth MBIT] [--rtt MS] [--profiles shaped,loopback]
#                              [--images python,tools] [--md FILE] [--png FILE] [--background-fetch]
#                              [--no-install] [--keep-work]
#   bench/start/bench-start.sh teardown      # stop/remove whatever a crashed run left (idempotent)
#
# Root only. The registry (docker-registry) runs in network namespace $NETNS behind a veth pair shaped
# with tc tbf (profile "shaped"), or on the host's loopback (profile "loopback"); every client talks
# to it through clip-netbench's relay on 127.0.0.1:$RELAY_PORT, which adds RTT/2 each way and counts
# the bytes per request. For each image and repetition, cold each time (fresh containerd root/state,
# fresh clip root and cache, page cache dropped):
#   overlayfs-cold  ctr image pull + ctr run --rm                      (time to first output, bytes)
#   overlayfs-warm  a second ctr run on the same containerd
#   clip-cold       ctr-remote image rpull --snapshotter clip + ctr run --snapshotter clip
#   clip-warm       a second ctr run, clip's cache kept
#   clipctl-cold/-warm  the same with clipctl pull, when bin/clipctl has a pull command
# Writes docs/benchmarks.md and docs/benchmarks.png; raw records under bench/out/netbench/<time>/.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$REPO/bench/start/lib.sh"

REPS=3
BANDWIDTH=100
RTT=20
PROFILES=shaped,loopback
IMAGES=python,tools
MD=$REPO/docs/benchmarks.md
PNG=$REPO/docs/benchmarks.png
BACKGROUND_FETCH=false
INSTALL=1
KEEP_WORK=0
CLIP_BIN=${CLIP_BIN:-$REPO/bin}
WORK=${CLIPBENCH_WORK:-/tmp/clipbench}          # containerd/clip roots (needs overlayfs-capable fs), registry data
RELAY_PORT=${CLIPBENCH_RELAY_PORT:-17500}       # clients' view of the registry: 127.0.0.1:$RELAY_PORT
CONTROL_PORT=${CLIPBENCH_CONTROL_PORT:-17501}   # relay's /stats and /reset
LOOP_REGISTRY_PORT=${CLIPBENCH_REGISTRY_PORT:-17502}
METRICS_PORT=${CLIPBENCH_METRICS_PORT:-17503}   # clip-snapshotter's Prometheus /metrics
NETNS=clipbench
HOST_IF=cb-host
NS_IF=cb-reg
HOST_IP=10.231.77.1
NS_IP=10.231.77.2
NS=clipbench                                     # containerd namespace
CLIPCTL_PULL=${CLIPBENCH_CLIPCTL_PULL:-'{clipctl} pull --address {address} --namespace {namespace} --plain-http {ref}'}

ACTION=run
LINK_BYTES=
while [ $# -gt 0 ]; do
  case $1 in
    --reps) REPS=$2; shift 2 ;;
    --bandwidth) BANDWIDTH=$2; shift 2 ;;
    --rtt) RTT=$2; shift 2 ;;
    --profiles) PROFILES=$2; shift 2 ;;
    --images) IMAGES=$2; shift 2 ;;
    --md) MD=$2; shift 2 ;;
    --png) PNG=$2; shift 2 ;;
    --background-fetch) BACKGROUND_FETCH=true; shift ;;
    --no-install) INSTALL=0; shift ;;
    --keep-work) KEEP_WORK=1; shift ;;
    teardown) ACTION=teardown; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "run as root (netns, tc, containerd, FUSE, drop_caches)"
NB=$REPO/bench/Clip.NetBench/bin/Release/net10.0/clip-netbench
OUT=$REPO/bench/out/netbench/$(date -u +%Y%m%dT%H%M%SZ)
BURST_KB=$(( BANDWIDTH * 1000 / 8 / 250 )); [ "$BURST_KB" -ge 64 ] || BURST_KB=64
TBF="rate ${BANDWIDTH}mbit burst ${BURST_KB}kb latency 50ms"

if [ "$ACTION" = teardown ]; then
  OUT=/tmp
  teardown
  rm -rf "$WORK"
  log "torn down"
  exit 0
fi

exec 9>"/run/lock/clipbench.lock"
flock -n 9 || die "another bench-start.sh is running"

# --- prerequisites -------------------------------------------------------------------------------
PKGS="containerd runc docker-registry skopeo stargz-snapshotter umoci debootstrap gnuplot-nox iproute2 curl"
missing=$(for p in $PKGS; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  [ "$INSTALL" = 1 ] || die "missing packages: $missing"
  log "apt-get install -y $missing"
  apt-get install -y $missing >/dev/null
fi
[ -f "$REPO/bench/out/images/layout/index.json" ] || { log "building bench images (bench/images/build-images.sh)"; bash "$REPO/bench/images/build-images.sh"; }
[ -x "$CLIP_BIN/clip-snapshotter" ] && [ -x "$CLIP_BIN/clipctl" ] || { log "building clip (make build)"; make -C "$REPO" build; }
log "building clip-netbench"
dotnet build "$REPO/bench/Clip.NetBench/Clip.NetBench.csproj" -c Release --nologo -v quiet >/dev/null
CLIPCTL_HAS_PULL=0
# (System.CommandLine answers --help for an unknown subcommand with the root help: look for the command itself.)
"$CLIP_BIN/clipctl" --help 2>/dev/null | grep -qE '^  pull( |$)' && CLIPCTL_HAS_PULL=1

# --- work dir and cleanup ------------------------------------------------------------------------
mkdir -p "$OUT/runs" "$OUT/logs" "$OUT/index"
if [ -d "$WORK" ]; then log "cleaning up after an earlier run in $WORK"; teardown; rm -rf "$WORK"; fi
mkdir -p "$WORK"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  log "teardown"
  teardown
  [ "$KEEP_WORK" = 1 ] || rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

REF_HOST=127.0.0.1:$RELAY_PORT
ref_of() { echo "$REF_HOST/bench/$1:latest"; }
CTR="ctr --address {address} --namespace $NS"
CMD_OVERLAY_PULL="$CTR image pull --plain-http {ref}"
CMD_OVERLAY_RUN="$CTR run --rm {ref} {id}"
CMD_CLIP_PULL="ctr-remote --address {address} --namespace $NS image rpull --plain-http --snapshotter clip {ref}"
CMD_CLIP_RUN="$CTR run --snapshotter clip --rm {ref} {id}"
fill() { # fill TEMPLATE ADDRESS REF ID
  local s=$1
  s=${s//\{address\}/$2}; s=${s//\{ref\}/$3}; s=${s//\{id\}/${4:-}}; s=${s//\{namespace\}/$NS}; s=${s//\{clipctl\}/$CLIP_BIN/clipctl}
  echo "$s"
}

{
  echo "started=$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "reps=$REPS"
  echo "profiles=$(for p in ${PROFILES//,/ }; do case $p in shaped) echo -n "shaped:$BANDWIDTH:$RTT ";; loopback) echo -n "loopback:0:0 ";; esac; done)"
  echo "images=${IMAGES//,/ }"
  echo "layout=$REPO/bench/out/images/layout"
  for i in ${IMAGES//,/ }; do
    echo "image.$i.ref=$(ref_of "$i")"
    echo "image.$i.tag=$i"
    echo "image.$i.index=$OUT/index/$i.clip"
  done
  echo "tbf=$TBF"
  echo "netns=$NETNS"
  echo "relay=127.0.0.1:$RELAY_PORT"
  echo "cmd.overlayfs pull=$CMD_OVERLAY_PULL"
  echo "cmd.overlayfs run=$CMD_OVERLAY_RUN"
  echo "cmd.clip pull=$CMD_CLIP_PULL"
  echo "cmd.clip run=$CMD_CLIP_RUN"
  if [ "$CLIPCTL_HAS_PULL" = 1 ]; then echo "cmd.clipctl pull=$CLIPCTL_PULL"; fi
  echo "clipctl_pull=$([ "$CLIPCTL_HAS_PULL" = 1 ] && echo "measured (\`$CLIP_BIN/clipctl pull\` exists)" || echo "not measured: \`clipctl pull\` does not exist in this build")"
  echo "clip_bin=$CLIP_BIN (clip-snapshotter built $(date -u -r "$CLIP_BIN/clip-snapshotter.dll" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?'); repo HEAD $(git -C "$REPO" rev-parse --short HEAD))"
  echo "load_start=$(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-min load average when the runs started; the machine may be shared)"
  echo "background_fetch=$BACKGROUND_FETCH (clip's whole-layer background fetch; the window closes when the container exits)"
} >"$OUT/params.env"

# --- set-up: images in the registry, clip indexes pushed next to them -----------------------------
write_hosts_toml
prepared=0
prepare_registry() { # push the images (unshaped, not counted) and index them once, as CI would
  [ "$prepared" = 0 ] || return 0
  local upstream=$1 i
  for i in ${IMAGES//,/ }; do
    log "pushing $i to the registry"
    skopeo copy -q --dest-tls-verify=false "oci:$REPO/bench/out/images/layout:$i" "docker://$upstream/bench/$i:latest" >>"$OUT/logs/setup.log" 2>&1
  done
  start_relay "$upstream" 0
  for i in ${IMAGES//,/ }; do
    log "clipctl index --image $(ref_of "$i") --push"
    "$CLIP_BIN/clipctl" index --image "$(ref_of "$i")" --push --plain-http --root "$WORK/clipctl" --out "$OUT/index/$i.clip" >>"$OUT/logs/setup.log" 2>&1 \
      || die "clipctl index failed: see $OUT/logs/setup.log"
  done
  stop_bg relay
  prepared=1
}

measure() { # measure PROFILE IMAGE MODE REP METRICS_URL PULL_CMD RUN_CMD
  local profile=$1 image=$2 mode=$3 rep=$4 metrics=$5 pull=$6 run=$7
  "$NB" measure --out "$OUT/runs/$profile-$image-$mode-$rep.json" --control "127.0.0.1:$CONTROL_PORT" \
    ${metrics:+--metrics "$metrics"} ${pull:+--pull "$pull"} --run "$run" --timeout-s 1800 ${LINK_BYTES:+--link-bytes "$LINK_BYTES"} \
    --label "profile=$profile" --label "image=$image" --label "mode=$mode" --label "rep=$rep" \
    || log "$profile $image $mode #$rep failed (recorded; see the run's JSON and $OUT/logs)"
}

run_overlayfs() { # PROFILE IMAGE REP
  local d="$WORK/ctrd-$1-$2-o$3" ref; ref=$(ref_of "$2")
  start_containerd "$d" 0
  local addr="$d/containerd.sock"
  drop_caches
  measure "$1" "$2" overlayfs-cold "$3" "" "$(fill "$CMD_OVERLAY_PULL" "$addr" "$ref")" "$(fill "$CMD_OVERLAY_RUN" "$addr" "$ref" "cb-$1-$2-oc$3")"
  measure "$1" "$2" overlayfs-warm "$3" "" "" "$(fill "$CMD_OVERLAY_RUN" "$addr" "$ref" "cb-$1-$2-ow$3")"
  stop_containerd
}

run_clip() { # PROFILE IMAGE REP MODE PULL_TEMPLATE
  local tag=${4%%-*} d="$WORK/ctrd-$1-$2-c$3" ref; ref=$(ref_of "$2")
  start_clip "$WORK/clip-$1-$2-$tag$3"
  start_containerd "$d" 1
  local addr="$d/containerd.sock" metrics="http://127.0.0.1:$METRICS_PORT/metrics"
  drop_caches
  measure "$1" "$2" "$tag-cold" "$3" "$metrics" "$(fill "$5" "$addr" "$ref")" "$(fill "$CMD_CLIP_RUN" "$addr" "$ref" "cb-$1-$2-${tag}c$3")"
  measure "$1" "$2" "$tag-warm" "$3" "$metrics" "" "$(fill "$CMD_CLIP_RUN" "$addr" "$ref" "cb-$1-$2-${tag}w$3")"
  stop_containerd
  stop_clip
}

# --- the runs --------------------------------------------------------------------------------------
T0=$(date +%s)
for profile in ${PROFILES//,/ }; do
  case $profile in
    shaped)
      log "profile shaped: ${BANDWIDTH} Mbit/s (tbf $TBF), ${RTT} ms RTT; registry in netns $NETNS at $NS_IP:5000"
      net_up
      start_registry "$NS_IP:5000" "$NETNS"
      upstream=$NS_IP:5000 rtt=$RTT
      prepare_registry "$upstream"
      shape_on
      LINK_BYTES="ip netns exec $NETNS tc -s qdisc show dev $NS_IF | awk '/Sent/ { print \$2; exit }'"
      ;;
    loopback)
      log "profile loopback: registry on 127.0.0.1:$LOOP_REGISTRY_PORT, no shaping, no added delay"
      start_registry "127.0.0.1:$LOOP_REGISTRY_PORT"
      upstream=127.0.0.1:$LOOP_REGISTRY_PORT rtt=0 LINK_BYTES=
      prepare_registry "$upstream"
      ;;
    *) die "unknown profile $profile (shaped, loopback)" ;;
  esac
  start_relay "$upstream" "$rtt"
  for rep in $(seq "$REPS"); do
    for image in ${IMAGES//,/ }; do
      log "$profile $image repetition $rep/$REPS"
      run_overlayfs "$profile" "$image" "$rep"
      run_clip "$profile" "$image" "$rep" clip-cold "$CMD_CLIP_PULL"
      [ "$CLIPCTL_HAS_PULL" = 0 ] || run_clip "$profile" "$image" "$rep" clipctl-cold "$CLIPCTL_PULL"
    done
  done
  stop_bg relay
  stop_bg registry
  net_down
done
{
  echo "finished=$(date -u '+%Y-%m-%d %H:%M:%S UTC') ($(( ($(date +%s) - T0) / 60 )) min of runs)"
  echo "load_end=$(cut -d' ' -f1-3 /proc/loadavg) (load average when the runs ended)"
} >>"$OUT/params.env"

"$NB" report --results "$OUT" --md "$MD" --png "$PNG"
log "results in $OUT; report $MD, chart $PNG"
