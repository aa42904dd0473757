//! Process statistics for `--stats` and the batch summary.

use std::io::Read;

/// Peak resident set size of this process in bytes (`VmHWM` of /proc/self/status), when the
/// platform reports it.
pub(crate) fn peak_rss_bytes() -> Option<u64> {
    let mut status = String::new();
    std::fs::File::open("/proc/self/status")
        .ok()?
        .take(64 << 10)
        .read_to_string(&mut status)
        .ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
