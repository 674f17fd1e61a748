#!/usr/bin/env bash
# nat-mobike (issue 13, case 5): strongSwan (a) behind the NAT, our daemon (b, responder,
# `peer any`, MOBIKE on by default). Mid-tunnel a changes its address: it gains 10.88.0.2 and
# loses 10.88.0.1, and the NAT maps the new address to a second outside address (10.77.0.3,
# UDP ports 42000-42999). strongSwan (MOBIKE initiator) sends UPDATE_SA_ADDRESSES from there;
# our daemon moves its IKE SA, checks the new address with COOKIE2 (return routability), then
# moves both SAs (re-added at the new address, same SPIs and keys) and its tunnel policies
# through the broker. Ping both ways through ESP-in-UDP afterwards, on the new address and
# ports, with no plain ESP on the NAT's outside link.
#
# With MOBIKE=off, b has `set nomobike`: MOBIKE is not negotiated, strongSwan cannot update
# the SA (it re-establishes from its new address instead), and our daemon moves nothing for
# the old IKE SA.
. "$(dirname "$0")/../lib.sh"
MOBIKE=${MOBIKE:-on}
if [ "$MOBIKE" = on ]; then scenario_init nat-mobike; else scenario_init nat-mobike-off; fi
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any
NAT2=10.77.0.3 LAN_A2=10.88.0.2 NEW_PORTS=42000-42999

# a's second address and the NAT's second outside address (SNAT of the new address to it)
move_a() {
  ip -n $NSN addr add $NAT2/24 dev ike-nb || return 1
  ip netns exec $NSN nft -f - <<NFT || return 1
flush ruleset
table ip nat {
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "ike-nb" ip saddr $LAN_A2 meta l4proto udp snat to $NAT2:$NEW_PORTS
    oifname "ike-nb" ip saddr $LAN_A2 snat to $NAT2
    oifname "ike-nb" meta l4proto udp masquerade to :$NAT_PORTS
    oifname "ike-nb" masquerade
  }
}
NFT
  ip netns exec $NSA sysctl -qw net.ipv4.conf.ike-va.promote_secondaries=1
  ip -n $NSA addr add $LAN_A2/24 dev ike-va || return 1
  ip -n $NSA addr del $LAN_A/24 dev ike-va || return 1
  ip -n $NSA route replace default via $LAN_GW
  ip netns exec $NSN conntrack -F >/dev/null 2>&1; true
}
# our_peer_is ADDR: ike-ctl show sa names ADDR as the peer of an established IKE SA
our_peer_is() { ours_ctl b show sa --json | tee "$W/b/show-sa.json" | grep -q "\"remote\": *\"$1:"; }
# b_sas_at ADDR: every ESP SA in b's kernel has ADDR as one end (the peer's)
b_sas_at() {
  local n; n=$(xfrm_sas $NSB | grep -c "$1" || true)
  echo "  b's SAs:"; xfrm_sas $NSB | sed 's/^/    /'
  [ "$n" -ge 2 ] && [ "$n" = "$(xfrm_sa_count $NSB)" ]
}
# b_policies_at ADDR: b's tunnel policies' templates name ADDR as the peer's tunnel end
b_policies_at() {
  local t; t=$(ip -n $NSB xfrm policy | grep -E '^\s*tmpl src' || true)
  echo "  b's policy templates:"; echo "$t" | sed 's/^/    /'
  [ -n "$t" ] && ! grep -qv "$1" <<<"$t"
}

if check "our daemon is built" ours_available && check "NAT namespaces up" nat_net_up; then
  [ "$MOBIKE" = on ] || OURS_SET="set nomobike"
  OURS_ROLE=passive ours_conf b; sw_conf a
  # strongSwan may take any local address (it roams when its address changes); without a
  # preferred source on a's default route it picks ike-va's address, not the inner one
  ip -n $NSA route replace default via $LAN_GW
  sed -i "s/local_addrs = $LAN_A/local_addrs = %any/" "$W/a/swanctl/swanctl.conf"
  if check "our daemon (b, peer any) started" ours_start b && check "strongSwan (a, behind the NAT) started" sw_start a &&
     check "strongSwan initiates" swc a --initiate --child net --timeout 30 &&
     wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established a; then
    if [ "$MOBIKE" = on ]; then
      check "our daemon negotiated MOBIKE" grep -q "MOBIKE negotiated with 10.77.0.1" "$W/b/daemon.stdout"
    else
      check "our daemon did not negotiate MOBIKE (set nomobike)" not_in_log "MOBIKE negotiated" "$W/b/daemon.stdout"
    fi
    say "---- before the move (a at $LAN_A, NAT $OUTER_A ports $NAT_PORTS)"
    nat_round_checks
    say "---- a moves to $LAN_A2, NATed to $NAT2 ports $NEW_PORTS"
    check "a's address changed, the NAT maps it to a second outside address" move_a
    NAT_PORTS=$NEW_PORTS
    ping_retry() { ping_inner a >/dev/null 2>&1 || true; ping_through_esp a; }
    if [ "$MOBIKE" = on ]; then
      wait_for 40 "our IKE SA follows a to $NAT2 (ike-ctl show sa)" our_peer_is $NAT2
      wait_for 20 "b's SAs moved to $NAT2" b_sas_at $NAT2
      check "b's tunnel policies moved to $NAT2" b_policies_at $NAT2
      check "our daemon took the update after the return routability check" \
        grep -q "UPDATE_SA_ADDRESSES: .* now 10.77.0.2:4500 <-> $NAT2:" "$W/b/daemon.stdout"
      check "the CHILD_SAs moved only after the check" grep -q "CHILD_SAs move from 10.77.0.2 <-> 10.77.0.1 to 10.77.0.2 <-> $NAT2" "$W/b/daemon.stdout"
      check "strongSwan updated the IKE SA with MOBIKE" grep -q "UPDATE_SA_ADDRESSES\|N(UPD_SA_ADDR)" "$W/a/charon.log"
      wait_for 20 "ping a -> b through ESP-in-UDP after the move" ping_retry
      nat_round_checks
      check "no broker refusal in our log" not_in_log "refused request" "$W/b/daemon.stdout"
      check "strongSwan: the same IKE SA still established" sw_ike_established a
    else
      # strongSwan cannot update without MOBIKE: it re-establishes from the new address
      wait_for 60 "an IKE SA with a at $NAT2 (strongSwan re-established)" our_peer_is $NAT2
      wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established a
      wait_for 20 "ping a -> b through ESP-in-UDP after re-establishing" ping_retry
      check "our daemon moved no SA (no MOBIKE)" not_in_log "CHILD_SAs move from" "$W/b/daemon.stdout"
      check "no UPDATE_SA_ADDRESSES acted on" not_in_log "UPDATE_SA_ADDRESSES: " "$W/b/daemon.stdout"
      check "no broker refusal in our log" not_in_log "refused request" "$W/b/daemon.stdout"
    fi
  fi
fi
scenario_exit
