//! The counters, with the counting allocator installed as this test binary's global allocator.
//! One test function, so no other test thread allocates meanwhile; the harness may still
//! allocate a little, hence the `>=` bounds and the slack on the byte counts.

use std::hint::black_box;

use ndf_alloc::{CountingAllocator, stats};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const BLOCK: usize = 1 << 20;
const BLOCK_BYTES: u64 = BLOCK as u64;
/// What the harness threads might allocate or free between two snapshots.
const SLACK: u64 = 256 * 1024;

#[test]
fn counters_follow_allocations_frees_and_reallocations() {
    let start = stats();
    assert!(
        start.is_counting(),
        "no allocation counted before the test: {start:?}"
    );

    // alloc
    let block: Vec<u8> = black_box(Vec::with_capacity(BLOCK));
    let allocated = stats();
    assert!(allocated.allocations > start.allocations);
    assert!(allocated.total_allocated_bytes >= start.total_allocated_bytes + BLOCK_BYTES);
    assert!(allocated.current_bytes + SLACK >= start.current_bytes + BLOCK_BYTES);
    assert!(allocated.peak_bytes >= allocated.current_bytes);
    assert!(allocated.peak_bytes >= BLOCK_BYTES);

    // dealloc
    drop(black_box(block));
    let freed = stats();
    assert!(freed.deallocations > allocated.deallocations);
    assert!(freed.current_bytes + BLOCK_BYTES <= allocated.current_bytes + SLACK);
    assert!(
        freed.peak_bytes >= allocated.peak_bytes,
        "the peak never goes down"
    );

    // alloc_zeroed
    let zeroed: Vec<u8> = black_box(vec![0; BLOCK]);
    let zero_allocated = stats();
    assert!(zero_allocated.allocations > freed.allocations);
    assert!(zero_allocated.total_allocated_bytes >= freed.total_allocated_bytes + BLOCK_BYTES);
    assert!(zero_allocated.current_bytes + SLACK >= freed.current_bytes + BLOCK_BYTES);

    // realloc, growing: the growth counts as allocated bytes
    let mut growing = zeroed;
    growing.reserve_exact(2 * BLOCK);
    let mut growing = black_box(growing);
    let grown = stats();
    assert!(grown.reallocations > zero_allocated.reallocations);
    assert!(grown.total_allocated_bytes >= zero_allocated.total_allocated_bytes + 2 * BLOCK_BYTES);
    assert!(grown.current_bytes + SLACK >= zero_allocated.current_bytes + 2 * BLOCK_BYTES);

    // realloc, shrinking: current bytes fall, the total does not
    growing.truncate(16);
    growing.shrink_to_fit();
    let growing = black_box(growing);
    let shrunk = stats();
    assert!(shrunk.reallocations > grown.reallocations);
    assert!(shrunk.current_bytes + 3 * BLOCK_BYTES - 16 <= grown.current_bytes + SLACK);
    assert!(shrunk.total_allocated_bytes >= grown.total_allocated_bytes);

    drop(growing);
    let end = stats();
    assert!(end.deallocations > shrunk.deallocations);

    // stop_counting: later calls leave every counter as it was.
    assert!(ndf_alloc::is_counting_enabled());
    ndf_alloc::stop_counting();
    assert!(!ndf_alloc::is_counting_enabled());
    let stopped = stats();
    let block: Vec<u8> = black_box(Vec::with_capacity(BLOCK));
    drop(black_box(block));
    let after_stop = stats();
    assert_eq!(after_stop.allocations, stopped.allocations);
    assert_eq!(after_stop.deallocations, stopped.deallocations);
    assert_eq!(
        after_stop.total_allocated_bytes,
        stopped.total_allocated_bytes
    );
}
