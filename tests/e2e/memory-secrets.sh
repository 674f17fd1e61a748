#!/bin/sh
# Issue 16's memory-secrecy test: ike-net, the process that parses the
# network, never holds a PSK, prf(PSK, "Key Pad for IKEv2") or our private
# key; ike-cred, the credential process, does.
#
# Two daemons on loopback (alice 127.0.0.1, bob 127.0.0.2, pfkey-sim as the
# kernel, as in tests/e2e/demo.sh) bring up two tunnels: one authenticated
# with a PSK, one with ECDSA P-256 raw keys (RFC 4754). Then each daemon's
# ike-net is searched through /proc/PID/maps + /proc/PID/mem
# (tests/e2e/memscan.py) for the PSK, prf(PSK, "Key Pad for IKEv2") with the
# negotiated PRF (HMAC-SHA-256), and the daemon's own ECDSA private scalar
# (big-endian, and byte-reversed as ring keeps it in 64-bit limbs). Any hit
# fails the test.
#
# So that it cannot pass by reading nothing, the same scanner must find:
# every needle in a control process that holds them all, and the PSK in
# each daemon's ike-cred (which must hold it).
#
# Needs root, python3 and openssl.
#   BIN=DIR (default $CARGO_TARGET_DIR/release or target/release)   KEEP=1
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${PORT:-11500}
NATT_PORT=${NATT_PORT:-15500}
SCAN="$ROOT/tests/e2e/memscan.py"

if [ "$(id -u)" != 0 ]; then
	echo "memory-secrets.sh: must run as root (reads other processes' memory)" >&2
	exit 1
fi
BIN=${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
E2E_NAME=memory-secrets.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_check_bins
e2e_workdir
fail() { e2e_fail "$@"; }

PSK='memory-secrets: a pre-shared key to look for'
# Keys: PKCS#8 P-256 private keys, SPKI public keys.
for name in alice bob; do
	mkdir -p "$WORK/$name/private" "$WORK/$name/pubkeys/fqdn" "$WORK/$name/empty"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$WORK/$name/private/local.key" 2>/dev/null
	chmod 600 "$WORK/$name/private/local.key"
	openssl pkey -in "$WORK/$name/private/local.key" -pubout -out "$WORK/$name.pub" 2>/dev/null
done
cp "$WORK/bob.pub" "$WORK/alice/pubkeys/fqdn/bob.test"
cp "$WORK/alice.pub" "$WORK/bob/pubkeys/fqdn/alice.test"

conf() { # role me peer my-net peer-net my-name peer-name
	cat <<CONF
ikev2 "psk" $1 esp tunnel from $4.1.0/24 to $5.1.0/24 \\
	local $2 peer $3 \\
	ikesa enc aes-256-gcm prf hmac-sha2-256 group curve25519 \\
	childsa enc aes-256 auth hmac-sha2-512 \\
	srcid psk-$6.test dstid psk-$7.test \\
	psk "$PSK"
ikev2 "ec" $1 esp tunnel from $4.2.0/24 to $5.2.0/24 \\
	local $2 peer $3 \\
	ikesa enc aes-256-gcm prf hmac-sha2-256 group curve25519 \\
	childsa enc aes-256 auth hmac-sha2-512 \\
	srcid $6.test dstid $7.test \\
	ecdsa256
CONF
}

start() { # name addr role peer my-net peer-net peer-name
	name=$1 d="$WORK/$1"
	conf "$3" "$2" "$4" "$5" "$6" "$1" "$7" > "$d/ike.conf"
	chmod 600 "$d/ike.conf"
	e2e_launch "$1" "$2"
}


start alice 127.0.0.1 active 127.0.0.2 10.1 10.2 bob
start bob 127.0.0.2 passive 127.0.0.1 10.2 10.1 alice
e2e_wait_for "$WORK/alice/daemon.log" "running: " 10
e2e_wait_for "$WORK/bob/daemon.log" "running: " 10
for name in alice bob; do
	e2e_wait_sas "$name" 4 20
done
for name in alice bob; do
	shown=$("$BIN/ike-ctl" -s "$WORK/$name/ctl.sock" show sa)
	for p in psk ec; do
		echo "$shown" | grep -q "$p" || fail "$name: no IKE SA of policy $p in show sa"
	done
done
echo "== both tunnels up (PSK and ECDSA P-256) between alice and bob"

# The needles, hex: the PSK, prf(PSK, "Key Pad for IKEv2") with HMAC-SHA-256,
# and each daemon's private scalar as openssl prints it (big-endian) and
# byte-reversed.
needles() { # name
	python3 - "$PSK" "$WORK/$1/private/local.key" <<'PY'
import hashlib, hmac, subprocess, sys
psk = sys.argv[1].encode()
text = subprocess.run(["openssl", "pkey", "-in", sys.argv[2], "-noout", "-text"],
                      capture_output=True, text=True, check=True).stdout
hexed, on = "", False
for line in text.splitlines():
    if line.startswith("priv:"):
        on = True
        continue
    if on and line.startswith(" "):
        hexed += line.strip().replace(":", "")
    elif on:
        break
scalar = bytes.fromhex(hexed)[-32:]
assert len(scalar) == 32, text
padded = hmac.new(psk, b"Key Pad for IKEv2", hashlib.sha256).digest()
print(f"psk={psk.hex()} prf-psk-keypad={padded.hex()} "
      f"ecdsa-scalar={scalar.hex()} ecdsa-scalar-reversed={scalar[::-1].hex()}")
PY
}

child_pid() { # name child
	sed -n "s/.*running: .*$2 pid \([0-9]*\).*/\1/p" "$WORK/$1/daemon.log" | tail -n 1
}

# Positive control: a process that holds every needle must be caught.
# shellcheck disable=SC2046
set -- $(needles alice)
python3 -c 'import sys, time
held = [bytes.fromhex(a.split("=", 1)[1]) for a in sys.argv[1:]]
sys.stdout.write("ready\n"); sys.stdout.flush(); time.sleep(30)' "$@" > "$WORK/control.out" &
CONTROL=$!
PIDS="$PIDS $CONTROL"
e2e_wait_for "$WORK/control.out" ready 5
out=$("$SCAN" "$CONTROL" "$@" || true)
for n in psk prf-psk-keypad ecdsa-scalar ecdsa-scalar-reversed; do
	echo "$out" | grep -q "^found $n " || fail "the control process holds $n but the scan missed it: $out"
done
echo "== control: the scanner finds all four needles in a process that holds them"

for name in alice bob; do
	# shellcheck disable=SC2046
	set -- $(needles "$name")
	net=$(child_pid "$name" ike-net)
	cred=$(child_pid "$name" ike-cred)
	[ -n "$net" ] && [ -n "$cred" ] || fail "$name: no ike-net/ike-cred pid in the log"
	# ike-cred holds the PSK: the scanner reads a sandboxed child's memory.
	out=$("$SCAN" "$cred" "$@" || true)
	echo "$out" | grep -q '^found psk ' || fail "$name: the PSK not found in ike-cred (pid $cred): $out"
	echo "== $name: ike-cred (pid $cred) holds the PSK, as it must"
	echo "$out" | sed 's/^/   ike-cred: /'
	if out=$("$SCAN" "$net" "$@"); then
		echo "$out" | sed 's/^/   ike-net: /'
		echo "== $name: ike-net (pid $net) holds no PSK, no prf(PSK, key pad), no private scalar"
	else
		fail "$name: ike-net (pid $net) holds a secret: $out"
	fi
done
echo "memory-secrets.sh: PASS"
