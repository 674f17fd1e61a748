#!/usr/bin/env bash
# rekey-traffic (issue 20): no packet is lost while the child SA is rekeyed with traffic
# flowing both ways.
#   rounds 1-3: strongSwan rekeys the child; our daemon (a) is the rekey's responder: it
#     answers once its new inbound SA is in, and adds its new outbound SA only when
#     strongSwan's DELETE of the old child arrives (strongSwan can receive on the new SA by
#     then) or 5 s after the answer. Before that rule, rounds lost 1-3 pings each.
#   round 4: we rekey the child and then the IKE SA (ike-ctl rekey).
# Each under 10 ms pings in both directions; counted by ping on each end and by each
# kernel's XFRM error counters (/proc/net/xfrm_stat: no-state, invalid-state, acquire...).
. "$(dirname "$0")/../lib.sh"
scenario_init rekey-traffic
AUTH=psk MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"

# ping_stream FROM COUNT LOG: COUNT pings 10 ms apart from FROM's inner address to the other's
ping_stream() {
  local ns=$NSA src=$INNER_A dst=$INNER_B
  [ "$1" = b ] && ns=$NSB src=$INNER_B dst=$INNER_A
  ip netns exec $ns ping -q -i 0.01 -c "$2" -W 2 -I $src $dst >"$3" 2>&1
}
# none_lost LOG: ping's summary says every echo came back
none_lost() { tail -2 "$1"; grep -q ' 0% packet loss' "$1"; }
# xfrm_errors NS: the sum of the kernel's XFRM error counters (every line of xfrm_stat)
xfrm_errors() { ip netns exec "$1" awk '{ n += $2 } END { print n + 0 }' /proc/net/xfrm_stat; }
unchanged() { echo "  $1: $2 -> $3"; [ "$2" = "$3" ]; }

if ours_vs_swan_setup swan; then
  check "same SAs in both kernels" sas_match
  for round in 1 2 3 4; do
    old=$(spis $NSA)
    na=$(xfrm_errors $NSA) nb=$(xfrm_errors $NSB)
    ping_stream a 500 "$W/ping-a-$round.log" & pa=$!
    ping_stream b 500 "$W/ping-b-$round.log" & pb=$!
    sleep 1
    if [ $round -le 3 ]; then
      check "round $round: strongSwan starts a child SA rekey" swc b --rekey --child net
    else
      check "round $round: we rekey the child SA and the IKE SA" ours_ctl a rekey lab
    fi
    wait $pa; wait $pb
    wait_for 15 "round $round: child SPIs changed" spis_changed $NSA "$old"
    check "round $round: no ping lost a -> b" none_lost "$W/ping-a-$round.log"
    check "round $round: no ping lost b -> a" none_lost "$W/ping-b-$round.log"
    check "round $round: no XFRM error in strongSwan's kernel" \
      unchanged $NSB "$nb" "$(xfrm_errors $NSB)"
    check "round $round: no XFRM error in our kernel" unchanged $NSA "$na" "$(xfrm_errors $NSA)"
    wait_for 20 "round $round: same SAs in both kernels" sas_match
  done
fi
daemon_stop "$W/a"; daemon_stop "$W/b"
scenario_exit
