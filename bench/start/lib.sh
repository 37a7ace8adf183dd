# Functions for bench-start.sh: network namespace + veth + tc, registry, relay, containerd and the
# clip daemon, each started in the background with its pid recorded under $WORK/pids so that one
# teardown (also after a crash, also from another invocation) stops exactly what the bench started.
# Sourced, not run. Expects: REPO WORK OUT NB CLIP_BIN and the *_PORT / NETNS / *_IF / *_IP settings.

log() { printf '[bench] %s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- processes ---------------------------------------------------------------------------------

# start_bg NAME LOGFILE CMD...: start CMD in the background, record its pid as NAME.
start_bg() {
  local name=$1 logfile=$2; shift 2
  mkdir -p "$WORK/pids"
  "$@" >>"$logfile" 2>&1 &
  echo $! >"$WORK/pids/$name"
}

# stop_bg NAME [SECONDS]: SIGTERM the recorded pid, SIGKILL after SECONDS (default 20).
stop_bg() {
  local name=$1 grace=${2:-20} f="$WORK/pids/$1" pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored SIGTERM for ${grace}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# wait_for DESCRIPTION SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "$what did not come up within ${secs}s"
}

# Unmount everything mounted under a directory, deepest first (lazy, so a busy mount cannot block teardown).
unmount_under() {
  local dir=$1
  [ -n "$dir" ] || return 0
  awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r mp; do
    umount -l "$mp" 2>/dev/null || true
  done
}

# Shims started by one private containerd carry its socket in their command line ("-address SOCK");
# they outlive containerd when a task was left running.
kill_shims_of() {
  local sock=$1 p
  for p in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "containerd-shim.*-address $sock "; then
      kill -KILL "${p#/proc/}" 2>/dev/null || true
    fi
  done
}

# --- network -----------------------------------------------------------------------------------

net_up() {
  net_down
  ip netns add "$NETNS"
  ip link add "$HOST_IF" type veth peer name "$NS_IF"
  ip link set "$NS_IF" netns "$NETNS"
  ip addr add "$HOST_IP/30" dev "$HOST_IF"
  ip link set "$HOST_IF" up
  ip netns exec "$NETNS" ip addr add "$NS_IP/30" dev "$NS_IF"
  ip netns exec "$NETNS" ip link set "$NS_IF" up
  ip netns exec "$NETNS" ip link set lo up
}

# tbf on both ends of the veth: registry -> host (what a pull waits for) and host -> registry.
shape_on() {
  tc qdisc replace dev "$HOST_IF" root tbf $TBF
  ip netns exec "$NETNS" tc qdisc replace dev "$NS_IF" root tbf $TBF
}

net_down() {
  if ip link show "$HOST_IF" >/dev/null 2>&1; then
    tc qdisc del dev "$HOST_IF" root 2>/dev/null || true
    ip link del "$HOST_IF" 2>/dev/null || true
  fi
  if ip netns list 2>/dev/null | grep -qw "^$NETNS"; then
    ip netns exec "$NETNS" tc qdisc del dev "$NS_IF" root 2>/dev/null || true
    ip netns del "$NETNS" 2>/dev/null || true
  fi
}

# --- registry and relay --------------------------------------------------------------------------

# start_registry ADDR [netns]: docker-registry serving $WORK/registry-data on ADDR.
start_registry() {
  local addr=$1 ns=${2:-}
  mkdir -p "$WORK/registry-data"
  cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry-data
http:
  addr: $addr
EOF
  if [ -n "$ns" ]; then
    start_bg registry "$OUT/logs/registry.log" ip netns exec "$ns" docker-registry serve "$WORK/registry.yml"
  else
    start_bg registry "$OUT/logs/registry.log" docker-registry serve "$WORK/registry.yml"
  fi
  wait_for "registry on $addr" 30 curl -sf "http://$addr/v2/"
}

# start_relay UPSTREAM RTT_MS: the counting, delaying relay on 127.0.0.1:$RELAY_PORT.
start_relay() {
  start_bg relay "$OUT/logs/relay.log" "$NB" relay --listen "127.0.0.1:$RELAY_PORT" --upstream "$1" \
    --control "127.0.0.1:$CONTROL_PORT" --rtt-ms "$2"
  wait_for "relay" 30 curl -sf "http://127.0.0.1:$CONTROL_PORT/healthz"
}

# --- containerd ----------------------------------------------------------------------------------

# start_containerd DIR WITH_CLIP: a private containerd (own root, state, socket; CRI off).
start_containerd() {
  local d=$1 with_clip=$2
  mkdir -p "$d"
  {
    cat <<EOF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "$d/containerd.sock"

[ttrpc]
  address = "$d/containerd.sock.ttrpc"
EOF
    if [ "$with_clip" = 1 ]; then
      cat <<EOF

[proxy_plugins]
  [proxy_plugins.clip]
    type = "snapshot"
    address = "$CLIP_SOCK"
EOF
    fi
  } >"$d/config.toml"
  echo "$d" >"$WORK/containerd.dir"
  start_bg containerd "$OUT/logs/containerd-$(basename "$d").log" containerd --config "$d/config.toml"
  wait_for "containerd" 60 ctr --address "$d/containerd.sock" version
}

stop_containerd() {
  local d
  d=$(cat "$WORK/containerd.dir" 2>/dev/null) || return 0
  stop_bg containerd 30
  kill_shims_of "$d/containerd.sock"
  unmount_under "$d"
  rm -rf "$d"
  rm -f "$WORK/containerd.dir"
}

# --- clip daemon ---------------------------------------------------------------------------------

# start_clip DIR: clip-snapshotter with a fresh root (snapshots, metadata, cache, index store).
start_clip() {
  local d=$1
  mkdir -p "$d"
  CLIP_SOCK="$d/clip.sock"
  cat >"$d/config.toml" <<EOF
root_dir = "$d/root"
socket = "$CLIP_SOCK"
log_level = "info"
metrics_address = "127.0.0.1:$METRICS_PORT"

[lazy]
cache_dir = ""
cache_size_mib = 10240
span_size_mib = 4
background_fetch = $BACKGROUND_FETCH
background_fetch_delay_seconds = 30
small_layer_threshold_mib = 10
certs_dir = "$WORK/certs.d"
EOF
  [ -f "$OUT/clip-config.toml" ] || sed "s#$d#<fresh dir per run>#g" "$d/config.toml" >"$OUT/clip-config.toml"
  echo "$d" >"$WORK/clip.dir"
  start_bg clip "$OUT/logs/clip-$(basename "$d").log" "$CLIP_BIN/clip-snapshotter" --config "$d/config.toml"
  wait_for "clip-snapshotter" 60 test -S "$CLIP_SOCK"
  wait_for "clip metrics" 30 curl -sf "http://127.0.0.1:$METRICS_PORT/metrics"
}

stop_clip() {
  local d
  d=$(cat "$WORK/clip.dir" 2>/dev/null) || return 0
  stop_bg clip 30
  unmount_under "$d"
  rm -rf "$d"
  rm -f "$WORK/clip.dir"
}

# hosts.toml for the relay's address, for clip's registry client (containerd's certs.d layout).
write_hosts_toml() {
  local host="127.0.0.1:$RELAY_PORT"
  mkdir -p "$WORK/certs.d/$host"
  cat >"$WORK/certs.d/$host/hosts.toml" <<EOF
server = "http://$host"

[host."http://$host"]
  capabilities = ["pull", "resolve"]
EOF
}

# --- everything ----------------------------------------------------------------------------------

# Stops whatever a bench (this one, or a crashed earlier one) left: idempotent.
teardown() {
  stop_containerd
  stop_clip
  local f
  for f in "$WORK"/pids/*; do
    [ -e "$f" ] && stop_bg "$(basename "$f")" 10
  done
  unmount_under "$WORK"
  net_down
}

drop_caches() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
}
