#!/usr/bin/env bash
# rsa-x509: our daemon (a) against strongSwan (b) with RSA keys and X.509 certificates.
# A test CA with an RSA-3072 key and RSA-2048 end-entity certificates (generated here with
# pki, signed sha256WithRSAEncryption). Our side: `rsa` (our RSA key signs RFC 7427 with
# sha256WithRSAEncryption, auth method 14), ca/ca.crt, certs/a.test.crt, private/local.key
# (PKCS#1 PEM), no pubkeys/ entry for b.test, so strongSwan's certificate is what
# authenticates it. strongSwan: auth = pubkey with its RSA certificate. Tunnel mode,
# initiated by us, then by strongSwan. Also records which signature strongSwan made with
# its own RSA key (auth method 14 with RSA PKCS#1 v1.5 or PSS, or method 1).
. "$(dirname "$0")/../lib.sh"
scenario_init rsa-x509
AUTH=cert MODE=tunnel OURS_AUTH=rsa
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
CA_DN="C=XX, O=ike interop lab, CN=ike lab RSA CA"
check "RSA CA (3072 bits) and certificates (2048 bits) generated (pki)" \
  make_rsa_ca_certs "$W/creds" 3072 2048
for who in ours swan; do
  ours_vs_swan_round $who "$W/creds"
done
B_LOG=$W/b/charon.log A_LOG=$W/a/daemon.stdout
# our side: what the configuration check and the worker say they use
check "ike-parent -n -v: we send certs/a.test.crt, b.test is checked against ca/" \
  ours_conf_reports "$W/a" "sending certificate .*certs/a.test.crt (1 in the chain)" \
  "certificate for b.test, chain checked against 1 CA certificate(s) from .*ca/ca.crt"
check "ike-net: policy lab signs RFC 7427 with the RSA key, sends the certificate, checks b.test's" \
  grep -q "policy lab: auth ours rsa (RFC 7427, method 14) with private/local.key, sending .*certs/a.test.crt (1 certificate(s)); peer certificate, checked against 1 CA(s) from ca/" "$A_LOG"
check "our daemon validated strongSwan's RSA certificate chain for b.test (both rounds)" \
  count_at_least 2 "policy lab: peer certificate validated: chain of 1 to a trusted CA, names FQDN b.test" "$A_LOG"
check "our daemon: an IKE SA with b.test up in both rounds" \
  count_at_least 2 "IKE SA [0-9a-f]* up: policy lab, .*ids a.test -> b.test" "$A_LOG"
check "our daemon refused no certificate" not_in_log "certificate refused" "$A_LOG"
# strongSwan's side: our CERT, our CERTREQ, its own CERT, and our RSA signature checked
check "strongSwan received our end-entity certificate (both rounds)" \
  count_at_least 2 "received end entity cert \"C=XX, O=ike interop lab, CN=a.test\"" "$B_LOG"
check "strongSwan received our CERTREQ for the lab RSA CA" \
  grep -q "received cert request for \"$CA_DN\"" "$B_LOG"
check "strongSwan sent its certificate to us" \
  grep -q "sending end entity cert \"C=XX, O=ike interop lab, CN=b.test\"" "$B_LOG"
check "strongSwan verified our certificate chain" \
  grep -q "reached self-signed root ca with a path length of 0" "$B_LOG"
# RFC 7427 with sha256WithRSAEncryption is strongSwan's RSA_EMSA_PKCS1_SHA2_256
check "strongSwan verified our RFC 7427 RSA (PKCS#1 v1.5, SHA-256) signature (both rounds)" \
  count_at_least 2 "authentication of 'a.test' with RSA_EMSA_PKCS1_SHA2_256 successful" "$B_LOG"
# What strongSwan signed with: its log names the RFC 7427 scheme (method 14), or
# "RSA signature" for auth method 1
SW_SCHEMES=$(sed -n "s/.*authentication of 'b.test' (myself) with \(.*\) successful.*/\1/p" "$B_LOG" | sort | uniq -c | awk '{ $1 = $1 "x"; print }' | paste -sd, -)
case $SW_SCHEMES in
  *"RSA signature"*) SW_METHOD="auth method 1 (RSA PKCS#1 v1.5 with SHA-1)" ;;
  *RSA_EMSA_PSS*) SW_METHOD="auth method 14, RSASSA-PSS" ;;
  *RSA_EMSA_PKCS1*) SW_METHOD="auth method 14, RSA PKCS#1 v1.5" ;;
  *) SW_METHOD="unknown" ;;
esac
check "strongSwan signed with its RSA key: $SW_METHOD [$SW_SCHEMES], and we accepted it (both rounds)" \
  count_at_least 2 "authentication of 'b.test' (myself) with RSA.* successful" "$B_LOG"
scenario_exit
