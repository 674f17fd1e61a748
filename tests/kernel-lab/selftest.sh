#!/usr/bin/env bash
# tests/kernel-lab/selftest.sh - prove the kernel lab: boot the VM and, inside it,
#   1. load af_key, esp4, xfrm_user (the modules the daemon's tests rely on)
#   2. PF_KEY v2: SADB_REGISTER for ESP on a fresh socket, reply checked
#   3. a manual ESP tunnel (ip xfrm, AES-CBC + HMAC-SHA2-512) between two network
#      namespaces: ping between inner addresses, ESP seen on the wire, SA counters moved
#   4. the helper binaries (from $CARGO_TARGET_DIR or target/, release preferred):
#      pf-to-fd hands out a working kernel PF_KEY socket; pf-to-tcp relays REGISTER
# Exits non-zero when any check fails. Run from anywhere, as root:
#   tests/kernel-lab/selftest.sh
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "${1:-}" != --guest ]; then
  exec "$HERE/run.sh" --timeout "${KLAB_SELFTEST_TIMEOUT:-600}" --env CARGO_TARGET_DIR -- "$HERE/selftest.sh" --guest
fi

# ---------------- inside the guest ----------------
[ "${KLAB_GUEST:-}" = 1 ] || { echo "selftest --guest must run inside the kernel lab"; exit 2; }
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${KLAB_OUT:-/tmp}/selftest
rm -rf "$OUT"; mkdir -p "$OUT"
FAILS=0 T0=$(date +%s.%N)
elapsed() { awk -v a="$(date +%s.%N)" -v b="$T0" 'BEGIN { printf "%6.2f", a - b }'; }
step() { echo; echo "=== [$(elapsed)s] $*"; }
check() {  # check DESCRIPTION CMD...: run CMD, record PASS/FAIL
  local what=$1; shift
  if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; FAILS=$((FAILS + 1)); fi
}
# -S: skip site.py, whose site-packages scan over 9p costs seconds under TCG
PY=$(command -v python3 || true); PY=${PY:+$PY -S}

step "kernel $(uname -r): modules"
check "modprobe af_key esp4 xfrm_user veth" modprobe -a af_key esp4 xfrm_user veth
lsmod | awk '$1 ~ /^(af_key|esp4|xfrm_user|veth)$/ { print "  loaded:", $1 }'

step "PF_KEY v2 SADB_REGISTER"
if [ -n "$PY" ]; then
  check "SADB_REGISTER on socket(PF_KEY, SOCK_RAW, PF_KEY_V2)" $PY "$HERE/pfkey-register.py"
else
  echo "FAIL: python3 not found; the PF_KEY check needs it"; FAILS=$((FAILS + 1))
fi

step "manual ESP tunnel between two network namespaces"
A=klab-a B=klab-b
ip netns add $A && ip netns add $B
ip link add klab-va netns $A type veth peer name klab-vb netns $B
ip -n $A addr add 10.77.0.1/24 dev klab-va; ip -n $B addr add 10.77.0.2/24 dev klab-vb
ip -n $A addr add 10.1.0.1/32 dev lo;      ip -n $B addr add 10.2.0.1/32 dev lo
for n in $A $B; do ip -n $n link set lo up; done
ip -n $A link set klab-va up; ip -n $B link set klab-vb up
ip -n $A route add 10.2.0.0/24 via 10.77.0.2 src 10.1.0.1
ip -n $B route add 10.1.0.0/24 via 10.77.0.1 src 10.2.0.1
# AES-256-CBC + HMAC-SHA2-512/256: what the daemon's Linux PF_KEY path uses (DIALECTS.md 5.4)
hexkey() { printf '0x'; for _ in $(seq "$2"); do printf '%s' "$1"; done; }
EKEY_AB=$(hexkey a1 32) AKEY_AB=$(hexkey b1 64) EKEY_BA=$(hexkey a2 32) AKEY_BA=$(hexkey b2 64)
for n in $A $B; do
  ip -n $n xfrm state add src 10.77.0.1 dst 10.77.0.2 proto esp spi 0x00a1b001 reqid 7 mode tunnel \
    enc 'cbc(aes)' $EKEY_AB auth-trunc 'hmac(sha512)' $AKEY_AB 256
  ip -n $n xfrm state add src 10.77.0.2 dst 10.77.0.1 proto esp spi 0x00b2a002 reqid 7 mode tunnel \
    enc 'cbc(aes)' $EKEY_BA auth-trunc 'hmac(sha512)' $AKEY_BA 256
done
policy() {  # policy NS DIR SRCNET DSTNET TUNSRC TUNDST
  ip -n "$1" xfrm policy add src "$3" dst "$4" dir "$2" \
    tmpl src "$5" dst "$6" proto esp reqid 7 mode tunnel
}
policy $A out 10.1.0.0/24 10.2.0.0/24 10.77.0.1 10.77.0.2
policy $A in  10.2.0.0/24 10.1.0.0/24 10.77.0.2 10.77.0.1
policy $B out 10.2.0.0/24 10.1.0.0/24 10.77.0.2 10.77.0.1
policy $B in  10.1.0.0/24 10.2.0.0/24 10.77.0.1 10.77.0.2
ip -n $A xfrm state > "$OUT/xfrm-state-a.txt"; ip -n $A xfrm policy > "$OUT/xfrm-policy-a.txt"

ip netns exec $A tcpdump -Z root -U -n -i klab-va -w "$OUT/esp.pcap" esp 2>"$OUT/tcpdump.log" &
CAP=$!
for _ in $(seq 50); do grep -q 'listening on' "$OUT/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
check "ping 10.1.0.1 -> 10.2.0.1 through the tunnel" \
  ip netns exec $A ping -c 3 -i 0.3 -W 2 -I 10.1.0.1 10.2.0.1
sleep 0.3; kill -INT $CAP; wait $CAP 2>/dev/null
tcpdump -n -r "$OUT/esp.pcap" 2>/dev/null > "$OUT/esp.txt"
check "ESP spi 0x00a1b001 (a->b) on the wire" grep -q 'ESP(spi=0x00a1b001' "$OUT/esp.txt"
check "ESP spi 0x00b2a002 (b->a) on the wire" grep -q 'ESP(spi=0x00b2a002' "$OUT/esp.txt"
# `ip -s xfrm state`: "lifetime current:" is followed by "N(bytes), M(packets)"
packets() {  # packets NS SPI: packet count of that SA
  ip -s -n "$1" xfrm state get src "$3" dst "$4" proto esp spi "$2" |
    awk '/lifetime current:/ { getline; for (i = 1; i <= NF; i++) if ($i ~ /\(packets\)/) { sub(/\(packets\).*/, "", $i); print $i } }'
}
PA=$(packets $A 0x00a1b001 10.77.0.1 10.77.0.2)
PB=$(packets $B 0x00a1b001 10.77.0.1 10.77.0.2)
echo "  SA 0x00a1b001 packets: out in $A = ${PA:-?}, in in $B = ${PB:-?}"
check "outbound SA counted 3 packets in $A" test "${PA:-0}" -ge 3
check "inbound SA counted 3 packets in $B" test "${PB:-0}" -ge 3
for n in $A $B; do ip -n $n xfrm state flush; ip -n $n xfrm policy flush; done
check "SAs and policies gone after flush" \
  test -z "$(for n in $A $B; do ip -n $n xfrm state; ip -n $n xfrm policy; done)"

step "helpers against the real kernel"
BIN=
for d in "${CARGO_TARGET_DIR:-}/release" "$ROOT/target/release" "${CARGO_TARGET_DIR:-}/debug" "$ROOT/target/debug"; do
  [ -x "$d/pf-to-fd" ] && [ -x "$d/pf-to-tcp" ] && { BIN=$d; break; }
done
[ -z "$BIN" ] || echo "  helpers from $BIN"
if [ -z "$BIN" ]; then
  echo "FAIL: pf-to-fd not built (cargo build --release -p helper)"; FAILS=$((FAILS + 1))
else
  W=/tmp/klab-helpers; mkdir -p $W
  "$BIN/pf-to-fd" $W/pf.sock > "$OUT/pf-to-fd.log" 2>&1 & P=$!
  for _ in $(seq 50); do [ -S $W/pf.sock ] && break; sleep 0.1; done
  check "pf-to-fd socket is mode 0600" test "$(stat -c %a $W/pf.sock)" = 600
  check "pf-to-fd hands out a usable kernel PF_KEY socket" $PY "$HERE/pfkey-register.py" --unix $W/pf.sock
  kill $P; wait $P 2>/dev/null
  "$BIN/pf-to-tcp" --insecure-debug --listen 127.0.0.1:5757 > "$OUT/pf-to-tcp.log" 2>&1 & P=$!
  for _ in $(seq 50); do grep -q listening "$OUT/pf-to-tcp.log" && break; sleep 0.1; done
  # SADB_REGISTER(ESP) header: version 2, type 7, errno 0, satype 3, len 2 words, seq 0x11, pid 0
  check "pf-to-tcp relays REGISTER and the kernel's reply" $PY - <<'PYEOF'
import socket, struct, sys
c = socket.create_connection(("127.0.0.1", 5757), timeout=60)
c.sendall(struct.pack("=BBBBHHII", 2, 7, 0, 3, 2, 0, 0x11, 0))
while True:
    hdr = b""
    while len(hdr) < 16:
        chunk = c.recv(16 - len(hdr))
        if not chunk:
            sys.exit("connection closed before the reply")
        hdr += chunk
    words = struct.unpack_from("=H", hdr, 4)[0]
    body = b""
    while len(body) < words * 8 - 16:
        chunk = c.recv(words * 8 - 16 - len(body))
        if not chunk:
            sys.exit("connection closed inside a message")
        body += chunk
    if hdr[1] == 7 and struct.unpack_from("=I", hdr, 8)[0] == 0x11:
        break
print("reply", (hdr + body).hex())
sys.exit(0 if hdr[2] == 0 and words * 8 > 16 else 1)
PYEOF
  kill $P; wait $P 2>/dev/null
  check "pf-to-tcp printed a decoded dump of both directions" grep -q 'kernel -> client' "$OUT/pf-to-tcp.log"
fi

step "the PF_KEY broker's code path against the kernel (pfkey-probe)"
# pfkey-probe drives ike_pfkey::broker, the code the daemon's ike-pfkey runs:
# REGISTER, GETSPI, UPDATE, ADD, SPDADD out/in/fwd, GET, DUMP, SPDDUMP, then
# DELETE and SPDDELETE. ip xfrm (netlink) is the independent witness.
PROBE=
for d in "${CARGO_TARGET_DIR:-}/release" "$ROOT/target/release" "${CARGO_TARGET_DIR:-}/debug" "$ROOT/target/debug"; do
  [ -x "$d/pfkey-probe" ] && { PROBE=$d/pfkey-probe; break; }
done
if [ -z "$PROBE" ]; then
  echo "FAIL: pfkey-probe not built (cargo build --release -p ike-pfkey)"; FAILS=$((FAILS + 1))
else
  N=klab-probe; ip netns add $N
  probe() { local out=$1; shift; ip netns exec $N "$PROBE" "$@" > "$OUT/$out" 2>&1; }
  check "pfkey-probe --keep: every broker step succeeds" probe pfkey-probe-keep.txt --keep
  ip -n $N xfrm state > "$OUT/probe-xfrm-state.txt"; ip -n $N xfrm policy > "$OUT/probe-xfrm-policy.txt"
  check "ip xfrm state: the two ESP SAs the broker installed (reqid 42, tunnel)" \
    test "$(grep -c 'proto esp spi' "$OUT/probe-xfrm-state.txt")" = 2 -a \
         "$(grep -c 'reqid 42 mode tunnel' "$OUT/probe-xfrm-state.txt")" = 2
  check "ip xfrm state: the outbound SA has the SPI the broker chose" \
    grep -q 'spi 0x00c0ffee' "$OUT/probe-xfrm-state.txt"
  check "ip xfrm policy: out, in and fwd policies with reqid 42" \
    test "$(grep -c 'reqid 42 mode tunnel' "$OUT/probe-xfrm-policy.txt")" = 3
  ip -n $N xfrm state flush; ip -n $N xfrm policy flush
  check "pfkey-probe: the same steps, then DELETE and SPDDELETE" probe pfkey-probe.txt
  check "nothing left in the kernel after the broker's deletes" \
    test -z "$(ip -n $N xfrm state; ip -n $N xfrm policy)"
  ip netns del $N
fi

step "done in $(elapsed)s: $([ $FAILS = 0 ] && echo 'all checks passed' || echo "$FAILS checks FAILED"); files in $OUT"
[ $FAILS = 0 ]
