#!/bin/sh
# Builds and runs one fuzz target on stable Rust, without cargo-fuzz:
# libfuzzer-sys links libFuzzer, and the sanitizer-coverage passes are
# stable -C options. (No AddressSanitizer: that needs nightly; the crate
# forbids unsafe code, and overflow checks and debug assertions are on.)
#   fuzz/run.sh wire_message 600      # target, seconds
set -eu
target=${1:-wire_message}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
# An explicit --target keeps RUSTFLAGS away from build scripts, which must
# not be instrumented (nothing would link them against libFuzzer).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --target "$host" --bin "$target"
# Seeds: the captured messages of the test vectors, as binary.
mkdir -p "corpus/$target" artifacts
if [ "$target" = config_parser ]; then
    # Seeds: the example configurations.
    for f in ../etc/ike.conf ../etc/examples/*.conf; do
        cp "$f" "corpus/$target/seed-$(basename "$f")"
    done
elif [ "$target" = engine_responder ]; then
    # Seeds: scripts (see the target's step()): two initiators each doing
    # IKE_SA_INIT and IKE_AUTH (one with a child, fragmented), then an
    # INFORMATIONAL, a CREATE_CHILD_SA, time steps.
    printf '\000\000\001\001\001\000\002\001\003' > "corpus/$target/seed-two-inits"
    printf '\000\000\001\001\001\000\002\002\000\003\003\000\001\002' > "corpus/$target/seed-auth"
    printf '\000\001\001\001\001\000\000\002\002\003\000\003\003\000\003\002\004\000\000\000\000\001\002\000\002\007\377\007\377' > "corpus/$target/seed-child"
elif [ "$target" = ipc_recv ] || [ "$target" = broker_requests ]; then
    # Seeds: valid encoded messages, written by the target itself (they
    # follow the message types and the IPC version of this tree).
    IKE_FUZZ_WRITE_SEEDS="corpus/$target" "$CARGO_TARGET_DIR/$host/release/$target"
elif [ "$target" = x509_verify ]; then
    # Seeds: each test certificate alone and with the intermediate CA after it,
    # in the target's format (2-byte big-endian length, then the DER).
    d=../ike-proto/tests/data/x509
    part() { printf "%04x" "$(wc -c < "$1")" | xxd -r -p; cat "$1"; }
    for f in "$d"/*.crt.der; do
        part "$f" > "corpus/$target/seed-$(basename "$f" .crt.der)"
        { part "$f"; part "$d/sub.crt.der"; } > "corpus/$target/seed-$(basename "$f" .crt.der)-sub"
    done
else
    for f in ../ike-proto/tests/data/*/[0-9]*.hex ../ike-proto/tests/data/*/decrypted/*.hex; do
        grep -v '^#' "$f" | tr -d ' \n' | xxd -r -p > "corpus/$target/seed-$(basename "$f" .hex)"
    done
fi
exec "$CARGO_TARGET_DIR/$host/release/$target" -max_total_time="$seconds" -artifact_prefix=artifacts/ \
    -print_final_stats=1 "corpus/$target"
