#!/usr/bin/env bash
# nat-rebind (issue 13, case 4): strongSwan (a) behind the NAT, our daemon (b, responder,
# `peer any`). Mid-tunnel the NAT forgets every mapping (conntrack flushed) and maps to a new
# port range, as after a NAT reboot: a's next ESP-in-UDP reaches b from a new port. b's kernel
# reports the new mapping (PF_KEY NAT_T_NEW_MAPPING), our broker passes it to ike-net, which
# moves both SAs to the new port (and checks the IKE SA there with a DPD): ping works both
# ways again, on the new ports, with no plain ESP on the NAT's outside link.
. "$(dirname "$0")/../lib.sh"
scenario_init nat-rebind
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any
NEW_PORTS=41000-41999
# ping_retry FROM: the first pings after the change may be lost while b moves its SAs
ping_retry() { ping_inner "$1" >/dev/null 2>&1 || true; ping_through_esp "$1"; }
if check "our daemon is built" ours_available && check "NAT namespaces up" nat_net_up; then
  OURS_ROLE=passive ours_conf b; sw_conf a
  if check "our daemon (b, peer any) started" ours_start b && check "strongSwan (a, behind the NAT) started" sw_start a &&
     check "strongSwan initiates" swc a --initiate --child net --timeout 30 &&
     wait_for 30 "strongSwan: IKE SA established, child installed" sw_ike_established a; then
    say "---- before the mapping change (NAT ports $NAT_PORTS)"
    nat_round_checks
    say "---- the NAT forgets its mappings; new ports $NEW_PORTS"
    check "conntrack flushed, new port range" nat_remap $NEW_PORTS
    NAT_PORTS=$NEW_PORTS
    wait_for 20 "ping a -> b works again through ESP-in-UDP" ping_retry a
    wait_for 20 "b's SAs moved to the new NAT port" encap_natted
    check "our daemon followed the kernel's mapping event" \
      grep -q "NAT mapping changed from 10.77.0.1:4[0-9]* to 10.77.0.1:41" "$W/b/daemon.stdout"
    nat_round_checks
    # the issue's symptom: a rekey our side starts must reach a through the new mapping
    old=$(spis $NSB)
    check "our daemon starts a rekey" ours_ctl b rekey lab
    wait_for 20 "child SPIs changed after our rekey (it reached a at the new port)" spis_changed $NSB "$old"
    wait_for 20 "the old child SAs are gone from b" sa_count_is $NSB 2
    # ping_through_esp compares ESP packet counters summed over the SAs of each side:
    # strongSwan removes its old pair only when our DELETE arrives, which can fall
    # between the two readings (seen: "ike-a 17 -> 6" with all pings answered).
    wait_for 20 "the old child SAs are gone from a" sa_count_is $NSA 2
    check "ping a -> b through ESP-in-UDP after our rekey" ping_through_esp a
    check "strongSwan: IKE SA still established" sw_ike_established a
  fi
fi
scenario_exit
