#!/usr/bin/env bash
# ecdsa-rawkey (issue 7, scenario 3a): our daemon (a) against strongSwan (b).
# ECDSA P-256 keys, RFC 7427 digital-signature authentication, raw public keys configured
# on both sides (ours: /etc/iked/pubkeys/fqdn/<peer>; strongSwan: pubkeys =). Tunnel mode,
# initiated by us, then by strongSwan.
. "$(dirname "$0")/../lib.sh"
scenario_init ecdsa-rawkey
AUTH=pubkey MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
check "P-256 keys generated (pki)" make_ecdsa_keys "$W/creds"
for who in ours swan; do
  ours_vs_swan_round $who "$W/creds"
done
check "strongSwan verified our RFC 7427 ECDSA signature" \
  grep -q "authentication of 'a.test' with ECDSA.*successful" "$W/b/charon.log"
scenario_exit
