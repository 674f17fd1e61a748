#!/usr/bin/env bash
# The project's test command (README): unit, property and integration tests,
# then the end-to-end suites.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
cargo test --workspace
# A real kernel: Debian's kernel under qemu; PF_KEY, a manual ESP tunnel between two
# namespaces, pf-to-fd and pf-to-tcp against the kernel's PF_KEY (tests/kernel-lab/).
tests/kernel-lab/selftest.sh
# The interop harness proven with strongSwan on both sides, in the kernel lab
# (tests/interop/; the ours-vs-strongSwan scenarios join once the daemon negotiates).
tests/interop/run.sh swan-swan
