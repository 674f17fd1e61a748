#!/usr/bin/env bash
# rekey-dpd-delete (issue 7, scenario 4): our daemon (a) against strongSwan (b), PSK,
# tunnel mode, ESP aes256-sha512.
#   1. strongSwan rekeys the child SA, then the IKE SA (swanctl --rekey)
#   2. we rekey the child SA, then the IKE SA (short lifetimes in our config; strongSwan's
#      are an hour, so a CREATE_CHILD_SA request it receives was started by us)
#   3. we delete (our daemon shuts down): strongSwan's SAs go away
#   4. strongSwan deletes (swanctl --terminate): our SAs go away
#   5. DPD: strongSwan is killed without a word; our daemon notices and removes its SAs
# After every rekey: both kernels hold the same new SAs and ping still goes through ESP.
. "$(dirname "$0")/../lib.sh"
scenario_init rekey-dpd-delete
AUTH=psk MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
# strongSwan's own rekeying stays out of the way (1 h); ours fires within the test
OURS_LIFETIME=40 OURS_IKELIFETIME=80 OURS_DPD=5

no_established_ike_sa() {
  local j; j=$(ours_ctl a show sa --json) || return 1
  echo "  $j" | head -c 400; echo
  ! echo "$j" | grep -q '"established"'
}
# no_clear_icmp: ping from a's inner address while watching the wire: no ICMP may leave
# ike-va from our inner address (tcpdump ends after one packet, or times out with 124 when it saw none).
no_clear_icmp() {
  local log=$W/dpd-clear.log t rc i
  ip netns exec $NSA timeout 8 tcpdump -n -i ike-va -c 1 "icmp and src host $INNER_A" >"$log" 2>&1 &
  t=$!
  for ((i = 0; i < 50; i++)); do grep -q 'listening on' "$log" && break; sleep 0.1; done
  ping_inner a >/dev/null 2>&1
  wait $t; rc=$?
  cat "$log"
  [ "$rc" = 124 ]
}

# ---- 1 + 2: rekeys
if ours_vs_swan_setup swan; then
  check "same SAs in both kernels" sas_match
  old=$(spis $NSA)
  check "strongSwan starts a child SA rekey" swc b --rekey --child net
  wait_for 15 "child SPIs changed after strongSwan's rekey" spis_changed $NSA "$old"
  wait_for 15 "old child SAs removed (2 SAs left)" sa_count_is $NSA 2
  # strongSwan keeps a rekeyed inbound SA for delete_rekeyed_delay (5 s) before removing it
  wait_for 20 "same SAs in both kernels after strongSwan's child rekey" sas_match
  check "ping through ESP after strongSwan's child rekey" ping_mode a

  n=$(log_count b "$IKE_REKEYED")
  check "strongSwan starts an IKE SA rekey" swc b --rekey --ike lab
  wait_for 15 "strongSwan reports the IKE SA rekeyed" log_grew b "$IKE_REKEYED" "$n"
  check "strongSwan still has an established IKE SA" sw_ike_established b
  check "ping through ESP after strongSwan's IKE rekey" ping_mode a

  # our child lifetime is 40 s: our side must start a CREATE_CHILD_SA with REKEY_SA
  old=$(spis $NSA)
  n=$(log_count b "$CHILD_REKEY_REQ")
  wait_for 60 "we start a child SA rekey (strongSwan parses our CREATE_CHILD_SA with REKEY_SA)" \
    log_grew b "$CHILD_REKEY_REQ" "$n"
  wait_for 15 "child SPIs changed after our rekey" spis_changed $NSA "$old"
  wait_for 20 "same SAs in both kernels after our child rekey" sas_match
  check "ping through ESP after our child rekey" ping_mode b
  # an IKE rekey request is CREATE_CHILD_SA with SA, Ni, KEi and no traffic selectors
  n=$(log_count b "$IKE_REKEY_REQ")
  wait_for 90 "we start an IKE SA rekey (strongSwan parses CREATE_CHILD_SA [ SA No KE ])" \
    log_grew b "$IKE_REKEY_REQ" "$n"
  check "strongSwan still has an established IKE SA" sw_ike_established b
  check "ping through ESP after our IKE rekey" ping_mode a

  # ---- 3: delete from our side
  n=$(log_count b "received DELETE for IKE_SA")
  daemon_stop "$W/a"
  wait_for 15 "strongSwan received our DELETE for the IKE SA" log_grew b "received DELETE for IKE_SA" "$n"
  wait_for 15 "strongSwan's SAs gone after our delete" no_sas $NSB
  check "our SAs gone after our shutdown" no_sas $NSA
fi
daemon_stop "$W/a"; daemon_stop "$W/b"

# ---- 4: delete from strongSwan's side (also covered by every round of the other scenarios)
unset OURS_LIFETIME OURS_IKELIFETIME
if ours_vs_swan_setup ours; then
  check "strongSwan deletes the IKE SA" swc b --terminate --ike lab --timeout 30
  wait_for 15 "our SAs gone after strongSwan's delete" no_sas $NSA
  wait_for 15 "strongSwan's SAs gone" no_sas $NSB
fi
daemon_stop "$W/a"; daemon_stop "$W/b"

# ---- 5: DPD: the peer disappears
if ours_vs_swan_setup ours; then
  check "SAs installed before the peer dies" test "$(xfrm_sa_count $NSA)" -ge 2
  daemon_kill "$W/b"
  # dpd_check_interval 5 s, then the liveness check's retransmissions with back-off
  # (about 95 s in the kernel lab with the 12:40 daemon): allow three minutes
  wait_for 180 "our daemon noticed the dead peer and removed its SAs" no_sas $NSA
  check "no established IKE SA left in our ike-ctl show sa" no_established_ike_sa
  # Our policy is active and traps its traffic: after the peer died its kernel policies stay
  # (fail closed), so the inner traffic is held back and triggers ACQUIRE; none leaves in clear.
  check "our kernel policies stay as a trap while no SA exists" test "$(xfrm_policy_count $NSA)" -ge 2
  check "inner traffic is not sent in clear after the peer died" no_clear_icmp
fi
scenario_exit
