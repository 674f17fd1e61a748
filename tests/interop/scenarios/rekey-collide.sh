#!/usr/bin/env bash
# rekey-collide (issue 20): no packet is lost when both ends rekey the child SA at the same
# moment (RFC 7296 2.8.1), nor when strongSwan rekeys the IKE SA, with traffic both ways.
#   rounds collide-1..3: netem delays every packet on the veth by 250 ms each way, then
#     swanctl --rekey --child and ike-ctl rekey (our child, then our IKE SA) start at the
#     same instant: in some rounds the two CREATE_CHILD_SA requests cross on the wire. strongSwan logs
#     "CHILD_SA rekey collision won|lost" and our engine "rekey collision"; at least one
#     round must show both, or the scenario fails (a round without a collision is still a
#     rekey under traffic, and is checked the same way).
#   round peer-ike: strongSwan rekeys the IKE SA (no delay on the veth); the child moves
#     to the new IKE SA without a kernel request.
# Each round: 10 ms pings both ways counted by ping on each end, by tcpdump on the wire
# (ESP packets per SPI, exactly requests plus replies each way), and by each kernel's
# XFRM error counters (/proc/net/xfrm_stat). See traffic_round in lib.sh.
. "$(dirname "$0")/../lib.sh"
scenario_init rekey-collide
AUTH=psk MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
SW_COLLISION='CHILD_SA rekey collision \(won\|lost\)'
OURS_COLLISION='rekey collision'

# both_rekey: strongSwan's child rekey and ours (ike-ctl rekey: child, then IKE SA) started
# at the same instant. swanctl takes 0.3 to 0.9 s under TCG to reach charon, ike-ctl less,
# so the requests cross within the 250 ms delay only in some rounds (1 of 3 in the run that
# passed). Starting ours when charon logged its request did worse (0 of 3: reading the log
# under TCG took longer than the delay).
both_rekey() {
  local ps pa rs ra
  swc b --rekey --child net > "$W/swanctl-rekey.txt" 2>&1 & ps=$!
  ours_ctl a rekey lab > "$W/ctl-rekey.txt" 2>&1 & pa=$!
  wait $ps; rs=$?; wait $pa; ra=$?
  cat "$W/swanctl-rekey.txt" "$W/ctl-rekey.txt"
  [ $rs = 0 ] && [ $ra = 0 ]
}
netem() {  # netem DELAY|off: delay every packet leaving either end of the veth
  if [ "$1" = off ]; then
    ip netns exec $NSA tc qdisc del dev ike-va root && ip netns exec $NSB tc qdisc del dev ike-vb root
  else
    ip netns exec $NSA tc qdisc replace dev ike-va root netem delay "$1" &&
      ip netns exec $NSB tc qdisc replace dev ike-vb root netem delay "$1"
  fi
}
ours_log_count() { grep -c "$1" "$W/a/daemon.stdout" 2>/dev/null || true; }

collided=0
if ours_vs_swan_setup swan; then
  check "same SAs in both kernels" sas_match
  modprobe sch_netem 2>/dev/null
  for round in 1 2 3; do
    old=$(spis $NSA)
    s0=$(log_count b "$SW_COLLISION") o0=$(ours_log_count "$OURS_COLLISION")
    check "collide-$round: 250 ms delay each way on the veth" netem 250ms
    traffic_round collide-$round 500 both_rekey
    check "collide-$round: delay off" netem off
    wait_for 20 "collide-$round: child SPIs changed" spis_changed $NSA "$old"
    wait_for 30 "collide-$round: same SAs in both kernels" sas_match
    s1=$(log_count b "$SW_COLLISION") o1=$(ours_log_count "$OURS_COLLISION")
    say "collide-$round: collisions logged: strongSwan $s0 -> $s1, ours $o0 -> $o1"
    grep "$SW_COLLISION" "$W/b/charon.log" | tail -n $((s1 - s0)) | sed 's/^/    /'
    if [ "$s1" -gt "$s0" ] && [ "$o1" -gt "$o0" ]; then collided=$((collided + 1)); fi
    # our IKE SA rekey (after the child's) finishes before the next round
    wait_for 30 "collide-$round: strongSwan has one established IKE SA" sw_ike_established b
    sleep 2
  done
  check "at least one round had a simultaneous child rekey (both logs; $collided of 3)" \
    test "$collided" -ge 1

  n=$(log_count b "$IKE_REKEYED")
  traffic_round peer-ike 500 swc b --rekey --ike lab
  wait_for 15 "peer-ike: strongSwan reports the IKE SA rekeyed" log_grew b "$IKE_REKEYED" "$n"
  check "peer-ike: strongSwan still has an established IKE SA" sw_ike_established b
  check "peer-ike: same SAs in both kernels" sas_match
fi
daemon_stop "$W/a"; daemon_stop "$W/b"
scenario_exit
