#!/usr/bin/env bash
# ecdsa-rawkey (issue 7, scenario 3a): our daemon (a) against strongSwan (b).
# ECDSA P-256 keys, raw public keys configured on both sides (ours:
# /etc/iked/pubkeys/fqdn/<peer>; strongSwan: pubkeys =). Tunnel mode, initiated by us, then
# by strongSwan: first with RFC 7427 digital signatures (our `rfc7427`), then with RFC 4754
# ECDSA-256 (our `ecdsa256`, auth method 9; strongSwan's `auth = pubkey` accepts it).
. "$(dirname "$0")/../lib.sh"
scenario_init ecdsa-rawkey
AUTH=pubkey MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
check "P-256 keys generated (pki)" make_ecdsa_keys "$W/creds"
for OURS_AUTH in rfc7427 ecdsa256; do
  for who in ours swan; do
    ours_vs_swan_round $who "$W/creds"
  done
done
B_LOG=$W/b/charon.log A_LOG=$W/a/daemon.stdout
check "strongSwan verified our RFC 7427 ECDSA signature (both rfc7427 rounds)" \
  count_at_least 2 "authentication of 'a.test' with ECDSA_WITH_SHA256_DER successful" "$B_LOG"
check "strongSwan verified our RFC 4754 ECDSA-256 signature (both ecdsa256 rounds)" \
  count_at_least 2 "authentication of 'a.test' with ECDSA-256 signature successful" "$B_LOG"
check "ike-net: the ecdsa256 policy signs with RFC 4754 and checks b.test's raw key" \
  grep -q "policy lab: auth ours ecdsa256 (RFC 4754, method 9) with private/local.key, no certificate; peer raw public key pubkeys/fqdn/b.test" "$A_LOG"
check "our daemon: an IKE SA with b.test up in each of the 4 rounds" \
  count_at_least 4 "IKE SA [0-9a-f]* up: policy lab, .*ids a.test -> b.test" "$A_LOG"
scenario_exit
