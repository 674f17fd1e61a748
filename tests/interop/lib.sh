# tests/interop/lib.sh - shared by the interop scenarios (sourced, not run).
#
# Topology (the same in every scenario; addresses exist only inside the namespaces):
#
#   netns ike-a                                   netns ike-b
#   lo 10.1.0.1/32 (inner)                        lo 10.2.0.1/32 (inner)
#   ike-va 10.77.0.1/24 ------ veth ------------- ike-vb 10.77.0.2/24
#
# Tunnel-mode traffic selectors are 10.1.0.0/24 <-> 10.2.0.0/24; static routes send the
# other side's inner net via the veth peer (strongSwan's route installation is off), so
# ping -I 10.1.0.1 10.2.0.1 only works when the kernel's xfrm policies and SAs carry it.
#
# Each side has a work directory $W/a and $W/b holding its configs, logs and a private
# /run (charon's pidfile is compiled in as /var/run/charon.pid, so two charons need two
# /run views: each daemon runs in its own mount namespace with $W/x/run bound over /run).
#
# Scenarios call: net_up, sw_start/ours_start, checks, and rely on the EXIT trap installed
# by scenario_init to stop the daemons and delete the namespaces.

NSA=ike-a NSB=ike-b
OUTER_A=10.77.0.1 OUTER_B=10.77.0.2
INNER_A=10.1.0.1 INNER_B=10.2.0.1
NET_A=10.1.0.0/24 NET_B=10.2.0.0/24
CHARON=${CHARON:-/usr/lib/ipsec/charon}
INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$INTEROP_DIR/../.." && pwd)
# our daemon's binaries (CI builds them with `cargo build --release --workspace --bins`)
IKE_BIN=${IKE_BIN:-$ROOT/target/release}

CHECK_FAILS=0
T_START=$(date +%s.%N)

# ---------------------------------------------------------------- reporting
ts() { awk -v a="$(date +%s.%N)" -v b="$T_START" 'BEGIN { printf "%6.2f", a - b }'; }
say() { echo "[$(ts)s] $*"; }
pass() { say "PASS: $*"; }
fail() { say "FAIL: $*"; CHECK_FAILS=$((CHECK_FAILS + 1)); }
check() {  # check DESCRIPTION CMD...
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; return 1; fi
}
# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.5 s until it succeeds; check result.
# SECONDS is what the step takes on an idle machine with room to spare; the deadline is
# INTEROP_WAIT_SCALE (default 3) times that, because CI runs the kernel lab under TCG on
# two shared cores, where strongSwan's timers and the kernel's work stretch unpredictably.
# Every caller waits for something to become true, so a longer deadline only delays a
# failure; a pass returns as soon as the condition holds.
wait_for() {
  local secs=$(( $1 * ${INTEROP_WAIT_SCALE:-3} )) what=$2; shift 2
  local deadline=$((SECONDS + secs))
  while :; do
    if "$@" >/dev/null 2>&1; then pass "$what"; return 0; fi
    [ $SECONDS -lt $deadline ] || break
    sleep 0.5
  done
  fail "$what (not within ${secs}s)"; return 1
}

# scenario_init NAME: work dir $W (under $KLAB_OUT when in the kernel lab), cleanup trap
scenario_init() {
  SCENARIO=$1
  # Runtime files (vici and control sockets, /run views) stay on a local file system:
  # Unix sockets on the kernel lab's 9p share are not reliable. Results are copied to
  # $RESULTS ($KLAB_OUT/interop/NAME in the kernel lab) when the scenario ends.
  W=${INTEROP_WORK:-/tmp/ike-interop}/$SCENARIO
  RESULTS=${INTEROP_OUT:-${KLAB_OUT:-/tmp}/interop}/$SCENARIO
  rm -rf "$W" "$RESULTS"; mkdir -p "$W/a" "$W/b"
  trap scenario_cleanup EXIT
  say "scenario $SCENARIO: work dir $W, results in $RESULTS"
}
scenario_cleanup() {
  local d
  for d in "$W/a" "$W/b" "$W/c"; do daemon_stop "$d"; done
  net_down
  if [ "$RESULTS" != "$W" ]; then
    mkdir -p "$RESULTS"
    (cd "$W" && find . -type f -print0 | xargs -0r cp --parents -t "$RESULTS") 2>/dev/null || true
  fi
}
# scenario_exit: exit status of the scenario script
scenario_exit() {
  if [ "$CHECK_FAILS" = 0 ]; then say "all checks passed"; exit 0; fi
  say "$CHECK_FAILS check(s) failed"; exit 1
}

# ---------------------------------------------------------------- network
net_up() {
  net_down
  ip netns add $NSA && ip netns add $NSB || return 1
  ip link add ike-va netns $NSA type veth peer name ike-vb netns $NSB || return 1
  ip -n $NSA addr add $OUTER_A/24 dev ike-va; ip -n $NSB addr add $OUTER_B/24 dev ike-vb
  ip -n $NSA addr add $INNER_A/32 dev lo;     ip -n $NSB addr add $INNER_B/32 dev lo
  local n
  for n in $NSA $NSB; do
    ip -n $n link set lo up
    # no IPv6 traffic (router solicitations) in captures and counters
    ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  done
  ip -n $NSA link set ike-va up; ip -n $NSB link set ike-vb up
  ip -n $NSA route add $NET_B via $OUTER_B src $INNER_A
  ip -n $NSB route add $NET_A via $OUTER_A src $INNER_B
}
net_down() {
  ip netns del $NSA 2>/dev/null; ip netns del $NSB 2>/dev/null
  ip netns del ike-nat 2>/dev/null; ip netns del ike-c 2>/dev/null; true
}
ns_of() { case $1 in a) echo $NSA ;; b) echo $NSB ;; c) echo ike-c ;; esac; }

# ping_inner FROM: 3 pings from FROM's inner address to the other side's inner address
ping_inner() {
  if [ "$1" = a ]; then ip netns exec $NSA ping -c 3 -i 0.3 -W 2 -I $INNER_A $INNER_B
  else ip netns exec $NSB ping -c 3 -i 0.3 -W 2 -I $INNER_B $INNER_A; fi
}

# ---------------------------------------------------------------- kernel SA views
# xfrm_sas NS: one line per ESP SA: "src dst spi enc-key auth-key mode" (sorted)
xfrm_sas() {
  ip -n "$1" xfrm state | awk '
    /^src / { if (spi != "") print src, dst, spi, enc, auth, mode; src = $2; dst = $4; spi = enc = auth = mode = "" }
    /proto esp spi/ { spi = $4; for (i = 5; i < NF; i++) if ($i == "mode") mode = $(i + 1) }
    /^\t(enc|aead) / { enc = $3 }
    /^\tauth(-trunc)? / { auth = $3 }
    END { if (spi != "") print src, dst, spi, enc, auth, mode }' | sort
}
xfrm_sa_count() { ip -n "$1" xfrm state | grep -c '^src ' || true; }
xfrm_policy_count() { ip -n "$1" xfrm policy | grep -c '^src ' || true; }
# esp_packets NS: sum of the packet counters of all SAs in NS
esp_packets() {
  ip -s -n "$1" xfrm state | awk '
    /lifetime current:/ { getline; for (i = 1; i <= NF; i++) if ($i ~ /\(packets\)/) { sub(/\(packets\).*/, "", $i); n += $i } }
    END { print n + 0 }'
}
# sas_match: both kernels hold the same ESP SAs (SPIs, keys, mode), and at least two
sas_match() {
  local a b
  a=$(xfrm_sas $NSA) b=$(xfrm_sas $NSB)
  echo "  SAs in $NSA:"; echo "$a" | sed 's/^/    /'
  echo "  SAs in $NSB:"; echo "$b" | sed 's/^/    /'
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(echo "$a" | wc -l)" -ge 2 ]
}
no_sas() { [ "$(xfrm_sa_count "$1")" = 0 ]; }
# for wait_for, which re-runs its command: counts evaluated at each call
sa_count_is() { [ "$(xfrm_sa_count "$1")" = "$2" ]; }
policy_count_is() { [ "$(xfrm_policy_count "$1")" = "$2" ]; }
# spis NS: the SPIs of NS's ESP SAs, one line; spis_changed NS OLD: non-empty and not OLD
spis() { xfrm_sas "$1" | awk '{ print $3 }' | sort | tr '\n' ' '; }
spis_changed() { [ -n "$(spis "$1")" ] && [ "$(spis "$1")" != "$2" ]; }
# count_at_least N REGEX FILE: at least N lines of FILE match; not_in_log REGEX FILE: none do
count_at_least() { local n; n=$(grep -c -- "$2" "$3" 2>/dev/null); echo "  $n x '$2'"; [ "${n:-0}" -ge "$1" ]; }
not_in_log() { ! grep -- "$1" "$2"; }
# log_count SIDE REGEX: matching lines in that side's charon log; log_grew SIDE REGEX N
log_count() { grep -c "$2" "$W/$1/charon.log" 2>/dev/null || true; }
log_grew() { [ "$(log_count "$1" "$2")" -gt "$3" ]; }
# strongSwan's log line for a completed IKE SA rekey (either side)
IKE_REKEYED='IKE_SA lab\[[0-9]*\] rekeyed\|rekeyed IKE_SA'
CHILD_REKEY_REQ='parsed CREATE_CHILD_SA request.*N(REKEY_SA)'
IKE_REKEY_REQ='parsed CREATE_CHILD_SA request [0-9]* \[ SA No KE \]'

# ping_through_esp FROM: ping works and the ESP packet counters moved on both sides
ping_through_esp() {
  local a0 b0 a1 b1
  a0=$(esp_packets $NSA) b0=$(esp_packets $NSB)
  ping_inner "$1" || return 1
  a1=$(esp_packets $NSA) b1=$(esp_packets $NSB)
  echo "  ESP packets: $NSA $a0 -> $a1, $NSB $b0 -> $b1"
  [ $((a1 - a0)) -ge 6 ] && [ $((b1 - b0)) -ge 6 ]
}

# ---------------------------------------------------------------- capture
capture_start() {  # capture_start FILE: tcpdump on ike-va in ike-a
  ip netns exec $NSA tcpdump -Z root -U -n -i ike-va -w "$1" 'udp port 500 or udp port 4500 or esp' \
    2>"$1.log" &
  echo $! > "$1.pid"
  local i; for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$1.log" 2>/dev/null && break; sleep 0.1; done
}
capture_stop() {  # capture_stop FILE: stop it and write FILE.txt
  local pid; pid=$(cat "$1.pid" 2>/dev/null) || return 0
  sleep 0.3; kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$1.pid"
  tcpdump -n -r "$1" > "$1.txt" 2>/dev/null || true
}

# ---------------------------------------------------------------- daemons, common
# in_private_ns NS DIR CMD...: run CMD in netns NS, in a new mount namespace where DIR/run
# is bound over /run (pidfiles, sockets under /run stay per daemon). Runs in background;
# the pid of the wrapper (which execs into CMD) goes to DIR/daemon.pid.
in_private_ns() {
  local ns=$1 d=$2; shift 2
  mkdir -p "$d/run"
  ip netns exec "$ns" unshare -m --propagation private \
    sh -c 'mount --bind "$0/run" /run && exec "$@"' "$d" "$@" >>"$d/daemon.stdout" 2>&1 &
  echo $! > "$d/daemon.pid"
}
daemon_stop() {  # daemon_stop DIR: SIGTERM, then SIGKILL after 10 s
  local d=$1 pid i
  pid=$(cat "$d/daemon.pid" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$d/daemon.pid"
}
daemon_kill() {  # daemon_kill DIR: SIGKILL now (a peer that vanishes without DELETE)
  local pid; pid=$(cat "$1/daemon.pid" 2>/dev/null) || return 0
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$1/daemon.pid"
}

# ---------------------------------------------------------------- strongSwan
# sw_start SIDE: write DIR/strongswan.conf and start charon for side a|b.
# The connection config is DIR/swanctl/swanctl.conf (written by the scenario); credentials
# go in DIR/swanctl/{private,pubkey,x509,x509ca}.
sw_start() {
  local side=$1 d=$W/$1 i
  mkdir -p "$d/swanctl"/{private,pubkey,x509,x509ca,ecdsa,rsa,pkcs8}
  cat > "$d/strongswan.conf" <<EOF
# strongswan.conf for side $side (used through STRONGSWAN_CONF); one setting per line
charon {
  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints kdf sha1 sha2 hmac gcm aes curve25519 gmp kernel-netlink socket-default vici
  install_routes = no
  install_virtual_ip = no
  retransmit_tries = 3
  retransmit_timeout = 2
  plugins {
    vici {
      socket = unix://$d/charon.vici
    }
    socket-default {
      use_ipv6 = no
    }
  }
  filelog {
    main {
      path = $d/charon.log
      append = yes
      flush_line = yes
      time_format = %H:%M:%S
      time_add_ms = yes
      default = 1
      ike = 2
      knl = 2
      chd = 2
      cfg = ${SW_LOG_CFG:-1}
    }
  }
  syslog {
    daemon {
      default = -1
    }
  }
}
swanctl {
  load = pem pkcs1 pkcs8 x509 revocation constraints pubkey openssl random
}
EOF
  rm -f "$d/charon.vici"   # a stale socket from an earlier round would look ready
  in_private_ns "$(ns_of "$side")" "$d" env STRONGSWAN_CONF="$d/strongswan.conf" "$CHARON"
  for ((i = 0; i < 300; i++)); do [ -S "$d/charon.vici" ] && break; sleep 0.1; done
  if [ ! -S "$d/charon.vici" ]; then
    echo "charon for side $side did not open its vici socket"; cat "$d/daemon.stdout"; return 1
  fi
  swc "$side" --load-all --file "$d/swanctl/swanctl.conf" > "$d/swanctl-load.txt" 2>&1 ||
    { cat "$d/swanctl-load.txt"; return 1; }
}
swc() {  # swc SIDE swanctl-args...
  local d=$W/$1; shift
  STRONGSWAN_CONF=$d/strongswan.conf swanctl "$@" --uri "unix://$d/charon.vici"
}
# sw_ike_established SIDE: swanctl lists an ESTABLISHED IKE SA with an INSTALLED child
sw_ike_established() {
  local sas; sas=$(swc "$1" --list-sas 2>/dev/null)
  grep -q ESTABLISHED <<<"$sas" && grep -q INSTALLED <<<"$sas"
}
# sw_no_sas SIDE: charon answers and lists no IKE SA at all
sw_no_sas() {
  local sas; sas=$(swc "$1" --list-sas 2>&1) || { echo "$sas"; return 1; }
  ! grep -qE 'ESTABLISHED|CONNECTING|REKEYING|DELETING' <<<"$sas"
}

# sw_conf SIDE: write swanctl.conf for side a|b from these variables (set by the scenario):
#   IKE_PROPOSALS ESP_PROPOSALS  MODE (tunnel|transport)  AUTH (psk|pubkey|cert)
#   START (none|start|trap for start_action)  PSK  DPD (seconds, default 0 = off)
#   REKEY_IKE REKEY_CHILD (strongSwan rekey_time values, default 4h / 1h)
sw_conf() {
  local side=$1 d=$W/$1 me peer my_addr peer_addr my_ts peer_ts local_auth remote_auth
  if [ "$side" = a ]; then
    me=a.test peer=b.test my_addr=${ADDR_A:-$OUTER_A} peer_addr=$OUTER_B my_ts=$NET_A peer_ts=$NET_B
  else
    me=b.test peer=a.test my_addr=$OUTER_B peer_addr=${PEER_OF_B:-$OUTER_A} my_ts=$NET_B peer_ts=$NET_A
  fi
  [ "$peer_addr" = any ] && peer_addr=%any
  if [ "${MODE:-tunnel}" = transport ]; then my_ts=dynamic peer_ts=dynamic; fi
  case ${AUTH:-psk} in
    psk) local_auth="auth = psk" remote_auth="auth = psk" ;;
    pubkey) local_auth="auth = pubkey
      pubkeys = $me.pub" remote_auth="auth = pubkey
      pubkeys = $peer.pub" ;;
    cert) local_auth="auth = pubkey
      certs = $me.crt" remote_auth="auth = pubkey
      cacerts = ca.crt" ;;
  esac
  mkdir -p "$d/swanctl"
  cat > "$d/swanctl/swanctl.conf" <<EOF
connections {
  lab {
    version = 2
    local_addrs = $my_addr
    remote_addrs = $peer_addr
    proposals = ${IKE_PROPOSALS:-aes256gcm16-prfsha256-x25519}
    rekey_time = ${REKEY_IKE:-4h}
    dpd_delay = ${DPD:-0}
    local {
      $local_auth
      id = $me
    }
    remote {
      $remote_auth
      id = $peer
    }
    children {
      net {
        mode = ${MODE:-tunnel}
        local_ts = $my_ts
        remote_ts = $peer_ts
        esp_proposals = ${ESP_PROPOSALS:-aes256-sha512}
        rekey_time = ${REKEY_CHILD:-1h}
        start_action = ${START:-none}
        dpd_action = clear
      }
    }
  }
}
secrets {
  ike-lab {
    id-a = a.test
    id-b = b.test
    secret = "${PSK:-interop-lab-pre-shared-key}"
  }
}
EOF
}

# sw_creds SIDE CREDDIR: strongSwan's credentials for AUTH=pubkey|cert from CREDDIR
# (make_ecdsa_keys / make_ca_certs): its private key, both raw public keys, or its
# certificate and the CA
sw_creds() {
  local side=$1 c=$2 d=$W/$1/swanctl me=a.test
  [ "$side" = b ] && me=b.test
  mkdir -p "$d/private" "$d/pubkey" "$d/x509" "$d/x509ca"
  cp "$c/$me.key" "$d/private/"
  if [ "${AUTH:-psk}" = pubkey ]; then cp "$c/a.test.pub" "$c/b.test.pub" "$d/pubkey/"; fi
  if [ "${AUTH:-psk}" = cert ]; then cp "$c/$me.crt" "$d/x509/"; cp "$c/ca.crt" "$d/x509ca/"; fi
}

# ---------------------------------------------------------------- our daemon
# See ours.sh: ours_conf / ours_start / ours_ctl.
. "$INTEROP_DIR/ours.sh"

# ---------------------------------------------------------------- credentials
# pki with only the plugins it needs: the default set (TPM, PKCS#11, ...) costs seconds
# per call under TCG
pki() {
  local conf=${TMPDIR:-/tmp}/ike-interop-pki.conf
  [ -s "$conf" ] || printf 'pki {\n  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey\n}\n' > "$conf"
  STRONGSWAN_CONF=$conf command pki "$@"
}
# make_ecdsa_keys DIR: P-256 keys for a.test and b.test (PEM private keys, PEM public keys)
make_ecdsa_keys() {
  local d=$1 who
  mkdir -p "$d"
  for who in a.test b.test; do
    pki --gen --type ecdsa --size 256 --outform pem > "$d/$who.key" 2>>"$d/pki.log" || return 1
    pki --pub --in "$d/$who.key" --type ecdsa --outform pem > "$d/$who.pub" 2>>"$d/pki.log" || return 1
  done
}
# make_ca_certs DIR: a P-256 CA and certificates for a.test and b.test (SAN = their FQDN)
make_ca_certs() {
  local d=$1 who
  mkdir -p "$d"
  pki --gen --type ecdsa --size 256 --outform pem > "$d/ca.key" 2>>"$d/pki.log" || return 1
  pki --self --ca --lifetime 30 --in "$d/ca.key" --type ecdsa \
    --dn "C=XX, O=ike interop lab, CN=ike lab CA" --outform pem > "$d/ca.crt" 2>>"$d/pki.log" || return 1
  for who in a.test b.test; do
    [ -s "$d/$who.key" ] ||
      pki --gen --type ecdsa --size 256 --outform pem > "$d/$who.key" 2>>"$d/pki.log" || return 1
    pki --pub --in "$d/$who.key" --type ecdsa 2>>"$d/pki.log" |
      pki --issue --lifetime 30 --cacert "$d/ca.crt" --cakey "$d/ca.key" \
        --dn "C=XX, O=ike interop lab, CN=$who" --san "$who" --outform pem > "$d/$who.crt" 2>>"$d/pki.log" || return 1
  done
}

# make_rsa_ca_certs DIR [CA_BITS] [EE_BITS]: like make_ca_certs with RSA keys (default 2048
# bits each): a self-signed RSA CA and certificates for a.test and b.test, all signed
# sha256WithRSAEncryption (pki's default for RSA); the private keys are PKCS#1 PEM
# ("RSA PRIVATE KEY"), which both swanctl and ike-parent read as they are
make_rsa_ca_certs() {
  local d=$1 ca_bits=${2:-2048} ee_bits=${3:-2048} who
  mkdir -p "$d"
  pki --gen --type rsa --size "$ca_bits" --outform pem > "$d/ca.key" 2>>"$d/pki.log" || return 1
  pki --self --ca --lifetime 30 --in "$d/ca.key" --type rsa \
    --dn "C=XX, O=ike interop lab, CN=ike lab RSA CA" --outform pem > "$d/ca.crt" 2>>"$d/pki.log" || return 1
  for who in a.test b.test; do
    [ -s "$d/$who.key" ] ||
      pki --gen --type rsa --size "$ee_bits" --outform pem > "$d/$who.key" 2>>"$d/pki.log" || return 1
    pki --pub --in "$d/$who.key" --type rsa 2>>"$d/pki.log" |
      pki --issue --lifetime 30 --cacert "$d/ca.crt" --cakey "$d/ca.key" \
        --dn "C=XX, O=ike interop lab, CN=$who" --san "$who" --outform pem > "$d/$who.crt" 2>>"$d/pki.log" || return 1
  done
}

# ---------------------------------------------------------------- ours vs strongSwan
# Our daemon is side a, strongSwan side b, in every "ours" scenario.
#
# ping_mode FROM: ping through ESP between the addresses the mode protects
ping_mode() {
  if [ "${MODE:-tunnel}" = transport ]; then
    local a0 b0 a1 b1 dst=$OUTER_B ns=$NSA
    [ "$1" = b ] && dst=$OUTER_A ns=$NSB
    a0=$(esp_packets $NSA) b0=$(esp_packets $NSB)
    ip netns exec $ns ping -c 3 -i 0.3 -W 2 $dst || return 1
    a1=$(esp_packets $NSA) b1=$(esp_packets $NSB)
    echo "  ESP packets: $NSA $a0 -> $a1, $NSB $b0 -> $b1"
    [ $((a1 - a0)) -ge 6 ] && [ $((b1 - b0)) -ge 6 ]
  else
    ping_through_esp "$1"
  fi
}
sas_mode_is() {  # every SA in NS has mode $MODE
  local m; m=$(xfrm_sas "$1" | awk '{ print $6 }' | sort -u)
  [ "$m" = "${MODE:-tunnel}" ]
}

# ours_vs_swan_setup INITIATOR [CREDDIR]: namespaces, configs, both daemons started;
# INITIATOR is "ours" (our side active) or "swan" (our side passive, swanctl --initiate).
# For AUTH=pubkey|cert, CREDDIR holds the keys/certificates (make_ecdsa_keys/make_ca_certs).
ours_vs_swan_setup() {
  local who=$1 c=${2:-}
  check "our daemon is built" ours_available || return 1
  net_up || { fail "network namespaces"; return 1; }
  if [ "$who" = ours ]; then OURS_ROLE=active; else OURS_ROLE=passive; fi
  echo "=== round initiated by $who" | tee -a "$W/a/ike.log" "$W/a/daemon.stdout" >> "$W/b/charon.log"
  ours_conf a; sw_conf b
  if [ -n "$c" ]; then ours_keys a "$c"; sw_creds b "$c"; fi
  check "strongSwan (b) started" sw_start b || return 1
  check "our daemon (a) started" ours_start a || return 1
  if [ "$who" = swan ]; then
    check "strongSwan initiates" swc b --initiate --child net --timeout 30 || return 1
  fi
  wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established b || return 1
}

# ours_vs_swan_round INITIATOR [CREDDIR]: one complete negotiation and the common checks:
# both kernels hold the same SAs (our broker's PF_KEY SAs carry the keys strongSwan
# derived), ping both ways through ESP, strongSwan deletes, the SAs are gone on both sides.
ours_vs_swan_round() {
  local who=$1
  say "---- round: initiated by $who, ${MODE:-tunnel} mode, auth ${AUTH:-psk}"
  if ours_vs_swan_setup "$@"; then
    check "both kernels hold the same ESP SAs (SPIs, keys)" sas_match
    check "SAs are in ${MODE:-tunnel} mode" sas_mode_is $NSA
    check "ping a -> b through ESP" ping_mode a
    check "ping b -> a through ESP" ping_mode b
    check "strongSwan deletes the IKE SA" swc b --terminate --ike lab --timeout 30
    wait_for 15 "our side removed its SAs ($NSA)" no_sas $NSA
    wait_for 15 "strongSwan's SAs gone ($NSB)" no_sas $NSB
  fi
  daemon_stop "$W/a"; daemon_stop "$W/b"   # logs of all rounds accumulate in a/ and b/
  return 0
}

# ---------------------------------------------------------------- NAT (issue 13)
# nat_net_up: side a (and with NAT_CLIENTS=2 a second client, side c) behind a router
# namespace that masquerades with the kernel's netfilter (nftables):
#
#   ike-a: lo 10.1.0.1, ike-va 10.88.0.1/24 --+
#                                             +-- ike-lan 10.88.0.254/24 [ike-nat] ike-nb 10.77.0.1/24 --- ike-vb 10.77.0.2/24 :ike-b
#   ike-c: lo 10.3.0.1, ike-vc 10.88.0.3/24 --+   (a bridge joins the LAN side)
#
# The NAT's outside address is OUTER_A (10.77.0.1), so side b sees every client there; UDP
# leaves with a source port from NAT_PORTS (40000-40999: the peer sees translated ports, as
# behind a real NAT), other traffic is masqueraded. ADDR_A is side a's own (private) address.
NSN=ike-nat NSC=ike-c
LAN_A=10.88.0.1 LAN_C=10.88.0.3 LAN_GW=10.88.0.254
INNER_C=10.3.0.1 NET_C=10.3.0.0/24
NAT_PORTS=${NAT_PORTS:-40000-40999}
nat_net_up() {
  net_down
  local n
  for n in $NSA $NSB $NSN; do ip netns add $n || return 1; done
  [ "${NAT_CLIENTS:-1}" = 2 ] && { ip netns add $NSC || return 1; }
  ip -n $NSN link add ike-lan type bridge || return 1
  ip link add ike-va netns $NSA type veth peer name ike-na netns $NSN || return 1
  ip -n $NSN link set ike-na master ike-lan
  ip link add ike-nb netns $NSN type veth peer name ike-vb netns $NSB || return 1
  ip -n $NSA addr add $LAN_A/24 dev ike-va; ip -n $NSA addr add $INNER_A/32 dev lo
  ip -n $NSN addr add $LAN_GW/24 dev ike-lan; ip -n $NSN addr add $OUTER_A/24 dev ike-nb
  ip -n $NSB addr add $OUTER_B/24 dev ike-vb; ip -n $NSB addr add $INNER_B/32 dev lo
  if [ "${NAT_CLIENTS:-1}" = 2 ]; then
    ip link add ike-vc netns $NSC type veth peer name ike-nc netns $NSN || return 1
    ip -n $NSN link set ike-nc master ike-lan; ip -n $NSN link set ike-nc up
    ip -n $NSC addr add $LAN_C/24 dev ike-vc; ip -n $NSC addr add $INNER_C/32 dev lo
    ip -n $NSC link set lo up; ip -n $NSC link set ike-vc up
    ip netns exec $NSC sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n $NSC route add default via $LAN_GW src $INNER_C
  fi
  for n in $NSA $NSB $NSN; do
    ip -n $n link set lo up
    ip netns exec $n sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  done
  ip -n $NSA link set ike-va up; ip -n $NSB link set ike-vb up
  ip -n $NSN link set ike-lan up; ip -n $NSN link set ike-na up; ip -n $NSN link set ike-nb up
  ip netns exec $NSN sysctl -qw net.ipv4.ip_forward=1
  # the clients reach everything through the NAT; b routes the inner nets to the NAT's
  # outside address (only the xfrm policies make that traffic arrive anywhere)
  ip -n $NSA route add default via $LAN_GW src $INNER_A
  ip -n $NSB route add $NET_A via $OUTER_A src $INNER_B
  [ "${NAT_CLIENTS:-1}" != 2 ] || ip -n $NSB route add $NET_C via $OUTER_A src $INNER_B
  nat_rules "$NAT_PORTS"
}
# nat_rules PORTS: (re)load the NAT's ruleset: UDP source ports from PORTS, the rest masqueraded
nat_rules() {
  ip netns exec $NSN nft -f - <<EOF
flush ruleset
table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "ike-nb" meta l4proto udp masquerade to :$1
    oifname "ike-nb" masquerade
  }
}
EOF
}
# nat_remap PORTS: a NAT mapping change: new port range, every mapping forgotten
nat_remap() {
  nat_rules "$1" && ip netns exec $NSN conntrack -F 2>&1
}
# nat_capture_start FILE (stop with capture_stop FILE): everything on the NAT's outside link
nat_capture_start() {
  ip netns exec $NSN tcpdump -Z root -U -n -i ike-nb -w "$1" 'udp or ip proto 50' 2>"$1.log" &
  echo $! > "$1.pid"
  local i; for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$1.log" 2>/dev/null && break; sleep 0.1; done
}
# no_plain_esp FILE: the capture holds ESP-in-UDP and not one plain ESP packet (proto 50)
no_plain_esp() {
  local plain udp
  plain=$(tcpdump -n -r "$1" 'ip proto 50' 2>/dev/null | wc -l)
  udp=$(tcpdump -n -r "$1" 'udp' 2>/dev/null | grep -c 'UDP-encap: ESP')
  echo "  on the NAT's outside link: $udp ESP-in-UDP packets, $plain plain ESP packets"
  [ "$plain" = 0 ] && [ "$udp" -gt 0 ]
}
# xfrm_encap NS: "sport dport" of the UDP encapsulation of NS's ESP SAs, one line per pair
xfrm_encap() {
  ip -n "$1" xfrm state | awk '/encap type espinudp/ { for (i = 1; i < NF; i++) { if ($i == "sport") s = $(i + 1); if ($i == "dport") d = $(i + 1) } print s, d }' | sort -u
}
# encap_natted: every SA on both sides is UDP-encapsulated; a's use 4500 <-> 4500, b's
# 4500 <-> a port from the NAT's range (the mapping the NAT chose; an inbound SA names the
# peer's port as its source port)
encap_natted() {
  local a b s d lo=${NAT_PORTS%-*} hi=${NAT_PORTS#*-}
  a=$(xfrm_encap $NSA) b=$(xfrm_encap $NSB)
  echo "  encap (sport dport) in $NSA: $(echo $a); in $NSB: $(echo $b)"
  [ "$a" = "4500 4500" ] || return 1
  [ "$(xfrm_sa_count $NSA)" -ge 2 ] && [ "$(xfrm_sa_count $NSB)" -ge 2 ] || return 1
  [ "$(ip -n $NSA xfrm state | grep -c 'encap type espinudp')" = "$(xfrm_sa_count $NSA)" ] || return 1
  [ "$(ip -n $NSB xfrm state | grep -c 'encap type espinudp')" = "$(xfrm_sa_count $NSB)" ] || return 1
  while read -r s d; do
    [ "$s" = 4500 ] || { d=$s; s=4500; }
    [ "$d" -ge "$lo" ] && [ "$d" -le "$hi" ] || return 1
  done <<<"$b"
}
# sas_match_natted: both kernels hold the same ESP SAs (SPIs, keys, mode) and at least two;
# the addresses differ by the NAT's translation, so they are not compared
sas_match_natted() {
  local a b
  a=$(xfrm_sas $NSA | awk '{ print $3, $4, $5, $6 }' | sort) b=$(xfrm_sas $NSB | awk '{ print $3, $4, $5, $6 }' | sort)
  echo "  SAs (spi keys mode) in $NSA:"; echo "$a" | sed 's/^/    /'
  echo "  in $NSB:"; echo "$b" | sed 's/^/    /'
  [ -n "$a" ] && [ "$a" = "$b" ] && [ "$(echo "$a" | wc -l)" -ge 2 ]
}
# nat_round_checks: ping both ways through ESP-in-UDP, UDP encapsulation with the NATed ports
# on both sides, no plain ESP on the NAT's outside link (captured around the pings)
nat_round_checks() {
  local cap=$W/nat-outside.pcap
  check "both kernels hold the same ESP SAs (SPIs, keys)" sas_match_natted
  nat_capture_start "$cap"
  check "ping a -> b through ESP-in-UDP" ping_through_esp a
  check "ping b -> a through ESP-in-UDP" ping_through_esp b
  capture_stop "$cap"
  check "SAs encapsulate in UDP with the NAT's ports" encap_natted
  check "no plain ESP on the NAT's outside link" no_plain_esp "$cap"
}

# ---------------------------------------------------------------- traffic through rekeys (issue 20)
# ping_stream FROM COUNT LOG: COUNT pings 10 ms apart from FROM's inner address to the other's
ping_stream() {
  local ns=$NSA src=$INNER_A dst=$INNER_B
  [ "$1" = b ] && ns=$NSB src=$INNER_B dst=$INNER_A
  ip netns exec $ns ping -q -i 0.01 -c "$2" -W 3 -I $src $dst >"$3" 2>&1
}
# none_lost LOG: ping's summary says every echo came back
none_lost() { tail -2 "$1"; grep -q ' 0% packet loss' "$1"; }
# xfrm_errors NS: the sum of the kernel's XFRM error counters (every line of xfrm_stat)
xfrm_errors() { ip netns exec "$1" awk '{ n += $2 } END { print n + 0 }' /proc/net/xfrm_stat; }
unchanged() { echo "  $1: $2 -> $3"; [ "$2" = "$3" ]; }
# esp_on_wire TXT SRC: ESP packets SRC sent in a capture's text (capture_stop), per SPI
# printed; the total on the last line
esp_on_wire() {
  awk -v src="$2" '$0 ~ "IP " src " > " && /ESP\(spi=/ {
      s = $0; sub(/.*ESP\(spi=/, "", s); sub(/,.*/, "", s); n[s]++; t++ }
    END { for (s in n) printf "  %s: %d\n", s, n[s]; print t + 0 }' "$1"
}
# wire_count_is TXT SRC N: exactly N ESP packets from SRC in the capture (per SPI shown)
wire_count_is() {
  local out; out=$(esp_on_wire "$1" "$2"); echo "$out" | sed '$d'
  echo "  $2 sent $(echo "$out" | tail -1) ESP packets (want $3); tcpdump:" \
    $(grep -h 'packets' "${1%.txt}.log" 2>/dev/null | tr '\n' ' ')
  [ "$(echo "$out" | tail -1)" = "$3" ]
}
# traffic_round NAME COUNT CMD...: pings (COUNT each way, 10 ms apart) run from both
# ends while CMD (the rekey trigger) runs one second in; then checks: no ping lost on
# either end, no XFRM error counter moved in either kernel, and on the wire (tcpdump on
# ike-va) exactly 2 x COUNT ESP packets each way (requests plus replies), counted per
# SPI. CMD's status is checked too. Files: $W/NAME-{ping-a,ping-b}.log, $W/NAME.pcap.txt.
traffic_round() {
  local name=$1 count=$2 na nb pa pb; shift 2
  na=$(xfrm_errors $NSA) nb=$(xfrm_errors $NSB)
  ip netns exec $NSA cat /proc/net/xfrm_stat > "$W/$name-xfrm_stat-a.before"
  ip netns exec $NSB cat /proc/net/xfrm_stat > "$W/$name-xfrm_stat-b.before"
  capture_start "$W/$name.pcap"
  ping_stream a "$count" "$W/$name-ping-a.log" & pa=$!
  ping_stream b "$count" "$W/$name-ping-b.log" & pb=$!
  sleep 1
  check "$name: $*" "$@"
  wait $pa; wait $pb
  # under TCG tcpdump can lag the wire by a second: let it write the last packets
  sleep 2
  capture_stop "$W/$name.pcap"
  check "$name: no ping lost a -> b" none_lost "$W/$name-ping-a.log"
  check "$name: no ping lost b -> a" none_lost "$W/$name-ping-b.log"
  check "$name: on the wire, every ESP packet a -> b" wire_count_is "$W/$name.pcap.txt" $OUTER_A $((2 * count))
  check "$name: on the wire, every ESP packet b -> a" wire_count_is "$W/$name.pcap.txt" $OUTER_B $((2 * count))
  check "$name: no XFRM error in $NSB's kernel" unchanged $NSB "$nb" "$(xfrm_errors $NSB)"
  check "$name: no XFRM error in $NSA's kernel" unchanged $NSA "$na" "$(xfrm_errors $NSA)"
  # which counters moved, if any (kept with the results)
  local side
  for side in a b; do
    ip netns exec "$(ns_of $side)" cat /proc/net/xfrm_stat |
      diff "$W/$name-xfrm_stat-$side.before" - | sed -n "s/^> /  $side now: /p"
  done
}

# ---------------------------------------------------------------- libreswan (issue 20)
# A second independent peer: libreswan's pluto, extracted (not installed: its package
# conflicts with strongSwan's) by tests/interop/libreswan-fetch.sh into LIBRESWAN_ROOT.
# pluto runs from that tree in its side's private mount namespace: an overlay puts the
# tree's usr/libexec over /usr/libexec (pluto runs /usr/libexec/ipsec/addconn, a path
# compiled in), its NSS database, config, secrets and run dir (pluto.ctl) are the side's.
LIBRESWAN_ROOT=${LIBRESWAN_ROOT:-$INTEROP_DIR/.libreswan}
lsw_env() { LD_LIBRARY_PATH=$LIBRESWAN_ROOT/usr/lib/x86_64-linux-gnu "$@"; }
lsw_available() {
  [ -x "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" ] && [ -x "$LIBRESWAN_ROOT/usr/bin/certutil" ] ||
    { echo "libreswan is not extracted in $LIBRESWAN_ROOT: run tests/interop/libreswan-fetch.sh"; return 1; }
  lsw_env "$LIBRESWAN_ROOT/usr/libexec/ipsec/pluto" --version
}
# lsw_conf: $W/b/ipsec.conf and ipsec.secrets for side b (b.test, 10.2.0.0/24) against a
# (a.test, 10.1.0.0/24), PSK; LSW_IKE LSW_ESP (libreswan proposal syntax), LSW_SALIFETIME
lsw_conf() {
  local d=$W/b
  mkdir -p "$d/ipsec.d" "$d/nss"
  cat > "$d/ipsec.conf" <<EOC
config setup
	logfile=$d/pluto.log
	logappend=yes
	plutodebug=none

conn lab
	ikev2=insist
	authby=secret
	left=$OUTER_B
	leftid=@b.test
	leftsubnet=$NET_B
	leftupdown=/bin/true
	right=$OUTER_A
	rightid=@a.test
	rightsubnet=$NET_A
	ike=${LSW_IKE:-aes256-sha2_256-dh19}
	esp=${LSW_ESP:-aes256-sha2_512}
	pfs=no
	salifetime=${LSW_SALIFETIME:-1h}
	auto=add
EOC
  printf '@b.test @a.test : PSK "%s"\n' "${PSK:-interop-lab-pre-shared-key}" > "$d/ipsec.secrets"
  chmod 0600 "$d/ipsec.secrets"
}
# lsw_start: pluto for side b (lsw_conf first); ready when whack answers
lsw_start() {
  local d=$W/b i
  lsw_available >> "$d/pluto.stdout" 2>&1 || { lsw_available; return 1; }
  lsw_env "$LIBRESWAN_ROOT/usr/bin/certutil" -N -d "sql:$d/nss" --empty-password || return 1
  cat > "$d/pluto-run.sh" <<EOS
#!/bin/sh
mount -t overlay overlay -o lowerdir=$LIBRESWAN_ROOT/usr/libexec:/usr/libexec /usr/libexec || exit 1
mkdir -p /run/pluto
export LD_LIBRARY_PATH=$LIBRESWAN_ROOT/usr/lib/x86_64-linux-gnu
exec $LIBRESWAN_ROOT/usr/libexec/ipsec/pluto --nofork --config $d/ipsec.conf \
  --ipsecdir $d/ipsec.d --nssdir $d/nss --rundir /run/pluto --secretsfile $d/ipsec.secrets
EOS
  in_private_ns $NSB "$d" sh "$d/pluto-run.sh"
  for ((i = 0; i < 300; i++)); do lsw_whack --status >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "pluto did not answer on its control socket:"; tail -n 20 "$d/daemon.stdout" "$d/pluto.log"
  return 1
}
lsw_whack() { lsw_env "$LIBRESWAN_ROOT/usr/libexec/ipsec/whack" --ctlsocket "$W/b/run/pluto/pluto.ctl" "$@"; }
# lsw_established: pluto lists an established IKE SA and an established Child SA for lab
lsw_established() {
  local s; s=$(lsw_whack --showstates 2>&1)
  grep -q 'ESTABLISHED_IKE_SA' <<<"$s" && grep -q 'ESTABLISHED_CHILD_SA' <<<"$s"
}
