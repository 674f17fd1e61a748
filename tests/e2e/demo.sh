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
for b in ike-parent ike-net ike-pfkey ike-cred ike-ctl pfkey-sim; do
	[ -x "$BIN/$b" ] || { echo "demo.sh: $BIN/$b missing (build first)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/ike-demo.XXXXXX)
chmod 755 "$WORK"
PIDS=""

cleanup() {
	status=$?
	trap - EXIT INT TERM
	# Daemons first (orderly: SIGTERM), then the simulators.
	for name in alice bob; do
		pidfile="$WORK/$name/parent.pid"
		[ -f "$pidfile" ] && kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
	done
	sleep 1
	for p in $PIDS; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.2
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
	if [ "$status" != 0 ]; then
		for name in alice bob; do
			echo "---- $name's log" >&2
			cat "$WORK/$name/daemon.log" >&2 2>/dev/null || true
		done
	fi
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# One daemon: its directory, config (mode 0600: it holds the PSK), the
# simulator, then ike-parent in the foreground (-d) with its log.
start() {
	name=$1 addr=$2 conf=$3
	d="$WORK/$name"
	mkdir -p "$d"
	printf '%s\n' "$conf" > "$d/ike.conf"
	chmod 600 "$d/ike.conf"
	"$BIN/pfkey-sim" serve --socket "$d/pfkey.sock" --control "$d/sim.sock" \
		> "$d/sim.log" 2>&1 &
	PIDS="$PIDS $!"
	i=0
	while [ ! -S "$d/sim.sock" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "pfkey-sim for $name did not start" >&2; exit 1; }
		sleep 0.05
	done
	"$BIN/ike-parent" -d -f "$d/ike.conf" --pfkey "unix:$d/pfkey.sock" \
		--listen "$addr" --port "$PORT" --natt-port "$NATT_PORT" \
		--control "$d/ctl.sock" --chroot "$d/empty" --user nobody \
		--libexec "$BIN" --pidfile "$d/parent.pid" > "$d/daemon.log" 2>&1 &
	PIDS="$PIDS $!"
}

wait_for() { # file pattern seconds
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt $(($3 * 20)) ] || { echo "demo.sh: timed out waiting for '$2' in $1" >&2; exit 1; }
		sleep 0.05
	done
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
wait_for "$WORK/alice/daemon.log" "running: " 10
wait_for "$WORK/bob/daemon.log" "running: " 10
# alice's policy is active: she initiates as soon as her broker is ready.
# Up means: both simulated kernels hold the inbound and the outbound SA.
for name in alice bob; do
	i=0
	until [ "$("$BIN/pfkey-sim" dump --control "$WORK/$name/sim.sock" | grep -c 'esp mode=tunnel')" = 2 ]; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "demo.sh: no tunnel in $name's kernel after 15 s" >&2; exit 1; }
		sleep 0.05
	done
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
