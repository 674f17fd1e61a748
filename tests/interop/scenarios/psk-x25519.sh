#!/usr/bin/env bash
# psk-x25519 (issue 7, scenario 1): our daemon (a) against strongSwan (b).
# PSK; IKE aes256gcm16-prfsha256-x25519; ESP aes256-sha512 (AES-CBC + HMAC-SHA2-512/256,
# which Linux PF_KEY supports correctly); tunnel mode. Initiated by us, then by strongSwan.
. "$(dirname "$0")/../lib.sh"
scenario_init psk-x25519
AUTH=psk MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
ours_vs_swan_round ours
ours_vs_swan_round swan
scenario_exit
