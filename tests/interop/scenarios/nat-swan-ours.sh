#!/usr/bin/env bash
# nat-swan-ours (issue 13, case 2): strongSwan (a, initiator) behind a NAT against our
# daemon (b, responder, `peer any`). Our SAs must encapsulate towards the NAT's port, and our
# 4500 socket (UDP_ENCAP set by the parent) must hand the ESP-in-UDP to the kernel: ping
# both ways through ESP-in-UDP, no plain ESP on the NAT's outside link.
. "$(dirname "$0")/../lib.sh"
scenario_init nat-swan-ours
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any
if check "our daemon is built" ours_available && check "NAT namespaces up" nat_net_up; then
  OURS_ROLE=passive ours_conf b; sw_conf a
  if check "our daemon (b, peer any) started" ours_start b && check "strongSwan (a, behind the NAT) started" sw_start a &&
     check "strongSwan initiates" swc a --initiate --child net --timeout 30 &&
     wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established a; then
    check "strongSwan saw itself behind the NAT" grep -q 'local host is behind NAT' "$W/a/charon.log"
    nat_round_checks
  fi
fi
scenario_exit
