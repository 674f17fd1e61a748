#!/usr/bin/env bash
# transport (issue 7, scenario 5): our daemon (a) against strongSwan (b), PSK, ESP
# aes256-sha512 in transport mode between the outer addresses 10.77.0.1 and 10.77.0.2.
# Initiated by us, then by strongSwan.
. "$(dirname "$0")/../lib.sh"
scenario_init transport
AUTH=psk MODE=transport
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
ours_vs_swan_round ours
ours_vs_swan_round swan
scenario_exit
