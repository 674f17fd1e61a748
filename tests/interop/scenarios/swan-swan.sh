#!/usr/bin/env bash
# swan-swan: strongSwan against strongSwan, proving the interop harness itself.
# PSK, IKE aes256gcm16-prfsha256-x25519, ESP aes256-sha512 (AES-CBC + HMAC-SHA2-512/256),
# tunnel mode through the kernel's netlink XFRM. Initiated by a, ping through ESP, same
# SAs (SPIs and keys) in both kernels, child and IKE SA rekey started by a, delete from
# b, SAs gone on both sides.
. "$(dirname "$0")/../lib.sh"
scenario_init swan-swan

IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512 MODE=tunnel AUTH=psk
net_up || { fail "network namespaces"; scenario_exit; }
sw_conf a; sw_conf b
check "charon a started" sw_start a
check "charon b started" sw_start b
capture_start "$W/wire.pcap"
check "a initiates (swanctl --initiate)" swc a --initiate --child net --timeout 30
check "a: IKE SA established, child installed" sw_ike_established a
check "b: IKE SA established, child installed" sw_ike_established b
check "both kernels hold the same ESP SAs (SPIs, keys, tunnel mode)" sas_match
check "ping $INNER_A -> $INNER_B through ESP" ping_through_esp a
check "ping $INNER_B -> $INNER_A through ESP" ping_through_esp b
capture_stop "$W/wire.pcap"
check "IKE on UDP 500 on the wire" grep -q '\.500: isakmp' "$W/wire.pcap.txt"
check "ESP on the wire" grep -q 'ESP(spi=' "$W/wire.pcap.txt"
# the rekey commands and log lines scenario rekey-dpd-delete relies on, proven here
old=$(spis $NSA)
n=$(log_count b "$CHILD_REKEY_REQ")
check "a starts a child SA rekey (swanctl --rekey --child)" swc a --rekey --child net
wait_for 20 "child SPIs changed after the rekey" spis_changed $NSA "$old"
wait_for 20 "b parsed a CREATE_CHILD_SA with REKEY_SA" log_grew b "$CHILD_REKEY_REQ" "$n"
wait_for 20 "old child SAs removed (2 left in $NSA)" sa_count_is $NSA 2
# strongSwan keeps a rekeyed inbound SA for delete_rekeyed_delay (5 s) before removing it
wait_for 20 "both kernels hold the same new SAs" sas_match
check "ping through ESP after the child rekey" ping_through_esp a
n=$(log_count b "$IKE_REKEY_REQ") m=$(log_count a "$IKE_REKEYED")
check "a starts an IKE SA rekey (swanctl --rekey --ike)" swc a --rekey --ike lab
wait_for 20 "b parsed CREATE_CHILD_SA [ SA No KE ]" log_grew b "$IKE_REKEY_REQ" "$n"
wait_for 20 "a reports the IKE SA rekeyed" log_grew a "$IKE_REKEYED" "$m"
check "ping through ESP after the IKE rekey" ping_through_esp b
check "b deletes the IKE SA (swanctl --terminate)" swc b --terminate --ike lab --timeout 30
wait_for 10 "no SAs left in $NSA" no_sas $NSA
wait_for 10 "no SAs left in $NSB" no_sas $NSB
check "a: no IKE SA listed" sw_no_sas a
scenario_exit
