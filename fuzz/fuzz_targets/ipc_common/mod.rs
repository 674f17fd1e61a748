//! Shared by the IPC fuzz targets (`ipc_recv`, `broker_requests`): the
//! input format (a list of packets), a counting allocator for the
//! allocation bound, and the seeds (valid encoded messages).
#![allow(dead_code)]

use ike_ipc::envelope::{self, Kind, MAX_MESSAGE};
use serde::Serialize;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

// ---- input format -------------------------------------------------------

/// One packet to put on a channel, built from one input record:
/// `flags (u8) | length (u16 BE) | bytes`. The flags let a short input make
/// long packets and sequences, so that the size bounds can be reached:
/// bit 0 pads with zeros to one byte over the packet cap (the kernel cuts
/// it: `Oversized`), bit 1 pads to exactly the cap, bits 2..4 send it 1 to
/// 8 times (fragments of 64 KiB, 8 of them, cross a 64 KiB bound), bits
/// 5..7 are left to the target (`op`).
pub struct Record {
    pub op: u8,
    pub repeat: usize,
    pub bytes: Vec<u8>,
}

pub fn records(mut data: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (flags, len, rest) = match data {
            [f, a, b, rest @ ..] => (*f, usize::from(u16::from_be_bytes([*a, *b])), rest),
            // A tail too short for a header is one plain packet.
            _ => (0, data.len(), data),
        };
        let take = len.min(rest.len());
        let mut bytes = rest[..take].to_vec();
        data = &rest[take..];
        if flags & 1 != 0 {
            bytes.resize(MAX_MESSAGE + 1, 0);
        } else if flags & 2 != 0 {
            bytes.resize(MAX_MESSAGE, 0);
        }
        out.push(Record {
            op: flags >> 5,
            repeat: usize::from((flags >> 2) & 7) + 1,
            bytes,
        });
    }
    out
}

/// The record that [`records`] turns back into `packet` (op 0, once).
pub fn record(op: u8, packet: &[u8]) -> Vec<u8> {
    let len = u16::try_from(packet.len()).expect("seed packets are short");
    let mut r = vec![op << 5];
    r.extend_from_slice(&len.to_be_bytes());
    r.extend_from_slice(packet);
    r
}

/// One value in one packet (kind One).
pub fn one<T: Serialize>(v: &T) -> Vec<u8> {
    envelope::encode(v).expect("seed values fit one packet")
}

/// Several values in one Batch packet.
pub fn batch<T: Serialize>(vs: &[T]) -> Vec<u8> {
    let mut p = Vec::new();
    envelope::push_header(&mut p, Kind::Batch);
    for v in vs {
        p.extend(envelope::payload(v).expect("seed values encode"));
    }
    p
}

/// One value cut into `n` fragments (More..., Last), as a large value
/// travels, but small enough for a seed.
pub fn fragments<T: Serialize>(v: &T, n: usize) -> Vec<Vec<u8>> {
    let body = envelope::payload(v).expect("seed values encode");
    let size = body.len().div_ceil(n).max(1);
    let parts: Vec<&[u8]> = body.chunks(size).collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut p = Vec::new();
            let kind = if i + 1 == parts.len() {
                Kind::Last
            } else {
                Kind::More
            };
            envelope::push_header(&mut p, kind);
            p.extend_from_slice(c);
            p
        })
        .collect()
}

/// `IKE_FUZZ_WRITE_SEEDS=dir target`: writes the seeds into `dir` and
/// exits (fuzz/run.sh does this before each run of these targets).
pub fn maybe_write_seeds(seeds: impl FnOnce() -> Vec<(String, Vec<u8>)>) {
    let Ok(dir) = std::env::var("IKE_FUZZ_WRITE_SEEDS") else {
        return;
    };
    std::fs::create_dir_all(&dir).expect("seed directory");
    let all = seeds();
    for (name, bytes) in &all {
        std::fs::write(format!("{dir}/seed-{name}"), bytes).expect("seed file");
    }
    eprintln!("{} seeds written to {dir}", all.len());
    std::process::exit(0);
}

/// `IKE_FUZZ_VERBOSE=1`: the targets say what each input did (to check
/// that the seeds reach what they are meant to).
pub fn verbose() -> bool {
    static V: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *V.get_or_init(|| std::env::var_os("IKE_FUZZ_VERBOSE").is_some())
}

// ---- allocation accounting ----------------------------------------------

/// The system allocator, counting live bytes and their peak (the fuzzer
/// runs one input at a time on one thread, so one global pair is exact).
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grow(l.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grow(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            LIVE.fetch_sub(l.size(), Ordering::Relaxed);
            grow(new);
        }
        q
    }
}

fn grow(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

/// Bytes allocated and not freed.
pub fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Starts a new peak measurement at the current level.
pub fn reset_peak() {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// The highest level since [`reset_peak`].
pub fn peak() -> usize {
    PEAK.load(Ordering::Relaxed)
}
