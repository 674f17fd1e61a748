#!/usr/bin/env bash
# nat-two-clients (issue 13, case 3): two strongSwan clients (a: 10.1.0.0/24, c: 10.3.0.0/24,
# ids a.test and c.test) behind the same NAT connect at once to our responder (b, `peer any`,
# one policy per client id). Both come from the NAT's one address: only their own kernel
# binding (a reqid per CHILD_SA) keeps each client's traffic in its own SA. Ping from both
# clients, each through its own SAs; four SAs with two reqids on b; no plain ESP outside.
. "$(dirname "$0")/../lib.sh"
scenario_init nat-two-clients
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any NAT_CLIENTS=2
mkdir -p "$W/c"
# sw_conf_c: side c's swanctl.conf, from side a's with c's address, network and id
sw_conf_c() {
  mkdir -p "$W/c/swanctl"
  sed -e "s/local_addrs = $LAN_A/local_addrs = $LAN_C/" -e "s#local_ts = $NET_A#local_ts = $NET_C#" \
      -e "s/id = a.test/id = c.test/" -e "s/id-a = a.test/id-a = c.test/" \
      "$W/a/swanctl/swanctl.conf" > "$W/c/swanctl/swanctl.conf"
}
# ours_conf_two: b's config with a second policy for client c
ours_conf_two() {
  local f=$W/b/iked/iked.conf
  ours_conf b
  sed -n '/^ikev2/,$p' "$f" | sed -e 's/^ikev2 "lab"/ikev2 "lab-c"/' -e "s#to $NET_A#to $NET_C#" \
    -e 's/dstid a.test/dstid c.test/' > "$f.c"
  cat "$f.c" >> "$f"; rm -f "$f.c"
}
ping_c() {  # 3 pings from c's inner address to b's, through ESP on both
  local b0 b1; b0=$(esp_packets $NSB)
  ip netns exec $NSC ping -c 3 -i 0.3 -W 2 -I $INNER_C $INNER_B || return 1
  b1=$(esp_packets $NSB); echo "  ESP packets in $NSB: $b0 -> $b1"
  [ $((b1 - b0)) -ge 6 ]
}
# b holds 4 SAs in 2 pairs, each pair with its own reqid, each client on its own NAT port
two_bindings() {
  local st reqids ports
  st=$(ip -n $NSB xfrm state); echo "$st" | grep -E '^src|reqid|encap' | sed 's/^/    /'
  reqids=$(echo "$st" | grep -o 'reqid [0-9]*' | sort -u | wc -l)
  ports=$(xfrm_encap $NSB | tr ' ' '\n' | grep -v '^4500$' | sort -u | wc -l)
  echo "  $(xfrm_sa_count $NSB) SAs, $reqids reqids, $ports NAT ports"
  [ "$(xfrm_sa_count $NSB)" = 4 ] && [ "$reqids" = 2 ] && [ "$ports" = 2 ] || return 1
  # and b's outbound policies name those two reqids
  [ "$(ip -n $NSB xfrm policy | grep -A3 'dir out' | grep -o 'reqid [0-9]*' | sort -u | wc -l)" = 2 ]
}
if check "our daemon is built" ours_available && check "NAT namespaces up (two clients)" nat_net_up; then
  OURS_ROLE=passive ours_conf_two; sw_conf a; sw_conf_c
  if check "our daemon (b, peer any, two policies) started" ours_start b &&
     check "strongSwan client a started" sw_start a && check "strongSwan client c started" sw_start c; then
    # both at once
    swc a --initiate --child net --timeout 30 > "$W/a/initiate.txt" 2>&1 &
    ia=$!
    swc c --initiate --child net --timeout 30 > "$W/c/initiate.txt" 2>&1 &
    ic=$!
    check "client a's initiate succeeded" wait $ia
    check "client c's initiate succeeded" wait $ic
    wait_for 30 "client a: IKE SA established, child installed" sw_ike_established a
    wait_for 30 "client c: IKE SA established, child installed" sw_ike_established c
    check "each client's CHILD_SA has its own reqid and NAT port on b" two_bindings
    cap=$W/nat-outside.pcap
    nat_capture_start "$cap"
    check "ping a -> b through ESP-in-UDP" ping_through_esp a
    check "ping c -> b through ESP-in-UDP" ping_c
    check "ping b -> a through ESP-in-UDP" ping_through_esp b
    check "ping a -> b again (c's SA did not take a's traffic)" ping_through_esp a
    capture_stop "$cap"
    check "no plain ESP on the NAT's outside link" no_plain_esp "$cap"
  fi
fi
scenario_exit
