#!/bin/sh
# The daemon's main job, end to end on one machine: two complete ike
# daemons (ike-parent with its ike-net and ike-pfkey children) on the
# loopback addresses 127.0.0.1 ("alice") and 127.0.0.2 ("bob"), each with
# its own PF_KEY simulator (pfkey-sim) standing in for the kernel. Alice
# brings up a PSK tunnel 10.1.0.0/24 <-> 10.2.0.0/24; the script prints
# `ike-ctl show sa` of both and the simulators' SADs, then stops all.
#
# Needs root (the daemons chroot and drop privileges like in production).
#
#   tests/e2e/demo.sh            build (release) and run
#   NO_BUILD=1 tests/e2e/demo.sh run what is already built
#   BIN=DIR tests/e2e/demo.sh    use the binaries in DIR (implies NO_BUILD)
#   KEEP=1                       keep the work directory (logs) afterwards
#   PORT=N NATT_PORT=M           IKE ports (default 10500/14500: no clash
#                                with a system IKE daemon on 500/4500)
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${PORT:-10500}
NATT_PORT=${NATT_PORT:-14500}

if [ "$(id -u)" != 0 ]; then
	echo "demo.sh: must run as root (the daemons chroot and drop privileges)" >&2
	exit 1
fi

if [ -z "${BIN:-}" ]; then
	TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
	BIN=$TARGET/release
	if [ -z "${NO_BUILD:-}" ]; then
		if ! command -v cargo >/dev/null 2>&1; then
			echo "demo.sh: cargo not in PATH (sudo resets PATH): run" >&2
			echo "  sudo env PATH=\"\$PATH\" $0   or build first and use NO_BUILD=1" >&2
			exit 1
		fi
		echo "== building (cargo build --release)"
		(cd "$ROOT" && cargo build --release --quiet --bins)
	fi
fi
E2E_NAME=demo.sh
. "$ROOT/tests/e2e/lib.sh"
e2e_check_bins
e2e_workdir

# One daemon: its directory and config (mode 0600: it holds the PSK), then
# the simulator and ike-parent (tests/e2e/lib.sh).
start() {
	d="$WORK/$1"
	mkdir -p "$d"
	printf '%s\n' "$3" > "$d/ike.conf"
	chmod 600 "$d/ike.conf"
	e2e_launch "$1" "$2"
}

PSK='this demo secret is not a secret'
start alice 127.0.0.1 "ikev2 \"tunnel\" active esp tunnel from 10.1.0.0/24 to 10.2.0.0/24 \\
	local 127.0.0.1 peer 127.0.0.2 \\
	ikesa enc aes-256-gcm prf hmac-sha2-256 group curve25519 \\
	childsa enc aes-256 auth hmac-sha2-512 \\
	psk \"$PSK\""
start bob 127.0.0.2 "ikev2 \"tunnel\" passive esp tunnel from 10.2.0.0/24 to 10.1.0.0/24 \\
	local 127.0.0.2 peer 127.0.0.1 \\
	ikesa enc aes-256-gcm prf hmac-sha2-256 group curve25519 \\
	childsa enc aes-256 auth hmac-sha2-512 \\
	psk \"$PSK\""

echo "== two daemons starting (alice 127.0.0.1, bob 127.0.0.2, ports $PORT/$NATT_PORT)"
e2e_wait_for "$WORK/alice/daemon.log" "running: " 10
e2e_wait_for "$WORK/bob/daemon.log" "running: " 10
# alice's policy is active: she initiates as soon as her broker is ready.
# Up means: both simulated kernels hold the inbound and the outbound SA.
for name in alice bob; do
	e2e_wait_sas "$name" 2 15
done

for name in alice bob; do
	echo
	echo "== ike-ctl show sa ($name)"
	"$BIN/ike-ctl" -s "$WORK/$name/ctl.sock" show sa
done
for name in alice bob; do
	echo
	echo "== pfkey-sim dump ($name's simulated kernel: SAD and SPD)"
	"$BIN/pfkey-sim" dump --control "$WORK/$name/sim.sock"
done
echo
echo "== stopping"
