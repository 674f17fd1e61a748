#!/usr/bin/env bash
# psk-ecp256-modp2048 (issue 7, scenario 2): our daemon (a) against strongSwan (b).
# PSK; IKE AES-128-CBC + HMAC-SHA2-256-128 + PRF-HMAC-SHA2-256 with ECP-256, then with
# MODP-2048 (our side offers both groups, strongSwan one at a time); ESP aes256-sha512;
# tunnel mode; each group initiated by us and by strongSwan.
. "$(dirname "$0")/../lib.sh"
scenario_init psk-ecp256-modp2048
AUTH=psk MODE=tunnel ESP_PROPOSALS=aes256-sha512
OURS_IKESA="enc aes-128 auth hmac-sha2-256 prf hmac-sha2-256 group ecp256 group modp2048"
OURS_CHILDSA="enc aes-256 auth hmac-sha2-512"
for IKE_PROPOSALS in aes128-sha256-ecp256 aes128-sha256-modp2048; do
  say "==== strongSwan proposes $IKE_PROPOSALS"
  ours_vs_swan_round ours
  check "strongSwan selected $IKE_PROPOSALS" \
    grep -q "selected proposal: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/$(case $IKE_PROPOSALS in *ecp256) echo ECP_256 ;; *) echo MODP_2048 ;; esac)" \
    "$W/b/charon.log"
  ours_vs_swan_round swan
done
scenario_exit
