// The counting allocator is the one crate allowed unsafe code.

// ok: ndf-no-unsafe-outside-alloc
unsafe impl GlobalAlloc for Counting {}

fn f() -> u8 {
    // ok: ndf-no-unsafe-outside-alloc
    unsafe { *ptr }
}
