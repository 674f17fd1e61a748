#!/usr/bin/env bash
# swan-swan-variants: strongSwan against strongSwan with the configurations the
# ours-vs-strongSwan scenarios give strongSwan, to prove that side of them:
#   ECDSA P-256 raw public keys, ECDSA P-256 X.509 certificates from a test CA (pki),
#   transport mode, and IKE aes128-sha256-modp2048.
# Each round: a initiates, both kernels hold the same SAs, ping through ESP, b deletes.
. "$(dirname "$0")/../lib.sh"
scenario_init swan-swan-variants
ESP_PROPOSALS=aes256-sha512
check "P-256 keys generated (pki)" make_ecdsa_keys "$W/keys"
check "CA and certificates generated (pki)" make_ca_certs "$W/certs"

round() {  # round LABEL CREDDIR: uses AUTH, MODE, IKE_PROPOSALS
  say "---- round $1: auth ${AUTH}, ${MODE} mode, IKE ${IKE_PROPOSALS}"
  net_up || { fail "network namespaces"; return; }
  rm -rf "$W/a/swanctl" "$W/b/swanctl"
  sw_conf a; sw_conf b
  if [ -n "$2" ]; then sw_creds a "$2"; sw_creds b "$2"; fi
  if check "charon a started" sw_start a && check "charon b started" sw_start b &&
     check "a initiates" swc a --initiate --child net --timeout 60; then
    check "$1: both kernels hold the same ESP SAs" sas_match
    check "$1: SAs are in $MODE mode" sas_mode_is $NSA
    check "$1: ping a -> b through ESP" ping_mode a
    check "$1: b deletes" swc b --terminate --ike lab --timeout 30
    wait_for 15 "$1: no SAs left in $NSA" no_sas $NSA
    wait_for 15 "$1: no SAs left in $NSB" no_sas $NSB
  fi
  daemon_stop "$W/a"; daemon_stop "$W/b"
}

AUTH=pubkey MODE=tunnel IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 round rawkey "$W/keys"
check "rawkey: b verified a's ECDSA signature" \
  grep -q "authentication of 'a.test' with ECDSA.*successful" "$W/b/charon.log"
AUTH=cert MODE=tunnel IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 round x509 "$W/certs"
check "x509: b received a's certificate" \
  grep -q 'received end entity cert "C=XX, O=ike interop lab, CN=a.test"' "$W/b/charon.log"
AUTH=psk MODE=transport IKE_PROPOSALS=aes256gcm16-prfsha256-x25519 round transport ""
AUTH=psk MODE=tunnel IKE_PROPOSALS=aes128-sha256-modp2048 round modp2048 ""
check "modp2048: the proposal was selected" \
  grep -q "selected proposal: IKE:AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048" "$W/b/charon.log"
scenario_exit
