#!/usr/bin/env bash
# rsa-x509: our daemon (a) against strongSwan (b) with RSA keys and X.509 certificates.
# A test CA with an RSA-3072 key and RSA-2048 end-entity certificates (generated here with
# pki, signed sha256WithRSAEncryption). Our side: `rsa` (our RSA key signs RFC 7427 with
# sha256WithRSAEncryption, auth method 14), ca/ca.crt, certs/a.test.crt, private/local.key
# (PKCS#1 PEM), no pubkeys/ entry for b.test, so strongSwan's certificate is what
# authenticates it. strongSwan: auth = pubkey with its RSA certificate. Tunnel mode,
# initiated by us, then by strongSwan, in three phases for the signature strongSwan makes
# with its RSA key: its default (RFC 7427, method 14, PKCS#1 v1.5), rsa_pss = yes
# (method 14, RSASSA-PSS), and signature_authentication = no (method 1, see below).
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
# the configuration check on the `rsa` configuration these rounds used
check "ike-parent -n -v: the RSA key, we send certs/a.test.crt, b.test is checked against ca/" \
  ours_conf_reports "$W/a" "RSA key, RFC 7427 signature (auth method 14)" \
  "sending certificate .*certs/a.test.crt (1 in the chain)" \
  "certificate for b.test, chain checked against 1 CA certificate(s) from .*ca/ca.crt"
# Then strongSwan signs with RSASSA-PSS (strongswan.conf charon.rsa_pss = yes): a charon
# wrapper adds the setting to the strongswan.conf sw_start wrote (the same file, included)
# and execs charon, so the daemon's pid and everything else stay as in every round.
sw_charon_with() {  # sw_charon_with NAME SETTING...: wrapper script $W/charon-NAME
  local f=$W/charon-$1; shift
  {
    echo '#!/bin/sh'
    echo 'conf=${STRONGSWAN_CONF%.conf}-extra.conf'
    echo "printf 'include %s\\ncharon {\\n' \"\$STRONGSWAN_CONF\" > \"\$conf\""
    local set; for set in "$@"; do echo "echo '  $set' >> \"\$conf\""; done
    echo "echo '}' >> \"\$conf\""
    echo "STRONGSWAN_CONF=\$conf exec $CHARON"
  } > "$f"
  chmod +x "$f"; echo "$f"
}
CHARON_PLAIN=$CHARON
CHARON=$(sw_charon_with rsa-pss "rsa_pss = yes")
for who in ours swan; do
  ours_vs_swan_round $who "$W/creds"
done
CHARON=$CHARON_PLAIN
# Last, auth method 1: strongSwan without RFC 7427 (charon.signature_authentication = no)
# signs with its RSA key as method 1 (RSASSA-PKCS1-v1_5 with SHA-1) and sends no
# SIGNATURE_HASH_ALGORITHMS. Our RSA key cannot sign then (method 1 needs SHA-1 PKCS#1
# signing, which ring does not do; ike-net refuses with "peer did not announce SHA-2"), so
# our side authenticates with an ECDSA P-256 certificate from the same RSA CA and RFC 4754
# (`ecdsa256`, method 9): these rounds check our verification of method 1.
make_mixed_creds() {  # DIR: the RSA CA and b.test's RSA credentials, an ECDSA a.test
  local d=$1
  mkdir -p "$d" && cp "$W/creds/"{ca.key,ca.crt,b.test.key,b.test.crt} "$d/" || return 1
  pki --gen --type ecdsa --size 256 --outform pem > "$d/a.test.key" 2>>"$d/pki.log" || return 1
  pki --pub --in "$d/a.test.key" --type ecdsa 2>>"$d/pki.log" |
    pki --issue --lifetime 30 --cacert "$d/ca.crt" --cakey "$d/ca.key" \
      --dn "C=XX, O=ike interop lab, CN=a.test" --san a.test --outform pem > "$d/a.test.crt" 2>>"$d/pki.log"
}
check "ECDSA P-256 certificate for a.test from the RSA CA (pki)" make_mixed_creds "$W/creds-mixed"
CHARON=$(sw_charon_with no-7427 "signature_authentication = no") OURS_AUTH=ecdsa256
for who in ours swan; do
  ours_vs_swan_round $who "$W/creds-mixed"
done
CHARON=$CHARON_PLAIN OURS_AUTH=rsa
B_LOG=$W/b/charon.log A_LOG=$W/a/daemon.stdout
# our side: what the worker says it uses
check "ike-net: policy lab signs RFC 7427 with the RSA key, sends the certificate, checks b.test's" \
  grep -q "policy lab: auth ours rsa (RFC 7427, method 14) with private/local.key, sending .*certs/a.test.crt (1 certificate(s)); peer certificate, checked against 1 CA(s) from ca/" "$A_LOG"
check "our daemon validated strongSwan's RSA certificate chain for b.test (all 6 rounds)" \
  count_at_least 6 "policy lab: peer certificate validated: chain of 1 to a trusted CA, names FQDN b.test" "$A_LOG"
check "our daemon: an IKE SA with b.test up in each of the 6 rounds" \
  count_at_least 6 "IKE SA [0-9a-f]* up: policy lab, .*ids a.test -> b.test" "$A_LOG"
check "our daemon refused no certificate" not_in_log "certificate refused" "$A_LOG"
# strongSwan's side: our CERT, our CERTREQ, its own CERT, and our RSA signature checked
check "strongSwan received our end-entity certificate (all 6 rounds)" \
  count_at_least 6 "received end entity cert \"C=XX, O=ike interop lab, CN=a.test\"" "$B_LOG"
check "strongSwan received our CERTREQ for the lab RSA CA" \
  grep -q "received cert request for \"$CA_DN\"" "$B_LOG"
check "strongSwan sent its certificate to us" \
  grep -q "sending end entity cert \"C=XX, O=ike interop lab, CN=b.test\"" "$B_LOG"
check "strongSwan verified our certificate chain" \
  grep -q "reached self-signed root ca with a path length of 0" "$B_LOG"
# RFC 7427 with sha256WithRSAEncryption is strongSwan's RSA_EMSA_PKCS1_SHA2_256
check "strongSwan verified our RFC 7427 RSA (PKCS#1 v1.5, SHA-256) signature (all 4 rounds)" \
  count_at_least 4 "authentication of 'a.test' with RSA_EMSA_PKCS1_SHA2_256 successful" "$B_LOG"
# What strongSwan signed with: its log names the RFC 7427 scheme (method 14), or
# "RSA signature" for auth method 1; the PASS line records the schemes of all 6 rounds
SW_SCHEMES=$(sed -n "s/.*authentication of 'b.test' (myself) with \(.*\) successful.*/\1/p" "$B_LOG" |
  uniq -c | awk '{ n = $1; $1 = ""; printf "%s%dx%s", (NR > 1 ? ", " : ""), n, $0 }')
say "strongSwan's own signatures, in round order: $SW_SCHEMES"
check "strongSwan by default signed RFC 7427 (method 14) RSA PKCS#1 v1.5 SHA-256, and we accepted it (2 rounds)" \
  count_at_least 2 "authentication of 'b.test' (myself) with RSA_EMSA_PKCS1_SHA2_256 successful" "$B_LOG"
check "with rsa_pss = yes strongSwan signed RFC 7427 (method 14) RSASSA-PSS, and we accepted it (2 rounds)" \
  count_at_least 2 "authentication of 'b.test' (myself) with RSA_EMSA_PSS[A-Z0-9_]* successful" "$B_LOG"
check "with signature_authentication = no strongSwan signed auth method 1 (RSA signature), and we accepted it (2 rounds)" \
  count_at_least 2 "authentication of 'b.test' (myself) with RSA signature successful" "$B_LOG"
check "strongSwan verified our RFC 4754 ECDSA-256 signature in the method-1 rounds" \
  count_at_least 2 "authentication of 'a.test' with ECDSA-256 signature successful" "$B_LOG"
scenario_exit
