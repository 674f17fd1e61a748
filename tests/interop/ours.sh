# tests/interop/ours.sh - how the scenarios drive OUR daemon (sourced by lib.sh).
#
# Everything the scenarios assume about ike-parent's command line, file layout and control
# interface is in this file, so a change there is a change here only:
#
#   binaries     $IKE_BIN/ike-parent, ike-net, ike-pfkey, ike-cred, ike-ctl (default target/release)
#   start        ike-parent -d -v -f $W/SIDE/iked/iked.conf --control /run/ike.sock
#                --chroot $W/SIDE/empty   (-d: foreground, log to stderr; the kernel
#                interface is the daemon's default, XFRM on Linux; IKE_KERNEL=pfkey
#                (or kernel) adds --pfkey kernel (PF_KEY), IKE_KERNEL=xfrm --pfkey xfrm;
#                the children run as _ike or nobody)
#   files        beside the config, iked's layout: private/local.key (mode 0600),
#                pubkeys/fqdn/<peer-id> (raw public keys), ca/ca.crt (trust anchor),
#                certs/<our-id>.crt (our certificate, sent as CERT); no crls/
#   control      ike-ctl -s $W/SIDE/run/ike.sock ...
#
# The daemon runs in its own mount namespace with $W/SIDE/run bound over /run, so its
# pidfile and control socket are per side.

ours_available() {
  local b
  for b in ike-parent ike-net ike-pfkey ike-cred; do
    [ -x "$IKE_BIN/$b" ] || { echo "our daemon is not built: $IKE_BIN/$b missing"; return 1; }
  done
}

# ours_conf SIDE: write $W/SIDE/iked/iked.conf from the scenario's variables:
#   OURS_ROLE (active|passive)  MODE (tunnel|transport)  AUTH (psk|pubkey|cert)
#   OURS_IKESA (iked "ikesa" transforms)  OURS_CHILDSA (iked "childsa" transforms)
#   OURS_IKELIFETIME OURS_LIFETIME (seconds; empty = daemon default)  OURS_DPD (seconds)
#   PSK  OURS_AUTH (the public-key keyword for AUTH=pubkey|cert: rfc7427 (default),
#   ecdsa256, ecdsa384, rsa)
ours_conf() {
  local side=$1 d=$W/$1/iked me peer my_addr peer_addr from to auth mode
  if [ "$side" = a ]; then
    me=a.test peer=b.test my_addr=${ADDR_A:-$OUTER_A} peer_addr=$OUTER_B from=$NET_A to=$NET_B
  else
    me=b.test peer=a.test my_addr=$OUTER_B peer_addr=${PEER_OF_B:-$OUTER_A} from=$NET_B to=$NET_A
  fi
  to=${OURS_TO:-$to}
  mode=tunnel
  if [ "${MODE:-tunnel}" = transport ]; then mode=transport from=$my_addr to=$peer_addr; fi
  case ${AUTH:-psk} in
    psk) auth="psk \"${PSK:-interop-lab-pre-shared-key}\"" ;;
    pubkey|cert) auth=${OURS_AUTH:-rfc7427} ;;   # signatures with the P-256 key
  esac
  mkdir -p "$d"
  {
    echo "# iked.conf for side $side of scenario $SCENARIO (OpenBSD iked.conf(5) grammar)"
    [ -z "${OURS_DPD:-}" ] || echo "set dpd_check_interval $OURS_DPD"
    [ -z "${OURS_SET:-}" ] || echo "$OURS_SET"
    echo "ikev2 \"lab\" ${OURS_ROLE:-active} $mode esp \\"
    echo "	from $from to $to \\"
    echo "	local $my_addr peer $peer_addr \\"
    echo "	ikesa ${OURS_IKESA:-enc aes-256-gcm prf hmac-sha2-256 group curve25519} \\"
    echo "	childsa ${OURS_CHILDSA:-enc aes-256 auth hmac-sha2-512} \\"
    echo "	srcid $me dstid $peer \\"
    [ -z "${OURS_IKELIFETIME:-}" ] || echo "	ikelifetime $OURS_IKELIFETIME \\"
    [ -z "${OURS_LIFETIME:-}" ] || echo "	lifetime $OURS_LIFETIME \\"
    echo "	$auth"
  } > "$d/iked.conf"
}

# ours_keys SIDE CREDDIR: install keys in the config's directory from CREDDIR (see make_ecdsa_keys,
# make_ca_certs): our private key, the peer's raw public key, or the CA and our certificate
ours_keys() {
  local side=$1 c=$2 d=$W/$1/iked me peer
  if [ "$side" = a ]; then me=a.test peer=b.test; else me=b.test peer=a.test; fi
  mkdir -p "$d/private" "$d/pubkeys/fqdn" "$d/ca" "$d/certs"
  # pki writes EC keys as SEC 1 ("EC PRIVATE KEY"), which ike-parent reads as it is
  cp "$c/$me.key" "$d/private/local.key" || return 1
  chmod 0600 "$d/private/local.key"
  [ -s "$c/$peer.pub" ] && cp "$c/$peer.pub" "$d/pubkeys/fqdn/$peer"
  [ -s "$c/ca.crt" ] && cp "$c/ca.crt" "$d/ca/ca.crt"
  [ -s "$c/$me.crt" ] && cp "$c/$me.crt" "$d/certs/$me.crt"
  return 0
}

# ours_conf_reports SIDE_DIR REGEX...: `ike-parent -n -v` accepts the side's config (keys and
# certificates included) and its output matches every REGEX (saved in SIDE_DIR/conf-check.txt)
ours_conf_reports() {
  local d=$1 re; shift
  "$IKE_BIN/ike-parent" -n -v -f "$d/iked/iked.conf" > "$d/conf-check.txt" 2>&1 ||
    { cat "$d/conf-check.txt"; return 1; }
  for re in "$@"; do grep -q -- "$re" "$d/conf-check.txt" || { echo "  no '$re' in:"; cat "$d/conf-check.txt"; return 1; }; done
}

# ours_kernel_flag: the --pfkey flag for $IKE_KERNEL (empty: the daemon's default)
ours_kernel_flag() {
  case "${IKE_KERNEL:-}" in
    '') ;;
    pfkey|kernel) echo "--pfkey kernel" ;;
    *) echo "--pfkey $IKE_KERNEL" ;;
  esac
}

# ours_start SIDE: start ike-parent for side a|b with $W/SIDE/iked/iked.conf
ours_start() {
  local side=$1 d=$W/$1
  ours_available >> "$d/ike.log" || { ours_available; return 1; }
  mkdir -p "$d/run" "$d/empty"
  chmod -R go-rwx "$d/iked"   # a config holding a PSK, and private/local.key, must be private
  in_private_ns "$(ns_of "$side")" "$d" \
    env RUST_LOG="${RUST_LOG:-debug}" "$IKE_BIN/ike-parent" -d -v -f "$d/iked/iked.conf" \
    --control /run/ike.sock --chroot "$d/empty" $(ours_kernel_flag)
  # the daemon must still be running a moment later (config accepted, children started)
  sleep 2
  kill -0 "$(cat "$d/daemon.pid")" 2>/dev/null || {
    echo "ike-parent for side $side exited at start:"; tail -n 20 "$d/daemon.stdout"; return 1; }
}

# ours_ctl SIDE ARGS...: ike-ctl against that daemon's control socket
# (/run/ike.sock inside its mount namespace is $W/SIDE/run/ike.sock outside)
ours_ctl() {
  local d=$W/$1; shift
  "$IKE_BIN/ike-ctl" -s "$d/run/ike.sock" "$@"
}
