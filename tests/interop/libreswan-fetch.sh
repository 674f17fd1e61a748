#!/usr/bin/env bash
# tests/interop/libreswan-fetch.sh [DIR] - libreswan 4.10 for the interop lab, extracted
# rather than installed (Debian's libreswan package conflicts with strongSwan's charon,
# which the other scenarios need). Downloads libreswan and the three libraries Debian 12
# does not install alongside strongSwan (libldns3, libevent-pthreads, libnss3-tools for
# certutil) with `apt-get download`, unpacks them with `dpkg -x` into DIR (default
# tests/interop/.libreswan, ignored by git), and checks that pluto starts (--version)
# with DIR's libraries. The other libraries pluto links (libnss3, libunbound8,
# libcurl3-nss, libevent-core...) must be installed (.ci/run does). Nothing is run as a
# service and nothing outside DIR changes. Idempotent: a complete DIR is kept.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${1:-${LIBRESWAN_ROOT:-$HERE/.libreswan}}
PLUTO=$DIR/usr/libexec/ipsec/pluto
export LD_LIBRARY_PATH=$DIR/usr/lib/x86_64-linux-gnu
if [ -x "$PLUTO" ] && [ -x "$DIR/usr/bin/certutil" ] && "$PLUTO" --version >/dev/null 2>&1; then
  echo "libreswan: $("$PLUTO" --version 2>&1 | head -c 60) in $DIR"; exit 0
fi
mkdir -p "$DIR"
dl=$(mktemp -d); trap 'rm -rf "$dl"' EXIT
chmod 0777 "$dl"   # apt's download user (_apt) writes there
(cd "$dl" && apt-get download -q libreswan libldns3 libevent-pthreads-2.1-7 libnss3-tools)
for deb in "$dl"/*.deb; do dpkg -x "$deb" "$DIR"; done
missing=$(ldd "$PLUTO" | grep 'not found' || true)
[ -z "$missing" ] || { echo "libreswan: pluto lacks libraries:"; echo "$missing"; exit 1; }
echo "libreswan: $("$PLUTO" --version 2>&1 | head -c 60) in $DIR"
