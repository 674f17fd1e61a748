#!/usr/bin/env bash
# acquire-selectors (issue 20, RFC 7296 2.9): a negotiation triggered by traffic puts the
# triggering packet's selectors first in TSi/TSr, then the policy's. Through the XFRM back
# end (IKE_KERNEL=xfrm: its ACQUIRE carries the packet's flow, xfrm_user_acquire.sel).
#   1. we initiate (an active policy); then strongSwan deletes the IKE SA: our SAs go, our
#      active policy's kernel policies stay as a trap (nothing re-initiates it but traffic).
#   2. a ping from 10.1.0.1 to 10.2.0.1 hits the trap: the kernel's ACQUIRE makes our
#      daemon initiate; strongSwan logs the selectors it got (its side first), which must
#      be 10.2.0.1/32 10.2.0.0/24 === 10.1.0.1/32 10.1.0.0/24 (packet first, then policy),
#      and the ping then passes through ESP.
. "$(dirname "$0")/../lib.sh"
scenario_init acquire-selectors
IKE_KERNEL=xfrm   # the ACQUIRE with the packet is XFRM's (PF_KEY's has no packet)
AUTH=psk MODE=tunnel
# strongSwan's configuration debug log (level 2) names the selectors it got, its own
# side first: "looking for a child config for TSr === TSi"
SW_LOG_CFG=2
PACKET_FIRST="looking for a child config for $INNER_B/32 $NET_B *=== *$INNER_A/32 $NET_A"
# acquire_ping: pings from a's inner address until one passes (the first ones start the
# negotiation and are dropped while it runs)
acquire_ping() {
  ip netns exec $NSA ping -c 1 -W 1 -I $INNER_A $INNER_B >/dev/null 2>&1 ||
    { sleep 1; false; }
}

if ours_vs_swan_setup ours; then
  check "same SAs in both kernels" sas_match
  check "strongSwan deletes the IKE SA" swc b --terminate --ike lab --timeout 30
  wait_for 15 "our SAs are gone" no_sas $NSA
  check "our kernel policies stay as a trap" test "$(xfrm_policy_count $NSA)" -ge 2
  n=$(log_count b 'looking for a child config')
  wait_for 60 "a ping from $INNER_A triggers a negotiation and passes" acquire_ping
  check "strongSwan saw a new negotiation" log_grew b 'looking for a child config' "$n"
  grep 'looking for a child config' "$W/b/charon.log" | tail -n 1 | sed 's/^/    /'
  check "the first selectors are the packet's, then the policy's (strongSwan's log)" \
    count_at_least 1 "$PACKET_FIRST" "$W/b/charon.log"
  check "the daemon logged the ACQUIRE through XFRM" count_at_least 1 "kernel: ACQUIRE .*packet $INNER_A/32 -> $INNER_B/32" "$W/a/daemon.stdout"
  check "both kernels hold the same ESP SAs" sas_match
  check "ping b -> a through ESP" ping_inner b
fi
daemon_stop "$W/a"; daemon_stop "$W/b"
scenario_exit
