//! Open-addressing hash index over a static name table, built by `tools/generate.py`.
//!
//! Binary search over 4482 AGL names costs ~13 string compares and mispredicts; the index finds
//! a name in about one compare. The generator uses the same hash and records the longest probe
//! sequence, so a lookup probes a bounded number of slots.

/// A slot table of indices into a parallel name table; `EMPTY` marks free slots.
#[derive(Debug)]
pub(crate) struct NameIndex {
    /// Power-of-two number of slots, each an index into the name table or `EMPTY`.
    pub(crate) slots: &'static [u16],
    /// Longest probe distance of any stored name (0 = every name sits in its home slot).
    pub(crate) max_probe: u16,
}

pub(crate) const EMPTY: u16 = u16::MAX;

/// FNV-1a, then Fibonacci hashing takes the top `bits` bits (FNV's low bits mix poorly).
fn home_slot(name: &[u8], bits: u32) -> usize {
    let h = name.iter().fold(0x811C_9DC5_u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    // `bits` is in 1..=16 (checked by the caller), so the shift is in 16..=31.
    (h.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
}

impl NameIndex {
    /// Index of `name` in the table this index was built for; `name_at(i)` reads entry `i`.
    pub(crate) fn find<'a>(
        &self,
        name_at: impl Fn(usize) -> Option<&'a str>,
        name: &str,
    ) -> Option<usize> {
        let len = self.slots.len();
        if !len.is_power_of_two() {
            return None;
        }
        let bits = len.trailing_zeros();
        if !(1..=16).contains(&bits) {
            return None;
        }
        let mask = len - 1;
        let home = home_slot(name.as_bytes(), bits);
        for probe in 0..=usize::from(self.max_probe) {
            let slot = *self.slots.get(home.wrapping_add(probe) & mask)?;
            if slot == EMPTY {
                return None;
            }
            let i = usize::from(slot);
            if name_at(i) == Some(name) {
                return Some(i);
            }
        }
        None
    }
}
