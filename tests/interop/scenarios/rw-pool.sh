#!/usr/bin/env bash
# rw-pool (issue 15): our daemon (b) as a road-warrior gateway, strongSwan clients a and c
# (ids a.test and c.test, PSK) behind the NAT with virtual IPs (`vips = 0.0.0.0`):
#   1. each client gets its own address from our pool 10.9.0.0/30 and the DNS server
#      10.2.0.53 (CFG_REPLY, in charon's log), our `ike-ctl show sa` lists both leases;
#   2. each client pings b's inner address 10.2.0.1 from its virtual address, through ESP;
#   3. 20 connect/disconnect cycles of client a while c holds the pool's other address:
#      after each disconnect our daemon counts exactly one lease (c's), and a gets the free
#      address again; a lease leaked by any cycle would show in the count at once.
# strongSwan does not put the virtual IP on an interface here (install_virtual_ip = no in
# lib.sh); the scenario adds it to the client's lo, as the client's OS would.
# Took 315 s in the kernel lab on a loaded 2-core host (the 20 cycles 173 s); run it
# with INTEROP_SCENARIO_TIMEOUT=1200 (tests/run-all.sh does).
. "$(dirname "$0")/../lib.sh"
scenario_init rw-pool
AUTH=psk MODE=tunnel ADDR_A=$LAN_A PEER_OF_B=any NAT_CLIENTS=2
POOL=10.9.0.0/30 DNS=10.2.0.53 CYCLES=${RW_CYCLES:-20}
mkdir -p "$W/c"
# clients: our side of the flow is the lent address (local_ts = dynamic, vips)
sw_conf_rw() {
  sw_conf a
  sed -i -e "s#local_ts = $NET_A#local_ts = dynamic#" -e 's/^    version = 2$/    version = 2\n    vips = 0.0.0.0/' \
    "$W/a/swanctl/swanctl.conf"
  mkdir -p "$W/c/swanctl"
  sed -e "s/local_addrs = $LAN_A/local_addrs = $LAN_C/" -e "s/id = a.test/id = c.test/" \
      -e "s/id-a = a.test/id-a = c.test/" "$W/a/swanctl/swanctl.conf" > "$W/c/swanctl/swanctl.conf"
}
# the gateway: `from 10.2.0.0/24 to dynamic`, `peer any` without dstid, a pool and DNS
ours_conf_rw() {
  mkdir -p "$W/b/iked"; chmod 700 "$W/b/iked"
  cat > "$W/b/iked/iked.conf" <<CONF
# iked.conf for the gateway of scenario $SCENARIO
ikev2 "rw" passive tunnel esp \\
	from $NET_B to dynamic \\
	local $OUTER_B peer any \\
	ikesa enc aes-256-gcm prf hmac-sha2-256 group curve25519 \\
	childsa enc aes-256 auth hmac-sha2-512 \\
	srcid b.test \\
	psk "${PSK:-interop-lab-pre-shared-key}" \\
	config address $POOL \\
	config name-server $DNS
CONF
  chmod 600 "$W/b/iked/iked.conf"
}
vip_of() {  # vip_of SIDE: the virtual IP swanctl shows for the client's IKE SA
  swc "$1" --list-sas 2>/dev/null | grep -o "\[10\.9\.0\.[0-9]*\]" | head -1 | tr -d '[]'
}
got_dns() {  # the client parsed a CFG_REPLY with an address and a DNS server
  grep -E 'CPRP\(ADDR.*DNS' "$W/$1/charon.log"
}
ping_from_vip() {  # ping_from_vip SIDE VIP: 3 pings VIP -> 10.2.0.1 through ESP on b
  local ns b0 b1; ns=$(ns_of "$1")
  ip -n "$ns" addr replace "$2/32" dev lo
  b0=$(esp_packets $NSB)
  ip netns exec "$ns" ping -c 3 -i 0.3 -W 2 -I "$2" $INNER_B || return 1
  b1=$(esp_packets $NSB); echo "  ESP packets in $NSB: $b0 -> $b1"
  [ $((b1 - b0)) -ge 6 ]
}
show_sa_lists() {  # show_sa_lists VIP...: `show sa` and `show sa --json` name each address
  ours_ctl b show sa > "$W/b/show-sa.txt" 2>&1 && ours_ctl b show sa --json > "$W/b/show-sa.json" 2>&1 || return 1
  local v; for v in "$@"; do
    grep -q "virtual ip: $v\$" "$W/b/show-sa.txt" && grep -q "\"virtual_ips\":\\[\"$v\"\\]" "$W/b/show-sa.json" ||
      { cat "$W/b/show-sa.txt" "$W/b/show-sa.json"; return 1; }
  done
}
leases_are() {  # our daemon counts N leases (ike-ctl show stats)
  ours_ctl b show stats > "$W/b/stats.txt" 2>&1 && grep -qx "leases $1" "$W/b/stats.txt"
}
cycle() {  # one connect/disconnect of client a; a gets the free address, then gives it back
  local v
  swc a --initiate --child net --timeout 30 > "$W/a/initiate.txt" 2>&1 || { cat "$W/a/initiate.txt"; return 1; }
  v=$(vip_of a); [ -n "$v" ] && [ "$v" != "$VIP_C" ] || { echo "  a got '$v' (c holds $VIP_C)"; return 1; }
  swc a --terminate --ike lab --timeout 30 > /dev/null 2>&1 || return 1
  local i; for ((i = 0; i < 60; i++)); do leases_are 1 && return 0; sleep 0.5; done
  cat "$W/b/stats.txt"; return 1
}
if check "our daemon is built" ours_available && check "NAT namespaces up (two clients)" nat_net_up; then
  # b sends the replies to the pool back towards the clients (only xfrm makes them arrive)
  ip -n $NSB route add $POOL via $OUTER_A src $INNER_B
  ours_conf_rw; sw_conf_rw
  if check "the gateway config loads (ike-parent -n)" ours_conf_reports "$W/b" "to dynamic" "config address $POOL" &&
     check "our gateway (b) started" ours_start b &&
     check "strongSwan client a started" sw_start a && check "strongSwan client c started" sw_start c; then
    check "client a connects" swc a --initiate --child net --timeout 30
    check "client c connects" swc c --initiate --child net --timeout 30
    VIP_A=$(vip_of a) VIP_C=$(vip_of c)
    say "virtual IPs: a=$VIP_A c=$VIP_C"
    check "each client got its own address from the pool" test -n "$VIP_A" -a -n "$VIP_C" -a "$VIP_A" != "$VIP_C"
    check "client a received the DNS server" got_dns a
    check "client c received the DNS server" got_dns c
    check "ike-ctl show sa (and --json) list both leases" show_sa_lists "$VIP_A" "$VIP_C"
    check "show stats counts 2 leases" leases_are 2
    check "ping a ($VIP_A) -> b through ESP" ping_from_vip a "$VIP_A"
    check "ping c ($VIP_C) -> b through ESP" ping_from_vip c "$VIP_C"
    swc a --terminate --ike lab --timeout 30 > /dev/null 2>&1
    wait_for 10 "a's lease is released (1 left)" leases_are 1
    t0=$SECONDS ok=0
    for ((n = 1; n <= CYCLES; n++)); do
      c0=$SECONDS; cycle || break; ok=$n; say "  cycle $n done ($((SECONDS - c0)) s)"
    done
    check "$ok of $CYCLES connect/disconnect cycles of a, no lease leaked ($((SECONDS - t0)) s)" test "$ok" = "$CYCLES"
    swc c --terminate --ike lab --timeout 30 > /dev/null 2>&1
    wait_for 10 "c's lease is released (none left)" leases_are 0
  fi
fi
scenario_exit
