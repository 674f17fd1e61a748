#!/usr/bin/env bash
# nat-ours-swan (issue 13, case 1): our daemon (a, initiator) behind a NAT that masquerades
# with netfilter, against strongSwan (b, remote_addrs %any). NAT detection moves IKE to
# 4500, both kernels encapsulate ESP in UDP (b towards the port the NAT chose), ping passes
# both ways through ESP-in-UDP, and the NAT's outside link carries no plain ESP.
. "$(dirname "$0")/../lib.sh"
scenario_init nat-ours-swan
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any
if check "our daemon is built" ours_available && check "NAT namespaces up" nat_net_up; then
  OURS_ROLE=active ours_conf a; sw_conf b
  if check "strongSwan (b) started" sw_start b && check "our daemon (a, behind the NAT) started" ours_start a &&
     wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established b; then
    check "strongSwan saw the NAT" grep -q 'remote host is behind NAT' "$W/b/charon.log"
    nat_round_checks
  fi
fi
scenario_exit
