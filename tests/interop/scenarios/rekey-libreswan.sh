#!/usr/bin/env bash
# rekey-libreswan (issue 20): a second independent peer, libreswan 4.10 (pluto extracted by
# tests/interop/libreswan-fetch.sh, see lib.sh), against our daemon, PSK, tunnel mode, IKE
# AES-256-CBC/SHA2-256/ECP-256, ESP AES-256-CBC + HMAC-SHA2-512. libreswan initiates; then
#   round lsw-child: libreswan rekeys the child (whack --rekey-ipsec): we answer, our new
#     outbound SA waits for its DELETE of the old child;
#   round ours: we rekey the child, then the IKE SA (ike-ctl rekey);
# each under 10 ms pings both ways, counted by ping on each end, on the wire (ESP per SPI)
# and by both kernels' XFRM error counters (traffic_round in lib.sh): none lost.
. "$(dirname "$0")/../lib.sh"
scenario_init rekey-libreswan
AUTH=psk MODE=tunnel
OURS_IKESA="enc aes-256 auth hmac-sha2-256 prf hmac-sha2-256 group ecp256"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
LSW_IKE=aes256-sha2_256-dh19 LSW_ESP=aes256-sha2_512

lsw_rekey_child() { lsw_whack --rekey-ipsec --name lab; }
lsw_log_count() { grep -c "$@" "$W/b/pluto.log" 2>/dev/null || true; }

if check "libreswan is extracted and runs" lsw_available && net_up; then
  OURS_ROLE=passive
  ours_conf a; lsw_conf
  if check "libreswan's pluto (b) started" lsw_start && check "our daemon (a) started" ours_start a &&
    check "libreswan initiates" lsw_whack --initiate --name lab; then
    wait_for 30 "libreswan: IKE SA and Child SA established" lsw_established
    check "same SAs in both kernels" sas_match
    check "ping a -> b through ESP" ping_through_esp a

    old=$(spis $NSA) n=$(lsw_log_count -i rekey)
    traffic_round lsw-child 500 lsw_rekey_child
    wait_for 20 "lsw-child: child SPIs changed" spis_changed $NSA "$old"
    wait_for 30 "lsw-child: same SAs in both kernels" sas_match
    check "lsw-child: pluto logged its rekey" test "$(lsw_log_count -i rekey)" -gt "$n"
    grep -i rekey "$W/b/pluto.log" | tail -n 3 | sed 's/^/    /'

    old=$(spis $NSA)
    traffic_round ours 500 ours_ctl a rekey lab   # the child, then the IKE SA
    wait_for 20 "ours: child SPIs changed" spis_changed $NSA "$old"
    wait_for 30 "ours: same SAs in both kernels" sas_match
    check "ours: libreswan still has an established IKE SA and Child SA" lsw_established
  fi
fi
lsw_whack --shutdown >/dev/null 2>&1
daemon_stop "$W/a"; daemon_stop "$W/b"
scenario_exit
