#!/usr/bin/env bash
# ecdsa-x509 (issue 7, scenario 3b): our daemon (a) against strongSwan (b).
# ECDSA P-256 with X.509 certificates from a test CA (generated here with pki), RFC 7427
# signatures, CERT and CERTREQ payloads, the peer's ID matched against its certificate.
# Our side: ca/ca.crt, certs/a.test.crt, private/local.key, no pubkeys/ entry for b.test,
# so strongSwan's certificate is what authenticates it. Tunnel mode, initiated by us, then
# by strongSwan; first with our `rfc7427` (RFC 7427 signatures), then with `ecdsa256`
# (RFC 4754, auth method 9) and the same certificate.
. "$(dirname "$0")/../lib.sh"
scenario_init ecdsa-x509
AUTH=cert MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
CA_DN="C=XX, O=ike interop lab, CN=ike lab CA"
check "CA and certificates generated (pki)" make_ca_certs "$W/creds"
for OURS_AUTH in rfc7427 ecdsa256; do
  for who in ours swan; do
    ours_vs_swan_round $who "$W/creds"
  done
done
B_LOG=$W/b/charon.log A_LOG=$W/a/daemon.stdout
# our side: what the configuration check and the worker say they use
check "ike-parent -n -v: we send certs/a.test.crt, b.test is checked against ca/" \
  ours_conf_reports "$W/a" "sending certificate .*certs/a.test.crt (1 in the chain)" \
  "certificate for b.test, chain checked against 1 CA certificate(s) from .*ca/ca.crt"
check "ike-net: policy lab signs with the key, sends the certificate, checks b.test's certificate" \
  grep -q "policy lab: auth ours rfc7427 (method 14) with private/local.key, sending .*certs/a.test.crt (1 certificate(s)); peer certificate, checked against 1 CA(s) from ca/" "$A_LOG"
check "ike-net: with ecdsa256, policy lab signs RFC 4754 and still sends the certificate" \
  grep -q "policy lab: auth ours ecdsa256 (RFC 4754, method 9) with private/local.key, sending .*certs/a.test.crt" "$A_LOG"
check "our daemon validated strongSwan's certificate chain for b.test (all 4 rounds)" \
  count_at_least 4 "policy lab: peer certificate validated: chain of 1 to a trusted CA, names FQDN b.test" "$A_LOG"
check "our daemon: an IKE SA with b.test up in each of the 4 rounds" \
  count_at_least 4 "IKE SA [0-9a-f]* up: policy lab, .*ids a.test -> b.test" "$A_LOG"
check "our daemon refused no certificate" not_in_log "certificate refused" "$A_LOG"
# strongSwan's side: our CERT, our CERTREQ, its own CERT, and our signature checked
check "strongSwan received our end-entity certificate (all 4 rounds)" \
  count_at_least 4 "received end entity cert \"C=XX, O=ike interop lab, CN=a.test\"" "$B_LOG"
check "strongSwan received our CERTREQ for the lab CA" \
  grep -q "received cert request for \"$CA_DN\"" "$B_LOG"
check "strongSwan sent its certificate to us" \
  grep -q "sending end entity cert \"C=XX, O=ike interop lab, CN=b.test\"" "$B_LOG"
check "strongSwan verified our certificate chain" \
  grep -q "reached self-signed root ca with a path length of 0" "$B_LOG"
check "strongSwan verified our RFC 7427 ECDSA signature (both rfc7427 rounds)" \
  count_at_least 2 "authentication of 'a.test' with ECDSA_WITH_SHA256_DER successful" "$B_LOG"
check "strongSwan verified our RFC 4754 ECDSA-256 signature (both ecdsa256 rounds)" \
  count_at_least 2 "authentication of 'a.test' with ECDSA-256 signature successful" "$B_LOG"
scenario_exit
