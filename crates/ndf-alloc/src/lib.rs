//! A counting global allocator: [`CountingAllocator`] forwards every call to
//! the system allocator (or mimalloc, with the `mimalloc` feature) and keeps process-wide counters,
//! read with [`stats`].
//!
//! A binary opts in with
//!
//! ```
//! #[global_allocator]
//! static ALLOCATOR: ndf_alloc::CountingAllocator = ndf_alloc::CountingAllocator;
//!
//! fn main() {
//!     assert!(ndf_alloc::stats().is_counting());
//! }
//! ```
//!
//! In a process whose global allocator is another one (the tests of other crates, say) every
//! counter stays zero: [`HeapStats::is_counting`] tells the two cases apart.
//!
//! Cost: a handful of relaxed atomic read-modify-writes per call, no locks, and nothing in here
//! allocates (which would recurse into the allocator). That is about 8% of the CPU time of an
//! allocation-heavy extraction (measured in docs/performance.md), so a process that does not
//! serve `/debug/heap` (a batch run, an extraction worker) calls [`stop_counting`] first and
//! pays one relaxed load per call instead.

// The workspace forbids unsafe code; this crate only allows it on the GlobalAlloc impl.
#![deny(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

/// The allocator that does the work: mimalloc with the `mimalloc` feature, else the system's.
#[cfg(feature = "mimalloc")]
const BACKEND: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(not(feature = "mimalloc"))]
const BACKEND: std::alloc::System = std::alloc::System;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};

use serde::Serialize;

/// Cleared for good by [`stop_counting`]; one-way, so every counted allocation's release is
/// counted too and `current_bytes` stays consistent.
static COUNTING: AtomicBool = AtomicBool::new(true);
static CURRENT_BYTES: AtomicU64 = AtomicU64::new(0);
static PEAK_BYTES: AtomicU64 = AtomicU64::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static DEALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static REALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static TOTAL_ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);

/// The system allocator plus counters. Install it with `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

/// A snapshot of the counters since the process started.
///
/// Each counter is read on its own (relaxed), so a snapshot taken while other threads
/// allocate is not exact across fields; every field is exact on its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HeapStats {
    /// Bytes currently allocated (requested sizes, not the allocator's rounding).
    pub current_bytes: u64,
    /// Highest `current_bytes` seen.
    pub peak_bytes: u64,
    /// Calls to `alloc` and `alloc_zeroed` that succeeded.
    pub allocations: u64,
    /// Calls to `dealloc`.
    pub deallocations: u64,
    /// Calls to `realloc` that succeeded (neither an allocation nor a deallocation above).
    pub reallocations: u64,
    /// Sum of all bytes ever allocated, growth by `realloc` included.
    pub total_allocated_bytes: u64,
}

impl HeapStats {
    /// Whether the counting allocator is the process's global allocator: any Rust program
    /// allocates before `main`, so zero allocations means the counters are not wired in.
    pub fn is_counting(&self) -> bool {
        self.allocations > 0
    }
}

/// Stop counting for the rest of the process: the counters keep the values they have, and
/// each allocator call costs one relaxed load on top of the backing allocator. For processes
/// that never report heap statistics.
pub fn stop_counting() {
    COUNTING.store(false, Relaxed);
}

/// Whether calls are still counted (see [`stop_counting`]).
pub fn is_counting_enabled() -> bool {
    COUNTING.load(Relaxed)
}

/// The counters now. All zero when [`CountingAllocator`] is not the global allocator.
pub fn stats() -> HeapStats {
    let current_bytes = CURRENT_BYTES.load(Relaxed);
    HeapStats {
        current_bytes,
        // The peak is updated just after the current count, so a reader can see it lag.
        peak_bytes: PEAK_BYTES.load(Relaxed).max(current_bytes),
        allocations: ALLOCATIONS.load(Relaxed),
        deallocations: DEALLOCATIONS.load(Relaxed),
        reallocations: REALLOCATIONS.load(Relaxed),
        total_allocated_bytes: TOTAL_ALLOCATED_BYTES.load(Relaxed),
    }
}

/// `usize` is at most 64 bits on every target Rust supports; saturate rather than panic.
fn as_u64(size: usize) -> u64 {
    u64::try_from(size).unwrap_or(u64::MAX)
}

fn add_current(bytes: u64) {
    let now = CURRENT_BYTES.fetch_add(bytes, Relaxed).wrapping_add(bytes);
    PEAK_BYTES.fetch_max(now, Relaxed);
}

fn record_allocation(size: usize) {
    if !COUNTING.load(Relaxed) {
        return;
    }
    let bytes = as_u64(size);
    ALLOCATIONS.fetch_add(1, Relaxed);
    TOTAL_ALLOCATED_BYTES.fetch_add(bytes, Relaxed);
    add_current(bytes);
}

fn record_deallocation(size: usize) {
    if !COUNTING.load(Relaxed) {
        return;
    }
    DEALLOCATIONS.fetch_add(1, Relaxed);
    CURRENT_BYTES.fetch_sub(as_u64(size), Relaxed);
}

fn record_reallocation(old_size: usize, new_size: usize) {
    if !COUNTING.load(Relaxed) {
        return;
    }
    REALLOCATIONS.fetch_add(1, Relaxed);
    if new_size >= old_size {
        let growth = as_u64(new_size - old_size);
        TOTAL_ALLOCATED_BYTES.fetch_add(growth, Relaxed);
        add_current(growth);
    } else {
        CURRENT_BYTES.fetch_sub(as_u64(old_size - new_size), Relaxed);
    }
}

// SAFETY: every method forwards its arguments unchanged to `BACKEND` (the system allocator
// or mimalloc), whose implementation
// meets the `GlobalAlloc` contract, and returns its result unchanged; the bookkeeping around
// the call only touches atomics, never allocates and cannot panic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero size), which is
        // the one `GlobalAlloc::alloc` needs.
        let ptr = unsafe { BACKEND.alloc(layout) };
        if !ptr.is_null() {
            record_allocation(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`: the caller's contract is `GlobalAlloc::alloc_zeroed`'s.
        let ptr = unsafe { BACKEND.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record_allocation(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from `BACKEND`,
        // which did every allocation) with this `layout`.
        unsafe { BACKEND.dealloc(ptr, layout) };
        record_deallocation(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (hence from `BACKEND`)
        // with `layout`, and that `new_size` is non-zero and does not overflow when rounded up
        // to the alignment: exactly `GlobalAlloc::realloc`'s contract.
        let new_ptr = unsafe { BACKEND.realloc(ptr, layout, new_size) };
        // On failure the old block is untouched and still allocated: nothing changes.
        if !new_ptr.is_null() {
            record_reallocation(layout.size(), new_size);
        }
        new_ptr
    }
}
