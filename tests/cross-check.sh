#!/usr/bin/env bash
# Compile the whole workspace (all targets, clippy with -D warnings) for the BSDs,
# so that the FreeBSD (Capsicum, sockets, PF_KEY dialect) and OpenBSD (pledge,
# unveil, per-socket IPsec levels) code paths at least build and lint cleanly.
# Nothing here runs on a BSD kernel: that needs a BSD machine.
#
#   FreeBSD: Rust's tier-2 target, `rustup target add x86_64-unknown-freebsd`.
#   OpenBSD: tier 3, no prebuilt std: nightly with rust-src and -Zbuild-std
#            (cargo check; a warning in our crates fails it).
#
# Each check needs its toolchain; when one is missing the script says so in a
# NOT CHECKED line (these are compile checks, not test suites) and goes on.
# Exit status: 1 if a check that could run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}/cross
rc=0
# clippy where the toolchain has it, else a plain check (still catches what does not build).
# Only the stable toolchain lints: nightly's clippy grows new lints that our
# standard (stable clippy -D warnings) does not have, so nightly only checks.
lint() {
  local tc=$1; shift
  if [ -z "$tc" ] && cargo clippy --version >/dev/null 2>&1; then
    CARGO_TARGET_DIR=$target_dir cargo $tc clippy "$@" --workspace --all-targets -- -D warnings
  else
    echo "(cargo check only${tc:+ with $tc})"
    # Warnings in our crates fail the check. (Not through RUSTFLAGS=-Dwarnings:
    # with -Zbuild-std that would apply to the standard library too.)
    local out
    out=$(CARGO_TARGET_DIR=$target_dir cargo $tc check "$@" --workspace --all-targets 2>&1)
    local st=$?
    echo "$out"
    [ $st = 0 ] && ! echo "$out" | grep -Eq '^warning: `(ike-[a-z]+|helper)` .*generated [0-9]+ warning'
  fi
}

if rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-freebsd; then
  if lint "" --target x86_64-unknown-freebsd; then
    echo "cross-check FreeBSD: PASS"
  else
    echo "cross-check FreeBSD: FAIL"; rc=1
  fi
else
  echo "cross-check FreeBSD: NOT CHECKED (rustup target add x86_64-unknown-freebsd)"
fi

if rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  if lint +nightly -Zbuild-std --target x86_64-unknown-openbsd; then
    echo "cross-check OpenBSD: PASS"
  else
    echo "cross-check OpenBSD: FAIL"; rc=1
  fi
else
  echo "cross-check OpenBSD: NOT CHECKED (rustup component add rust-src --toolchain nightly)"
fi
exit $rc
