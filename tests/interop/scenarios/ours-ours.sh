#!/usr/bin/env bash
# ours-ours (issue 7: "our daemon against itself in the kernel lab with real PF_KEY"):
# our daemon on both sides, PSK, IKE aes256gcm16-prfsha256-x25519, ESP AES-256-CBC +
# HMAC-SHA2-512, tunnel mode; a initiates. Both kernels must hold the same SAs
# (installed by each side's broker through PF_KEY), ping goes through ESP both ways,
# and when a shuts down (deleting its SAs) b's SAs go too.
. "$(dirname "$0")/../lib.sh"
scenario_init ours-ours
AUTH=psk MODE=tunnel
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
if check "our daemon is built" ours_available && net_up; then
  OURS_ROLE=passive ours_conf b
  OURS_ROLE=active ours_conf a
  if check "our daemon (b, responder) started" ours_start b &&
     check "our daemon (a, initiator) started" ours_start a; then
    # the delete checks only mean something once SAs exist
    if wait_for 90 "both kernels hold the same ESP SAs" sas_match; then
      check "ping a -> b through ESP" ping_mode a
      check "ping b -> a through ESP" ping_mode b
      daemon_stop "$W/a"
      check "a removed its SAs on shutdown" no_sas $NSA
      wait_for 30 "b removed its SAs after a's DELETE" no_sas $NSB
    fi
  fi
fi
scenario_exit
