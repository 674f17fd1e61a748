//! A global allocator that counts live heap bytes, for the memory tests
//! (`engine_memory.rs`, `engine_half_open_memory.rs`): each test binary
//! that declares `mod counting_alloc;` gets it as its `#[global_allocator]`
//! and reads [`live`] before and after building its SA population.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Live allocations by requested size (the last slot: every larger one),
/// for the heap profile `engine_memory.rs` prints: which sizes the bytes
/// per SA go to.
const SIZES: usize = 4097;
static BY_SIZE: [AtomicIsize; SIZES] = [const { AtomicIsize::new(0) }; SIZES];

/// The live heap bytes now.
pub fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

/// Live allocations per requested size now (index = size; the last slot
/// counts every allocation of that size or more).
#[allow(dead_code)] // not every test binary prints the profile
pub fn live_by_size() -> Vec<isize> {
    BY_SIZE.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

fn count(size: usize, delta: isize) {
    BY_SIZE[size.min(SIZES - 1)].fetch_add(delta, Ordering::Relaxed);
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// only addition is an atomic counter update, which cannot violate the
// allocator contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        count(l.size(), 1);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        count(l.size(), -1);
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        count(l.size(), -1);
        count(new, 1);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;
