#!/bin/sh
# Checks the install layout (make install / install-rc / uninstall with
# PREFIX and DESTDIR into a temporary directory), the rc scripts (sh -n) and
# the manual pages (mandoc -Tlint). Binaries are stand-ins: what is tested
# is where things go, not the programs. Usage: tests/install/check-install.sh
set -eu
cd "$(dirname "$0")/../.."
repo=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== rc scripts parse"
for f in etc/rc.d/openbsd/ike etc/rc.d/freebsd/ike; do
	sh -n "$f" || fail "sh -n $f"
	# OpenBSD runs rc scripts with its ksh (pdksh family): mksh is the closest here.
	command -v mksh >/dev/null 2>&1 || fail "mksh is not installed (apt-get install mksh)"
	mksh -n "$f" || fail "mksh -n $f"
done

echo "== manual pages are mandoc -Tlint clean"
if command -v mandoc >/dev/null 2>&1; then
	for m in man/*.[58]; do
		# -Wwarning: STYLE notes such as "referenced manual not found"
		# depend on the manuals installed on this machine.
		out=$(mandoc -Tlint -Wwarning "$m" 2>&1 | grep -v 'mandoc.db' || true)
		[ -z "$out" ] || fail "mandoc -Tlint $m: $out"
	done
else
	fail "mandoc is not installed (apt-get install mandoc)"
fi

echo "== make install fails clearly without binaries"
if make -s install DESTDIR="$tmp/none" BUILD="$tmp/nothing" >"$tmp/out" 2>&1; then
	fail "install succeeded without binaries"
fi
grep -q "run make first" "$tmp/out" || fail "no clear message: $(cat "$tmp/out")"

echo "== make install PREFIX=/usr/local DESTDIR=..."
mkdir -p "$tmp/build"
for p in ike-parent ike-ctl pf-to-fd pf-to-tcp pfkey-sim ike-dump ike-net ike-pfkey ike-cred; do
	printf '#!/bin/sh\necho %s\n' "$p" > "$tmp/build/$p"
	chmod 755 "$tmp/build/$p"
done
d="$tmp/stage"
make -s install PREFIX=/usr/local DESTDIR="$d" BUILD="$tmp/build" >/dev/null
for p in ike-parent ike-ctl pf-to-fd pf-to-tcp pfkey-sim ike-dump; do
	[ -x "$d/usr/local/sbin/$p" ] || fail "sbin/$p missing"
done
for p in ike-net ike-pfkey ike-cred; do
	[ -x "$d/usr/local/libexec/ike/$p" ] || fail "libexec/ike/$p missing"
	[ ! -e "$d/usr/local/sbin/$p" ] || fail "$p must not be in sbin"
done
# This is Linux (the CI): manuals under PREFIX/share/man (FHS).
[ -f "$d/usr/local/share/man/man5/ike.conf.5" ] || fail "man5/ike.conf.5 missing"
for m in ike-parent ike-ctl pf-to-fd; do
	[ -f "$d/usr/local/share/man/man8/$m.8" ] || fail "man8/$m.8 missing"
done
[ -f "$d/usr/local/share/examples/ike/ike.conf" ] || fail "example ike.conf missing"
[ "$(stat -c %a "$d/etc/ike/private")" = 700 ] || fail "etc/ike/private is not mode 700"
[ ! -e "$d/etc/ike/ike.conf" ] || fail "make install must not write the admin's ike.conf"
# Nothing outside DESTDIR: every path installed is under it.
for rc in ike.openbsd ike.freebsd ike.service; do
	f="$d/usr/local/share/examples/ike/rc/$rc"
	[ -f "$f" ] || fail "rc/$rc missing"
	! grep -q '@[A-Z]*@' "$f" || fail "$rc: unsubstituted @WORD@"
	grep -q '/usr/local/sbin/ike-parent' "$f" || fail "$rc: wrong daemon path"
	grep -q -- '--libexec /usr/local/libexec/ike' "$f" || fail "$rc: no --libexec"
	grep -q -- '-f /etc/ike/ike.conf\|ike_config:="/etc/ike/ike.conf"' "$f" || fail "$rc: config path"
done
sh -n "$d/usr/local/share/examples/ike/rc/ike.openbsd" || fail "installed openbsd rc"
sh -n "$d/usr/local/share/examples/ike/rc/ike.freebsd" || fail "installed freebsd rc"
grep -q 'required_modules="ipsec"' "$d/usr/local/share/examples/ike/rc/ike.freebsd" || fail "ipsec module"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$d/usr/local/share/examples/ike/rc/ike.service" || fail "unit reload"

echo "== make install-rc (this system: $(uname -s))"
make -s install-rc PREFIX=/usr/local DESTDIR="$d" >/dev/null
case $(uname -s) in
Linux) [ -f "$d/lib/systemd/system/ike.service" ] || fail "systemd unit not installed";;
OpenBSD) [ -x "$d/etc/rc.d/ike" ] || fail "rc.d/ike not installed";;
FreeBSD) [ -x "$d/usr/local/etc/rc.d/ike" ] || fail "rc.d/ike not installed";;
esac

# Each system's layout, staged here with OS=...: where the configuration
# directory, the manuals and the rc script go, and that the rc script and
# the daemon's built-in default name the same configuration file.
#   OpenBSD: /etc/ike, PREFIX/man, /etc/rc.d/ike (rc.subr(8))
#   FreeBSD: PREFIX/etc/ike, PREFIX/share/man, PREFIX/etc/rc.d/ike (hier(7))
#   Linux:   /etc/ike, PREFIX/share/man, the systemd unit
for os in OpenBSD FreeBSD Linux; do
	echo "== layout OS=$os"
	o="$tmp/os-$os"
	make -s install install-rc OS=$os PREFIX=/usr/local DESTDIR="$o" BUILD="$tmp/build" >/dev/null
	case $os in
	OpenBSD) conf=/etc/ike; man=/usr/local/man; rc=/etc/rc.d/ike;;
	FreeBSD) conf=/usr/local/etc/ike; man=/usr/local/share/man; rc=/usr/local/etc/rc.d/ike;;
	Linux) conf=/etc/ike; man=/usr/local/share/man; rc=/lib/systemd/system/ike.service;;
	esac
	[ "$(stat -c %a "$o$conf/private")" = 700 ] || fail "$os: $conf/private missing or not 700"
	[ -d "$o$conf/pubkeys" ] || fail "$os: $conf/pubkeys missing"
	[ -f "$o$man/man8/ike-parent.8" ] || fail "$os: manuals not in $man"
	[ -f "$o$rc" ] || fail "$os: $rc not installed"
	grep -q "$conf/ike.conf" "$o$rc" || fail "$os: $rc does not name $conf/ike.conf"
	! grep -q '@[A-Z]*@' "$o$rc" || fail "$os: unsubstituted @WORD@ in $rc"
	sh -n "$o$rc" 2>/dev/null || [ $os = Linux ] || fail "$os: $rc does not parse"
	# Nothing of another layout.
	case $os in
	FreeBSD) [ ! -e "$o/etc/ike" ] || fail "FreeBSD: /etc/ike created";;
	*) [ ! -e "$o/usr/local/etc/ike" ] || fail "$os: /usr/local/etc/ike created";;
	esac
	make -s uninstall OS=$os PREFIX=/usr/local DESTDIR="$o" >/dev/null
	[ ! -e "$o$man/man8/ike-parent.8" ] || fail "$os: uninstall left the manuals"
done
# The daemon's built-in default matches: ike-parent/src/config.rs DEFAULT_PATH.
grep -q '"/usr/local/etc/ike/ike.conf"' ike-parent/src/config.rs || fail "FreeBSD default path in config.rs"
# OpenBSD script: rc.subr(8) conventions (daemon/daemon_flags before sourcing
# rc.subr, rc_configtest through rc_exec, rc_cmd $1 last; no rcexec, which
# current rc.subr no longer defines).
f=etc/rc.d/openbsd/ike
grep -q '^daemon="@SBINDIR@/ike-parent"$' $f || fail "openbsd: daemon"
grep -q '^daemon_flags=' $f || fail "openbsd: daemon_flags"
grep -q '^\. /etc/rc.d/rc.subr$' $f || fail "openbsd: rc.subr"
grep -q 'rc_exec "${daemon} -n ${daemon_flags}"' $f || fail "openbsd: rc_configtest"
! grep -q 'rcexec' $f || fail "openbsd: rcexec is gone from rc.subr"
[ "$(tail -n 1 $f)" = 'rc_cmd $1' ] || fail "openbsd: rc_cmd \$1 must be last"
# FreeBSD script: rc.subr conventions.
f=etc/rc.d/freebsd/ike
for want in '^\. /etc/rc.subr$' '^name="ike"$' '^rcvar="ike_enable"$' '^load_rc_config \$name$' \
    ': \${ike_enable:="NO"}' '^pidfile=' '^command_args=' 'extra_commands="reload configtest"' \
    '^sig_reload="HUP"$' '^run_rc_command "\$1"$' '# PROVIDE: ike' '# KEYWORD: shutdown'; do
	grep -q "$want" $f || fail "freebsd rc script lacks: $want"
done

echo "== another PREFIX"
make -s install PREFIX=/opt/ike MANDIR=/opt/ike/share/man DESTDIR="$tmp/opt" BUILD="$tmp/build" >/dev/null
[ -x "$tmp/opt/opt/ike/sbin/ike-parent" ] || fail "PREFIX=/opt/ike"
[ -f "$tmp/opt/opt/ike/share/man/man8/ike-parent.8" ] || fail "MANDIR"
grep -q '/opt/ike/sbin/ike-parent' "$tmp/opt/opt/ike/share/examples/ike/rc/ike.service" || fail "PREFIX in unit"

if command -v bmake >/dev/null 2>&1; then
	echo "== the same with BSD make (bmake)"
	bmake -s install PREFIX=/usr/local DESTDIR="$tmp/bsd" BUILD="$tmp/build" >/dev/null
	[ -x "$tmp/bsd/usr/local/sbin/ike-parent" ] || fail "bmake install: sbin"
	[ -x "$tmp/bsd/usr/local/libexec/ike/ike-pfkey" ] || fail "bmake install: libexec"
	cmp "$tmp/bsd/usr/local/share/examples/ike/rc/ike.freebsd" \
	    "$d/usr/local/share/examples/ike/rc/ike.freebsd" || fail "bmake: rc script differs"
else
	fail "bmake is not installed (apt-get install bmake): BSD make not checked"
fi

echo "== make uninstall"
make -s uninstall PREFIX=/usr/local DESTDIR="$d" >/dev/null
[ ! -e "$d/usr/local/sbin/ike-parent" ] || fail "uninstall left sbin/ike-parent"
[ ! -e "$d/usr/local/libexec/ike/ike-net" ] || fail "uninstall left libexec"

echo "== the installed example checks with the real ike-parent (if built)"
real=${CARGO_TARGET_DIR:-$repo/target}/release/ike-parent
if [ -x "$real" ] && "$real" -h 2>&1 | grep -q "usage: ike-parent"; then
	cp etc/ike.conf "$tmp/ike.conf" && chmod 600 "$tmp/ike.conf"
	"$real" -n -f "$tmp/ike.conf" >/dev/null || fail "ike-parent -n rejects etc/ike.conf"
	chmod 644 "$tmp/ike.conf"
	if "$real" -n -f "$tmp/ike.conf" >/dev/null 2>&1; then fail "a world-readable PSK file was accepted"; fi
else
	fail "$real not built: cargo build --release --workspace --bins first"
fi
echo "install checks passed"
