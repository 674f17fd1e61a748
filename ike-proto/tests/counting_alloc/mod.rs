//! A global allocator that counts live heap bytes, for the memory tests
//! (`engine_memory.rs`, `engine_half_open_memory.rs`): each test binary
//! that declares `mod counting_alloc;` gets it as its `#[global_allocator]`
//! and reads [`live`] before and after building its SA population.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Live heap bytes.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The live heap bytes now.
pub fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; the
// only addition is an atomic counter update, which cannot violate the
// allocator contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;
