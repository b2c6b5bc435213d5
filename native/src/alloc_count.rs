//! A counting global allocator (feature `alloc-count`): it forwards to the system allocator
//! and counts, per thread, the bytes allocated, so [`crate::profile`] scopes can report the
//! bytes allocated inside them (`alloc_bytes` in the profile table).
//!
//! Install it in your binary:
//! ```ignore
//! #[global_allocator]
//! static ALLOC: perfopt::alloc_count::CountingAlloc = perfopt::alloc_count::CountingAlloc;
//! ```
//! Without it installed, [`thread_allocated`] stays at zero and scopes report 0 bytes.
#![allow(unsafe_code)] // A GlobalAlloc is an unsafe trait; each block below says why it holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // `const` and a plain Cell: reading it never allocates, so the allocator may use it.
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

fn add(bytes: usize) {
    // `try_with`: during thread teardown the slot may be gone; then the bytes go uncounted.
    let _ = ALLOCATED.try_with(|c| c.set(c.get().wrapping_add(bytes as u64)));
}

/// Bytes allocated by this thread since it started (wrapping), when [`CountingAlloc`] is
/// the global allocator.
pub fn thread_allocated() -> u64 {
    ALLOCATED.try_with(Cell::get).unwrap_or(0)
}

/// The system allocator, counting allocated bytes per thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; counting only touches a
// thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: forwarded with the caller's (valid, non-zero-size) layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size.saturating_sub(layout.size()));
        // SAFETY: `ptr`/`layout` come from this allocator (i.e. `System`); `new_size` is the
        // caller's, valid per the `GlobalAlloc::realloc` contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
