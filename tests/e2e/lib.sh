# Shared by the loopback e2e scripts (demo.sh, memory-secrets.sh): two
# complete daemons, each over its own pfkey-sim, in a scratch directory that
# is removed (daemons stopped first) when the script exits.
# The caller sets ROOT, BIN, PORT, NATT_PORT and E2E_NAME (for messages).

e2e_fail() {
	echo "$E2E_NAME: FAIL: $*" >&2
	exit 1
}

# Every binary a daemon tree needs, present in $BIN.
e2e_check_bins() {
	for b in ike-parent ike-net ike-pfkey ike-cred ike-ctl pfkey-sim; do
		[ -x "$BIN/$b" ] || e2e_fail "$BIN/$b missing (build first)"
	done
}

# WORK, PIDS, and the exit trap: daemons first (orderly: SIGTERM, so each
# removes its SAs), then the simulators; on failure both daemons' logs.
e2e_workdir() {
	WORK=$(mktemp -d "/tmp/ike-$E2E_NAME.XXXXXX")
	chmod 755 "$WORK"
	PIDS=""
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
}

e2e_cleanup() {
	status=$?
	trap - EXIT INT TERM
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

# e2e_launch NAME ADDR: the simulator, then ike-parent in the foreground
# (-d) with its log, for the daemon whose ike.conf is in $WORK/NAME.
e2e_launch() {
	d="$WORK/$1"
	mkdir -p "$d/empty"
	"$BIN/pfkey-sim" serve --socket "$d/pfkey.sock" --control "$d/sim.sock" \
		> "$d/sim.log" 2>&1 &
	PIDS="$PIDS $!"
	i=0
	while [ ! -S "$d/sim.sock" ]; do
		i=$((i + 1)); [ $i -lt 100 ] || e2e_fail "pfkey-sim for $1 did not start"
		sleep 0.05
	done
	"$BIN/ike-parent" -d -f "$d/ike.conf" --pfkey "unix:$d/pfkey.sock" \
		--listen "$2" --port "$PORT" --natt-port "$NATT_PORT" \
		--control "$d/ctl.sock" --chroot "$d/empty" --user nobody \
		--libexec "$BIN" --pidfile "$d/parent.pid" > "$d/daemon.log" 2>&1 &
	PIDS="$PIDS $!"
}

# e2e_wait_for FILE PATTERN SECONDS
e2e_wait_for() {
	i=0
	until grep -q "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt $(($3 * 20)) ] || e2e_fail "timed out waiting for '$2' in $1"
		sleep 0.05
	done
}

# e2e_wait_sas NAME COUNT SECONDS: NAME's simulated kernel holds COUNT
# tunnel-mode ESP SAs.
e2e_wait_sas() {
	i=0
	until [ "$("$BIN/pfkey-sim" dump --control "$WORK/$1/sim.sock" | grep -c 'esp mode=tunnel')" = "$2" ]; do
		i=$((i + 1))
		[ $i -lt $(($3 * 20)) ] || e2e_fail "not $2 SAs in $1's kernel after $3 s"
		sleep 0.05
	done
}
