#!/usr/bin/env bash
# tests/interop/run.sh - run interop scenarios inside the kernel lab.
#
#   tests/interop/run.sh [--timeout SEC] NAME...     run these scenarios (one VM for all)
#   tests/interop/run.sh --list                      list the scenarios
#   tests/interop/run.sh --guest NAME...             (inside a VM or a disposable root host)
#
# Each scenario is tests/interop/scenarios/NAME.sh. For each one this prints
#   scenario NAME: PASS (12 s)     or     scenario NAME: FAIL (40 s)
# and on failure both daemons' logs. Exit status: 0 when all passed.
# Results (configs, logs, captures) end up in tests/kernel-lab/out/interop/NAME/.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SCEN=$HERE/scenarios
PER_SCENARIO=${INTEROP_SCENARIO_TIMEOUT:-600}

list() { for f in "$SCEN"/*.sh; do n=${f##*/}; echo "${n%.sh}"; done; }

if [ "${1:-}" = --list ]; then list; exit 0; fi
if [ "${1:-}" != --guest ]; then
  VM_TIMEOUT=
  if [ "${1:-}" = --timeout ]; then VM_TIMEOUT=$2; shift 2; fi
  [ $# -gt 0 ] || { echo "usage: $0 [--timeout SEC] NAME... | --list" >&2; exit 2; }
  for n in "$@"; do [ -x "$SCEN/$n.sh" ] || { echo "no scenario '$n' (see --list)" >&2; exit 2; }; done
  exec "$HERE/../kernel-lab/run.sh" --timeout "${VM_TIMEOUT:-$((60 + PER_SCENARIO * $#))}" \
    --env IKE_BIN --env RUST_LOG --env IKE_KERNEL --env INTEROP_SCENARIO_TIMEOUT --env RW_CYCLES \
    -- "$0" --guest "$@"
fi
shift

modprobe -a af_key esp4 xfrm_user veth || { echo "cannot load the IPsec modules"; exit 1; }
# Warm-up: the first PF_KEY REGISTER after boot makes the kernel load its crypto modules,
# which takes tens of seconds under TCG; without this the first scenario's daemon would
# spend its negotiation timeouts waiting for the kernel.
t0=$(date +%s)
python3 -S "$HERE/../kernel-lab/pfkey-register.py" > /dev/null ||
  { echo "PF_KEY warm-up REGISTER failed"; exit 1; }
echo "PF_KEY warm-up: $(( $(date +%s) - t0 )) s"
# The first SA with a given cipher or MAC makes the kernel instantiate (and load modules
# for) that transform, which under TCG can outlast the daemons' 10 s kernel timeout and
# fail a scenario's first install; one throw-away SA per algorithm the scenarios use
# does it before any daemon starts.
t0=$(date +%s)
k16=000102030405060708090a0b0c0d0e0f k32=${k16}101112131415161718191a1b1c1d1e1f
warm=0
for alg in "enc cbc(aes) 0x$k16 auth-trunc hmac(sha1) 0x${k16}10111213 96" \
           "enc cbc(aes) 0x$k32 auth-trunc hmac(sha256) 0x$k32 128" \
           "enc cbc(aes) 0x$k32 auth-trunc hmac(sha384) 0x$k32$k16 192" \
           "enc cbc(aes) 0x$k32 auth-trunc hmac(sha512) 0x$k32$k32 256" \
           "aead rfc4106(gcm(aes)) 0x${k32}01020304 128" \
           "aead rfc7539esp(chacha20,poly1305) 0x${k32}01020304 128"; do
  warm=$((warm + 1))
  # shellcheck disable=SC2086
  ip xfrm state add src 192.0.2.250 dst 192.0.2.251 proto esp spi $((0x4000 + warm)) \
    mode tunnel $alg || echo "warm-up: no SA with: $alg"
done
ip xfrm state flush || true
echo "ESP transform warm-up: $(( $(date +%s) - t0 )) s"
RESULTS=${INTEROP_OUT:-${KLAB_OUT:-/tmp}/interop}
FAILED=() SUMMARY=()
for n in "$@"; do
  echo; echo "######## scenario $n"
  t0=$(date +%s)
  if timeout -k 5 "$PER_SCENARIO" "$SCEN/$n.sh"; then res=PASS; else res=FAIL; fi
  line="scenario $n: $res ($(( $(date +%s) - t0 )) s)"
  echo "$line"; SUMMARY+=("$line")
  if [ $res = FAIL ]; then
    FAILED+=("$n")
    for f in "$RESULTS/$n"/a/*.log "$RESULTS/$n"/a/daemon.stdout "$RESULTS/$n"/b/*.log "$RESULTS/$n"/b/daemon.stdout; do
      [ -s "$f" ] || continue
      echo "----- ${f#"$RESULTS"/} (last 150 lines)"; tail -n 150 "$f"
    done
  fi
done
echo; echo "######## summary"
printf '%s\n' "${SUMMARY[@]}"
[ ${#FAILED[@]} = 0 ]
