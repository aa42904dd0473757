//! Runtime-detected SIMD byte kernels for the PDF engine, each with a portable scalar path that
//! gives the same result on every input.
//!
//! A kernel is kept here only where a benchmark on the dev corpus's real data shows that it
//! pays (`cargo bench -p ndf-simd --bench kernels`, and docs/performance/simd.md for what was tried
//! and dropped). Today that is [`hex::decode_run`]: runs of hexadecimal digit pairs, for the
//! ASCIIHexDecode filter.
//!
//! Each kernel picks the best [`Level`] the CPU supports, detected once
//! (`is_x86_feature_detected!`), unless the scalar path is forced with [`set_force_scalar`] or
//! the environment variable `NDF_SIMD=scalar` (`NDF_SIMD=sse2` caps the level), read at the
//! first call, which tests and benchmarks use to compare. Every kernel also has an
//! `*_at(level, …)` form that runs one given level (capped at what the CPU supports), so
//! property tests compare the paths without touching global state.
//!
//! Unsafe code is denied crate-wide and allowed only on the few functions that load vectors
//! through raw pointers or call a `#[target_feature]` function after runtime detection; every
//! unsafe block states why it is sound.

#![deny(unsafe_code)]

use std::sync::atomic::{AtomicU8, Ordering};

pub mod hex;

/// An instruction-set level a kernel can run at, ordered from the plainest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Portable Rust, one byte (or one group) at a time.
    Scalar,
    /// 16-byte vectors (x86-64 baseline SSE2).
    Sse2,
    /// 32-byte vectors (AVX2).
    Avx2,
}

impl Level {
    const ALL: [Level; 3] = [Level::Scalar, Level::Sse2, Level::Avx2];

    fn from_u8(v: u8) -> Level {
        Level::ALL
            .get(usize::from(v))
            .copied()
            .unwrap_or(Level::Scalar)
    }

    /// A short lower-case name (`scalar`, `sse2`, `avx2`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Scalar => "scalar",
            Level::Sse2 => "sse2",
            Level::Avx2 => "avx2",
        }
    }
}

const UNKNOWN: u8 = u8::MAX;

/// What the CPU supports (cached after the first call).
static DETECTED: AtomicU8 = AtomicU8::new(UNKNOWN);
/// The level in use: the detected one, or Scalar when forced (cached after the first call).
static ACTIVE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// The best level this CPU supports, whatever is forced.
pub fn detected() -> Level {
    let v = DETECTED.load(Ordering::Relaxed);
    if v != UNKNOWN {
        return Level::from_u8(v);
    }
    let l = detect();
    DETECTED.store(l as u8, Ordering::Relaxed);
    l
}

/// Proof that this CPU runs AVX2. Only [`Avx2::detect`] makes one, from runtime detection, so
/// a kernel that takes it may call `#[target_feature(enable = "avx2")]` code: its callers
/// cannot reach the AVX2 path without the check (a safe function would not say so).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2(());

#[cfg(target_arch = "x86_64")]
impl Avx2 {
    /// The token when [`detected`] (from `is_x86_feature_detected!`) is AVX2.
    #[inline]
    pub(crate) fn detect() -> Option<Avx2> {
        (detected() >= Level::Avx2).then_some(Avx2(()))
    }
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Level {
    if std::arch::is_x86_feature_detected!("avx2") {
        Level::Avx2
    } else {
        Level::Sse2
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Level {
    Level::Scalar
}

/// The level the kernels use now: [`detected`], unless the scalar path is forced by
/// [`set_force_scalar`] or `NDF_SIMD=scalar` (`NDF_SIMD=sse2` caps the level).
#[inline]
pub fn level() -> Level {
    let v = ACTIVE.load(Ordering::Relaxed);
    if v != UNKNOWN {
        return Level::from_u8(v);
    }
    init_active()
}

/// The cap set by `NDF_SIMD` (read each time: only at initialisation and when forcing).
fn env_cap() -> Level {
    match std::env::var("NDF_SIMD").as_deref() {
        Ok("scalar" | "off" | "0") => Level::Scalar,
        Ok("sse2") => Level::Sse2,
        _ => Level::Avx2,
    }
}

#[cold]
fn init_active() -> Level {
    let l = detected().min(env_cap());
    // A concurrent set_force_scalar wins over the environment.
    match ACTIVE.compare_exchange(UNKNOWN, l as u8, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => l,
        Err(now) => Level::from_u8(now),
    }
}

/// Forces the scalar path everywhere (`true`) or goes back to the detected level, capped by
/// `NDF_SIMD` (`false`). Meant for tests and benchmarks; it changes the level for the whole
/// process.
pub fn set_force_scalar(on: bool) {
    let l = if on {
        Level::Scalar
    } else {
        detected().min(env_cap())
    };
    ACTIVE.store(l as u8, Ordering::Relaxed);
}

/// Every level this CPU can run, from Scalar up (for tests that compare all paths).
pub fn supported_levels() -> Vec<Level> {
    let top = detected();
    Level::ALL.into_iter().filter(|&l| l <= top).collect()
}

/// `level` capped at what the CPU supports: the `*_at` kernels never run an unsupported path.
#[inline]
fn usable(level: Level) -> Level {
    level.min(detected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_and_capped() {
        assert!(Level::Scalar < Level::Sse2 && Level::Sse2 < Level::Avx2);
        let all = supported_levels();
        assert_eq!(all.first(), Some(&Level::Scalar));
        assert_eq!(all.last(), Some(&detected()));
        assert!(usable(Level::Avx2) <= detected());
        for l in Level::ALL {
            assert_eq!(Level::from_u8(l as u8), l);
        }
        assert_eq!(Level::from_u8(200), Level::Scalar);
        assert_eq!(Level::Avx2.name(), "avx2");
    }
}
