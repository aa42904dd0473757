//! `GET /debug/heap`: the counting allocator's counters and the kernel's view of the process.

use ndf_alloc::HeapStats;
use serde::Serialize;

/// The `/debug/heap` document.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HeapReport {
    /// Whether the binary installed `ndf_alloc::CountingAllocator`; when false, every
    /// `allocator` counter is zero and means nothing.
    pub(crate) counting_allocator: bool,
    pub(crate) allocator: HeapStats,
    pub(crate) process: ProcessMemory,
}

/// From `/proc/self/status`; each field is null where that file or line is missing
/// (every field on systems other than Linux).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct ProcessMemory {
    /// Resident set size (VmRSS).
    pub(crate) vm_rss_bytes: Option<u64>,
    /// Peak resident set size (VmHWM).
    pub(crate) vm_hwm_bytes: Option<u64>,
    /// Data + stack segments (VmData).
    pub(crate) vm_data_bytes: Option<u64>,
    /// Virtual memory size (VmSize).
    pub(crate) vm_size_bytes: Option<u64>,
    /// Threads in the process.
    pub(crate) threads: Option<u64>,
}

pub(crate) fn report() -> HeapReport {
    let allocator = ndf_alloc::stats();
    HeapReport {
        counting_allocator: allocator.is_counting(),
        allocator,
        process: process_memory(),
    }
}

#[cfg(target_os = "linux")]
fn process_memory() -> ProcessMemory {
    use std::io::Read as _;
    // The file is a few KiB; the bound only guards against a surprise.
    const MAX_STATUS_BYTES: u64 = 64 * 1024;
    let mut bytes = Vec::new();
    let read = std::fs::File::open("/proc/self/status")
        .and_then(|file| file.take(MAX_STATUS_BYTES).read_to_end(&mut bytes));
    match read {
        Ok(_) => parse_status(&String::from_utf8_lossy(&bytes)),
        Err(error) => {
            tracing::debug!(%error, "cannot read the process status");
            ProcessMemory::default()
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn process_memory() -> ProcessMemory {
    ProcessMemory::default()
}

/// Parses the lines of `/proc/<pid>/status` this report uses (`VmRSS:  1234 kB`, `Threads: 9`).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_status(status: &str) -> ProcessMemory {
    let mut memory = ProcessMemory::default();
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "VmRSS" => &mut memory.vm_rss_bytes,
            "VmHWM" => &mut memory.vm_hwm_bytes,
            "VmData" => &mut memory.vm_data_bytes,
            "VmSize" => &mut memory.vm_size_bytes,
            "Threads" => {
                memory.threads = value.trim().parse().ok();
                continue;
            }
            _ => continue,
        };
        *slot = kib_to_bytes(value);
    }
    memory
}

/// `"   1234 kB"` → 1263616; anything else → None.
fn kib_to_bytes(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let number: u64 = parts.next()?.parse().ok()?;
    match (parts.next(), parts.next()) {
        (Some("kB"), None) => number.checked_mul(1024),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_become_bytes() {
        let status = "Name:\tndf\nVmPeak:\t  999 kB\nVmSize:\t  2048 kB\nVmHWM:\t   300 kB\n\
                      VmRSS:\t   256 kB\nVmData:\t  1000 kB\nThreads:\t7\nSigQ:\t0/1\n";
        assert_eq!(
            parse_status(status),
            ProcessMemory {
                vm_rss_bytes: Some(256 * 1024),
                vm_hwm_bytes: Some(300 * 1024),
                vm_data_bytes: Some(1000 * 1024),
                vm_size_bytes: Some(2048 * 1024),
                threads: Some(7),
            }
        );
    }

    #[test]
    fn odd_lines_are_null_not_errors() {
        let status = "VmRSS: lots kB\nVmHWM: 12 MB\nVmData: 18446744073709551615 kB\nThreads\n:\n";
        assert_eq!(parse_status(status), ProcessMemory::default());
    }
}
