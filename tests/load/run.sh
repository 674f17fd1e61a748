#!/bin/bash
# tests/load/run.sh: the project's own IKEv2 benchmark (issue 12).
#
# ike-load (ike-proto's engine as initiator, real UDP on loopback, many
# source addresses in 127.0.0.0/8 and identities) runs the same load against
#   ours:  ike-parent + ike-net + ike-pfkey over pfkey-sim (Linux dialect,
#          AES-GCM offered so that children can be installed), and
#   swan:  strongSwan's charon (kernel-netlink; childless handshakes install
#          nothing in the kernel; with children see LOAD_SWAN_CHILD below),
# and prints every figure ike-load reports plus the ratios ours/swan.
#
# Usage (as root):  tests/load/run.sh [N] [C]
#   N handshakes (default 2000), C in flight (default 64).
# Environment:
#   IKE_BIN         our binaries and ike-load (default $CARGO_TARGET_DIR/release,
#                   else target/release; build with cargo build --release --workspace --bins)
#   LOAD_MODES      "childless child" (default) or a subset
#   LOAD_GROUP      x25519 (default) or ecp256
#   LOAD_SOURCES    source addresses (default 200), LOAD_IDS identities (default 16)
#   LOAD_TIMEOUT    seconds each ike-load run may take (default 30 + N/100)
#   LOAD_CHILD_C    most handshakes in flight with children (default C: since the
#                   IPC flow control of issue 12 nothing is dropped at any C, and
#                   the broker's SA limit is sized from memory, `set sa-limit`)
#   LOAD_SWAN       1 (default): also run charon; 0: ours only
#   LOAD_INSTANCES  e.g. "1 2": instead of the runs above, K independent
#                   copies of our daemon (each its own pfkey-sim, port
#                   15600+100k), each driven by its own ike-load at once, for
#                   K in the list; prints the summed handshakes/s and the
#                   ratio against the first K. The proxy for N ike-net workers
#                   (docs/DESIGN.md section 13), childless only.
#   LOAD_SWAN_CHILD 1: also run charon with children through the kernel
#                   (XFRM+ESP; this host has no ESP: every install fails);
#                   libipsec: through strongSwan's userspace IPsec
#                   (kernel-libipsec plugin, needs /dev/net/tun);
#                   0 (default): charon with children is skipped
# Exit status: 0 when every run completed all its handshakes.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${IKE_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
N=${1:-${LOAD_N:-2000}}
C=${2:-${LOAD_C:-64}}
MODES=${LOAD_MODES:-childless child}
GROUP=${LOAD_GROUP:-x25519}
SOURCES=${LOAD_SOURCES:-200}
IDS=${LOAD_IDS:-16}
SWAN=${LOAD_SWAN:-1}
SWAN_CHILD=${LOAD_SWAN_CHILD:-0}
CHILD_C=${LOAD_CHILD_C:-$C}
# Seconds ike-load waits for all N: the rates here are 1,000 to 2,000 per
# second, so 30 s plus 10 ms per handshake.
TIMEOUT=${LOAD_TIMEOUT:-$((30 + N / 100))}
CHARON=${CHARON:-/usr/lib/ipsec/charon}
SWAN_KERNEL=
[ "$SWAN_CHILD" = libipsec ] && SWAN_KERNEL=kernel-libipsec
PSK="ike-load pre-shared key"
# charon on a port other than 500 receives IKE_SA_INIT and silently drops it
# (strongSwan 5.9.8, seen here): it gets the standard ports, so nothing else
# may hold 500/4500 on 127.0.0.1 during the run.
OURS_PORT=15600 SWAN_PORT=500

for b in ike-parent ike-net ike-pfkey ike-cred pfkey-sim ike-load; do
  [ -x "$BIN/$b" ] || { echo "load: $BIN/$b missing (cargo build --release --workspace --bins)"; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "load: needs root (ike-parent drops privileges)"; exit 2; }

W=$(mktemp -d /tmp/ike-load.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  PIDS=()
}
trap 'cleanup; [ "${LOAD_KEEP:-0}" = 1 ] || rm -rf "$W"' EXIT

case $GROUP in
  x25519) OURS_GROUP=curve25519 SWAN_GROUP=x25519 ;;
  ecp256) OURS_GROUP=ecp256 SWAN_GROUP=ecp256 ;;
  *) echo "load: LOAD_GROUP x25519 or ecp256"; exit 2 ;;
esac

# wait_file PATH: up to 10 s for PATH to appear.
wait_file() { local i; for i in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }

start_ours() {  # start_ours DIR [PORT]
  local d=$1 port=${2:-$OURS_PORT} j
  mkdir -p "$d/empty"
  # The previous run's daemon may still be letting go of the port (100,000
  # SAs take a moment to tear down).
  for _ in $(seq 100); do ss -Hlun "sport = :$port" | grep -q . || break; sleep 0.1; done
  : > "$d/ike.conf"
  for j in $(seq 0 $((IDS - 1))); do
    cat >> "$d/ike.conf" <<EOF
ikev2 "load-$j" passive esp tunnel from 10.1.0.0/16 to 10.128.0.0/9 \\
	local 127.0.0.1 peer 127.0.0.0/8 dstid "load-$j.example" \\
	ikesa enc aes-256-gcm prf hmac-sha2-256 group $OURS_GROUP \\
	childsa enc aes-256-gcm lifetime 1h psk "$PSK"
EOF
  done
  chmod 600 "$d/ike.conf"
  # AES-GCM (20, key with salt 160..288 bits) offered besides the Linux list.
  "$BIN/pfkey-sim" serve --socket "$d/pfkey.sock" --control "$d/sim.sock" \
    --encrypt 12:128:256:16,20:160:288:8 2>"$d/sim.log" &
  SIM_PID=$!; PIDS+=("$SIM_PID")
  wait_file "$d/sim.sock" || { echo "load: pfkey-sim did not start"; return 1; }
  "$BIN/ike-parent" -d -f "$d/ike.conf" --pfkey "unix:$d/pfkey.sock" --listen 127.0.0.1 \
    --port "$port" --natt-port $((port + 1)) --control "$d/ctl.sock" \
    --chroot "$d/empty" --user nobody --libexec "$BIN" 2>"$d/daemon.log" &
  OURS_PID=$!; PIDS+=("$OURS_PID")
  for _ in $(seq 100); do grep -q "broker ready" "$d/daemon.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "load: our daemon did not start:"; cat "$d/daemon.log"; return 1
}

start_swan() {  # start_swan DIR
  local d=$1
  mkdir -p "$d/swanctl"
  cat > "$d/strongswan.conf" <<EOF
charon {
  load = random nonce openssl pem pkcs1 x509 pubkey kdf sha1 sha2 hmac gcm aes curve25519 gmp $SWAN_KERNEL kernel-netlink socket-default vici
  port = $SWAN_PORT
  port_nat_t = 4500
  install_routes = no
  install_virtual_ip = no
  # No DoS throttling: the load is the point.
  cookie_threshold = 1000000
  block_threshold = 1000000
  init_limit_half_open = 0
  plugins {
    vici { socket = unix://$d/charon.vici }
    socket-default { use_ipv6 = no }
  }
  filelog {
    main {
      path = $d/charon.log
      default = 1
    }
  }
  syslog { daemon { default = -1 } }
}
swanctl { load = pem pkcs1 x509 pubkey openssl random }
EOF
  cat > "$d/swanctl/swanctl.conf" <<EOF
connections {
  load {
    version = 2
    local_addrs = 127.0.0.1
    remote_addrs = 127.0.0.0/8
    proposals = aes256gcm16-prfsha256-$SWAN_GROUP
    childless = allow
    dpd_delay = 0
    local { auth = psk
      id = 127.0.0.1 }
    remote { auth = psk }
    children {
      load { local_ts = 10.1.0.0/16
        remote_ts = 10.128.0.0/9
        esp_proposals = aes256gcm16
        mode = tunnel }
    }
  }
}
secrets { ike-any { secret = "$PSK" } }
EOF
  # charon's pidfile is compiled in (/var/run/charon.pid): a private mount
  # namespace with its own /run keeps a host charon out of the way.
  STRONGSWAN_CONF=$d/strongswan.conf unshare -m sh -c \
    "mount -t tmpfs tmpfs /run && mkdir -p /run && exec $CHARON" >"$d/charon.out" 2>&1 &
  SWAN_PID=$!; PIDS+=("$SWAN_PID")
  wait_file "$d/charon.vici" || { echo "load: charon did not start:"; cat "$d/charon.out" "$d/charon.log"; return 1; }
  STRONGSWAN_CONF=$d/strongswan.conf swanctl --load-all --uri "unix://$d/charon.vici" \
    --file "$d/swanctl/swanctl.conf" >"$d/swanctl.out" 2>&1 \
    || { echo "load: swanctl --load-all failed:"; cat "$d/swanctl.out"; return 1; }
}

# charon's own pid (unshare execs sh, which execs charon: the same pid).
swan_pid() { echo "$SWAN_PID"; }

FAIL=0
declare -A CPU RSS RATE
run_one() {  # run_one who mode
  local who=$1 mode=$2 d=$W/$1-$2 port child= out
  mkdir -p "$d"
  if [ "$who" = ours ]; then
    start_ours "$d" || { FAIL=1; cleanup; return; }
    port=$OURS_PORT
    watch="--watch $OURS_PID --aside $SIM_PID"
  else
    start_swan "$d" || { FAIL=1; cleanup; return; }
    port=$SWAN_PORT
    watch="--watch $(swan_pid)"
  fi
  local c=$C
  if [ "$mode" = child ]; then
    child=--child
    [ "$c" -gt "$CHILD_C" ] && c=$CHILD_C
  fi
  out=$("$BIN/ike-load" --target 127.0.0.1:$port --count "$N" --concurrency "$c" $child \
    --group "$GROUP" --psk "$PSK" --sources 127.1.0.1 --source-count "$SOURCES" --ids "$IDS" \
    --local-port 41000 $watch --label "$who-$mode" --timeout-s "$TIMEOUT" 2>&1)
  local rc=$?
  echo "$out"
  [ $rc = 0 ] || { FAIL=1; echo "load: $who-$mode failed (rc $rc); logs in $d";
    [ "$who" = ours ] && tail -5 "$d/daemon.log"; [ "$who" = swan ] && tail -5 "$d/charon.log"; }
  CPU[$who-$mode]=$(echo "$out" | sed -n 's/.*total cpu_ms_per_hs=\([0-9.]*\).*/\1/p')
  RSS[$who-$mode]=$(echo "$out" | sed -n 's/.*rss_bytes_per_sa=\(-\?[0-9]*\).*/\1/p')
  RATE[$who-$mode]=$(echo "$out" | sed -n 's/.*rate_hs_per_s=\([0-9.]*\).*/\1/p')
  cleanup
}

# run_instances K: K copies of our daemon, each with its own ike-load (own
# sources and local port), N handshakes each, all started together; prints
# the summed rate (N*K / the slowest run's elapsed time).
run_instances() {
  local k=$1 i outs=() pids=() total=0 slowest=0 e
  for i in $(seq 0 $((k - 1))); do
    start_ours "$W/inst$k-$i" $((OURS_PORT + 100 * i)) || { FAIL=1; cleanup; return; }
    LPIDS[$i]="--watch $OURS_PID --aside $SIM_PID"
  done
  for i in $(seq 0 $((k - 1))); do
    "$BIN/ike-load" --target 127.0.0.1:$((OURS_PORT + 100 * i)) --count "$N" --concurrency "$C" \
      --group "$GROUP" --psk "$PSK" --sources 127.$((1 + i)).0.1 --source-count "$SOURCES" \
      --ids "$IDS" --local-port $((41000 + 1000 * i)) ${LPIDS[$i]} --label "inst$k-$i" \
      --timeout-s "$TIMEOUT" >"$W/inst$k-$i.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { FAIL=1; echo "load: instance $i of $k failed"; }
    cat "$W/inst$k-$i.out"
    e=$(sed -n 's/.*elapsed_s=\([0-9.]*\).*/\1/p' "$W/inst$k-$i.out")
    slowest=$(awk -v a="$slowest" -v b="${e:-0}" 'BEGIN { print (b > a) ? b : a }')
  done
  RATE[inst$k]=$(awk -v n="$N" -v k="$k" -v s="$slowest" 'BEGIN { if (s > 0) printf "%.1f", n * k / s }')
  echo "load: instances=$k total_rate_hs_per_s=${RATE[inst$k]} loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
  cleanup
}

if [ -n "${LOAD_INSTANCES:-}" ]; then
  declare -A LPIDS
  echo "load: N=$N per instance, C=$C group=$GROUP instances='$LOAD_INSTANCES' bin=$BIN"
  first=
  for k in $LOAD_INSTANCES; do
    run_instances "$k"
    first=${first:-$k}
    echo "load: instances=$k rate ratio against $first: $(awk -v a="${RATE[inst$k]:-}" -v b="${RATE[inst$first]:-}" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }')"
  done
  [ $FAIL = 0 ] && echo "load: PASS" || echo "load: FAIL"
  exit $FAIL
fi

echo "load: N=$N C=$C group=$GROUP sources=$SOURCES ids=$IDS modes='$MODES' bin=$BIN"
for mode in $MODES; do
  run_one ours "$mode"
  if [ "$SWAN" = 1 ]; then
    if [ "$mode" = child ] && [ "$SWAN_CHILD" = 0 ]; then
      echo "load: swan-child skipped (no kernel ESP here; LOAD_SWAN_CHILD=1 to try)"
    else
      run_one swan "$mode"
    fi
  fi
done

ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
echo "load: summary (ours = ike-parent+ike-net+ike-pfkey, pfkey-sim aside; swan = charon)"
for mode in $MODES; do
  printf 'load: %-9s ours cpu_ms_per_hs=%s rss_bytes_per_sa=%s rate=%s' "$mode" \
    "${CPU[ours-$mode]:-}" "${RSS[ours-$mode]:-}" "${RATE[ours-$mode]:-}"
  if [ -n "${CPU[swan-$mode]:-}" ]; then
    printf ' | swan cpu_ms_per_hs=%s rss_bytes_per_sa=%s rate=%s | ours/swan cpu=%s rss=%s rate=%s' \
      "${CPU[swan-$mode]}" "${RSS[swan-$mode]}" "${RATE[swan-$mode]}" \
      "$(ratio "${CPU[ours-$mode]:-}" "${CPU[swan-$mode]}")" \
      "$(ratio "${RSS[ours-$mode]:-}" "${RSS[swan-$mode]}")" \
      "$(ratio "${RATE[ours-$mode]:-}" "${RATE[swan-$mode]}")"
  fi
  echo
done
if [ -n "${RSS[ours-child]:-}" ] && [ -n "${RSS[ours-childless]:-}" ]; then
  echo "load: ours rss_bytes_per_child_sa=$(( ${RSS[ours-child]} - ${RSS[ours-childless]} )) (child run minus childless run, per SA)"
fi
[ $FAIL = 0 ] && echo "load: PASS" || echo "load: FAIL"
exit $FAIL
