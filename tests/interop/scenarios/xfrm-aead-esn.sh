#!/usr/bin/env bash
# xfrm-aead-esn (issue 18): our daemon (a) through the XFRM back end (--pfkey xfrm)
# against strongSwan (b, whose charon installs through XFRM itself), with the ESP
# transforms Linux PF_KEY cannot install:
#   round 1: AES-256-GCM-16 (rfc4106(gcm(aes)), 128-bit ICV), initiated by us;
#   round 2: AES-128-CBC + HMAC-SHA2-256-128 with extended sequence numbers,
#            initiated by strongSwan;
#   round 3: ChaCha20-Poly1305 (rfc7539esp(chacha20,poly1305)), initiated by us;
#   round 4: the same daemon through PF_KEY (--pfkey kernel) configured with AES-GCM
#            first and AES-CBC + HMAC-SHA2-512 second, strongSwan accepting either:
#            ike-net leaves GCM out of its proposal (the broker's Ready says af_key
#            cannot install it; one log line names it) and CBC is installed.
# Each round: both kernels hold the same SAs (SPIs and keys), `ip xfrm state` shows the
# algorithm (and ESN), ping both ways through ESP, and `ike-ctl show sa` shows the
# kernel's byte counters of the child (GETSA through the interface in use).
. "$(dirname "$0")/../lib.sh"
scenario_init xfrm-aead-esn
export IKE_KERNEL=xfrm
AUTH=psk MODE=tunnel
IKE_PROPOSALS=aes256gcm16-prfsha256-x25519
OURS_IKESA="enc aes-256-gcm prf hmac-sha2-256 group curve25519"

# counters_seen: ike-ctl show sa --json on a shows bytes in and out of a child (read from
# the kernel through the broker when the command is given)
counters_seen() {
  ours_ctl a show sa --json | tee "$W/a/show-sa.json" |
    grep -Eq '"bytes_in": *[1-9]' && grep -Eq '"bytes_out": *[1-9]' "$W/a/show-sa.json"
}

# state_shows NS ERE: `ip xfrm state` in NS has a line matching ERE (printed)
state_shows() {
  ip -n "$1" xfrm state | tee "$W/xfrm-state-$1.txt" | grep -E -- "$2"
}

aead_round() {
  local who=$1 re_alg=$2 re_extra=$3 re_log=${re_log:-}
  say "---- round: initiated by $who, ESP $ESP_PROPOSALS"
  if ours_vs_swan_setup "$who"; then
    check "both kernels hold the same ESP SAs (SPIs, keys)" sas_match
    check "our kernel: $re_alg" state_shows $NSA "$re_alg"
    check "strongSwan's kernel: $re_alg" state_shows $NSB "$re_alg"
    [ -z "$re_extra" ] || check "our kernel: $re_extra" state_shows $NSA "$re_extra"
    check "ping a -> b through ESP" ping_mode a
    check "ping b -> a through ESP" ping_mode b
    check "ike-ctl show sa: the child's kernel byte counters" counters_seen
    [ -z "$re_log" ] || check "our log: $re_log" grep -Eq -- "$re_log" "$W/a/daemon.stdout"
    check "strongSwan deletes the IKE SA" swc b --terminate --ike lab --timeout 30
    wait_for 15 "our side removed its SAs ($NSA)" no_sas $NSA
    wait_for 15 "strongSwan's SAs gone ($NSB)" no_sas $NSB
  fi
  daemon_stop "$W/a"; daemon_stop "$W/b"
}

ESP_PROPOSALS=aes256gcm16 OURS_CHILDSA="enc aes-256-gcm"
aead_round ours 'aead rfc4106\(gcm\(aes\)\) 0x[0-9a-f]{72} 128' ''

ESP_PROPOSALS=aes128-sha256-esn OURS_CHILDSA="enc aes-128 auth hmac-sha2-256 esn"
aead_round swan 'auth-trunc hmac\(sha256\) 0x[0-9a-f]{64} 128' 'flag .*esn'

ESP_PROPOSALS=chacha20poly1305 OURS_CHILDSA="enc chacha20-poly1305"
aead_round ours 'aead rfc7539esp\(chacha20,poly1305\) 0x[0-9a-f]{72} 128' ''

export IKE_KERNEL=pfkey
ESP_PROPOSALS=aes256gcm16,aes256-sha512
OURS_CHILDSA="enc aes-256-gcm childsa enc aes-256 auth hmac-sha2-512"
re_log='policy lab: the kernel interface cannot install aes-256-gcm' \
  aead_round ours 'enc cbc\(aes\) 0x[0-9a-f]{64}' 'auth-trunc hmac\(sha512\) 0x[0-9a-f]{128} 256'
scenario_exit
