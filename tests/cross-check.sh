#!/usr/bin/env bash
# Compile and lint the whole workspace (all targets, clippy -D warnings) for
# FreeBSD and OpenBSD, so that the BSD-only code paths (Capsicum, pledge/unveil,
# their socket options, the PF_KEY dialects) build and lint as cleanly as the
# Linux ones. Nothing here runs on a BSD kernel: docs/bsd.md says, site by site,
# what was verified by reading the kernels' sources instead.
#
#   FreeBSD: Rust's tier-2 target (`rustup target add x86_64-unknown-freebsd`).
#   OpenBSD: tier 3, no prebuilt std: the stable toolchain's rust-src
#            (`rustup component add rust-src`) built with -Zbuild-std, which
#            RUSTC_BOOTSTRAP=1 unlocks on stable. Both checks use the stable
#            clippy, so they run exactly the lints of our Linux clippy run
#            (nightly clippy's newer lints once broke this check).
#
# Both checks are mandatory: a missing toolchain is a FAIL, not a skip
# (.ci/run installs both). Exit status 1 if either check did not PASS.
set -uo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}/cross
rc=0

lint() {
  CARGO_TARGET_DIR=$target_dir cargo clippy "$@" --workspace --all-targets -- -D warnings
}

if ! cargo clippy --version >/dev/null 2>&1; then
  echo "cross-check FreeBSD: FAIL (no clippy: rustup component add clippy)"
  echo "cross-check OpenBSD: FAIL (no clippy: rustup component add clippy)"
  exit 1
fi

if ! rustup target list --installed 2>/dev/null | grep -qx x86_64-unknown-freebsd; then
  echo "cross-check FreeBSD: FAIL (missing: rustup target add x86_64-unknown-freebsd)"
  rc=1
elif lint --target x86_64-unknown-freebsd; then
  echo "cross-check FreeBSD: PASS"
else
  echo "cross-check FreeBSD: FAIL"
  rc=1
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
  echo "cross-check OpenBSD: FAIL (missing: rustup component add rust-src)"
  rc=1
# -Zbuild-std compiles std from rust-src for the tier-3 target. Its warnings
# do not concern us: clippy's -D warnings applies to our crates only (cargo
# passes lint flags to workspace members, not to the rebuilt std).
elif RUSTC_BOOTSTRAP=1 lint -Zbuild-std --target x86_64-unknown-openbsd; then
  echo "cross-check OpenBSD: PASS"
else
  echo "cross-check OpenBSD: FAIL"
  rc=1
fi
exit $rc
