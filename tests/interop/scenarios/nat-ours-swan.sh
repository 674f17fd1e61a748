#!/usr/bin/env bash
# nat-ours-swan (issue 13, case 1): our daemon (a, initiator) behind a NAT that masquerades
# with netfilter, against strongSwan (b, remote_addrs %any). NAT detection moves IKE to
# 4500, both kernels encapsulate ESP in UDP (b towards the port the NAT chose), ping passes
# both ways through ESP-in-UDP, and the NAT's outside link carries no plain ESP. Our side, being
# the one behind the NAT, sends NAT keepalives (RFC 3948 2.3; every 2 s here).
. "$(dirname "$0")/../lib.sh"
scenario_init nat-ours-swan
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any OURS_SET="set natt_keepalive 2"
# keepalives_seen: in 5 s, at least two one-octet UDP datagrams (UDP length 9) from the NAT's
# outside address to b's port 4500
keepalives_seen() {
  local cap=$W/keepalives.pcap n
  nat_capture_start "$cap"; sleep 5; capture_stop "$cap"
  n=$(tcpdump -n -r "$cap" "udp and src host $OUTER_A and dst port 4500 and udp[4:2] = 9" 2>/dev/null | wc -l)
  tcpdump -n -r "$cap" "udp[4:2] = 9" 2>/dev/null | head -3 | sed 's/^/    /'
  echo "  $n keepalives from our side in 5 s"
  [ "$n" -ge 2 ]
}
if check "our daemon is built" ours_available && check "NAT namespaces up" nat_net_up; then
  OURS_ROLE=active ours_conf a; sw_conf b
  if check "strongSwan (b) started" sw_start b && check "our daemon (a, behind the NAT) started" ours_start a &&
     wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established b; then
    check "strongSwan saw the NAT" grep -q 'remote host is behind NAT' "$W/b/charon.log"
    nat_round_checks
    check "our daemon (behind the NAT) sends NAT keepalives" keepalives_seen
  fi
fi
scenario_exit
