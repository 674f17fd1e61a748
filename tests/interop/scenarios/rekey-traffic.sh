#!/usr/bin/env bash
# rekey-traffic (issue 20): no packet is lost while the child SA is rekeyed with traffic
# flowing both ways.
#   rounds 1-3: strongSwan rekeys the child; our daemon (a) is the rekey's responder: it
#     answers once its new inbound SA is in, and adds its new outbound SA only when
#     strongSwan's DELETE of the old child arrives (strongSwan can receive on the new SA by
#     then) or 5 s after the answer. Before that rule, rounds lost 1-3 pings each.
#   round 4: we rekey the child and then the IKE SA (ike-ctl rekey).
# Each under 10 ms pings in both directions; counted by ping on each end, on the wire
# (tcpdump: ESP packets per SPI, exactly requests plus replies each way) and by each
# kernel's XFRM error counters (/proc/net/xfrm_stat: no-state, invalid-state, acquire...);
# see traffic_round in lib.sh.
. "$(dirname "$0")/../lib.sh"
scenario_init rekey-traffic
AUTH=psk MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"

if ours_vs_swan_setup swan; then
  check "same SAs in both kernels" sas_match
  for round in 1 2 3 4; do
    old=$(spis $NSA)
    if [ $round -le 3 ]; then
      traffic_round round-$round 500 swc b --rekey --child net
    else
      traffic_round round-$round 500 ours_ctl a rekey lab   # the child, then the IKE SA
    fi
    wait_for 15 "round-$round: child SPIs changed" spis_changed $NSA "$old"
    wait_for 20 "round-$round: same SAs in both kernels" sas_match
  done
fi
daemon_stop "$W/a"; daemon_stop "$W/b"
scenario_exit
