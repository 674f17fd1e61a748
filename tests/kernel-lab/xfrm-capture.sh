#!/bin/sh
# Capture a real kernel's NETLINK_XFRM replies for the known-answer tests:
# runs ike-pfkey's xfrm-probe (see its doc comment for the steps) inside the
# kernel lab's VM (Debian's kernel, ESP and XFRM as modules) and copies the
# datagrams to ike-pfkey/tests/data/xfrm/. Must run as root.
#
#   sudo tests/kernel-lab/xfrm-capture.sh
#
# /bin/ip by path: the guest's sh may prefer busybox's ip applet (no veth).
# The probe comes from $CARGO_TARGET_DIR or target/ (release preferred).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tdir=${CARGO_TARGET_DIR:-$root/target}
probe=""
for p in "$tdir/release/xfrm-probe" "$tdir/debug/xfrm-probe"; do
    [ -x "$p" ] && { probe=$p; break; }
done
[ -n "$probe" ] || { echo "xfrm-probe not built (cargo build -p ike-pfkey --bin xfrm-probe)" >&2; exit 2; }
out="$here/out/xfrm-capture"
rm -rf "$out"; mkdir -p "$out"
"$here/run.sh" --timeout 600 \
    --modules "veth xfrm_user xfrm_algo esp4 aesni_intel gcm ghash_generic chacha20poly1305 seqiv echainiv authenc sha512_generic chacha_generic poly1305_generic" \
    -- sh -c "/bin/ip link set lo up && /bin/ip link add v0 type veth peer name v1 && /bin/ip addr add 10.77.0.1/24 dev v0 && /bin/ip link set v0 up && /bin/ip link set v1 up && uname -r > '$out/KERNEL' && '$probe' capture '$out'"
dest="$root/ike-pfkey/tests/data/xfrm"
mkdir -p "$dest"
cp "$out"/*.bin "$out/KERNEL" "$dest/"
echo "captured into $dest: $(ls "$dest" | wc -l) files"
