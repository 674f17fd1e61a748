#!/usr/bin/env bash
# ecdsa-x509 (issue 7, scenario 3b): our daemon (a) against strongSwan (b).
# ECDSA P-256 with X.509 certificates from a test CA (generated here with pki), RFC 7427
# signatures, CERT and CERTREQ payloads, the peer's ID matched against its certificate.
# Tunnel mode, initiated by us, then by strongSwan.
. "$(dirname "$0")/../lib.sh"
scenario_init ecdsa-x509
AUTH=cert MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
check "CA and certificates generated (pki)" make_ca_certs "$W/creds"
for who in ours swan; do
  ours_vs_swan_round $who "$W/creds"
done
check "strongSwan received our end-entity certificate" \
  grep -q "received end entity cert \"C=XX, O=ike interop lab, CN=a.test\"" "$W/b/charon.log"
check "strongSwan verified our RFC 7427 ECDSA signature" \
  grep -q "authentication of 'C=XX, O=ike interop lab, CN=a.test'.*successful\|authentication of 'a.test'.*successful" \
  "$W/b/charon.log"
scenario_exit
