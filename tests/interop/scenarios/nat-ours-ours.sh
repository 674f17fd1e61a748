#!/usr/bin/env bash
# nat-ours-ours (issue 13, case 6): our daemon on both sides, a (initiator) behind the NAT,
# b (responder) with `peer any`: ping both ways through ESP-in-UDP, encapsulation with the
# NAT's port on b's SAs, no plain ESP on the NAT's outside link.
. "$(dirname "$0")/../lib.sh"
scenario_init nat-ours-ours
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any
if check "our daemon is built" ours_available && check "NAT namespaces up" nat_net_up; then
  OURS_ROLE=passive ours_conf b; OURS_ROLE=active ours_conf a
  if check "our daemon (b, peer any) started" ours_start b &&
     check "our daemon (a, behind the NAT) started" ours_start a &&
     wait_for 60 "both kernels hold the same ESP SAs (SPIs, keys)" sas_match_natted; then
    nat_round_checks
  fi
fi
scenario_exit
