//! Process figures read from `/proc` at scrape time (Linux; other systems report none).

use std::io::Read;
use std::path::Path;

use super::{Metric, Registry};

/// Clock ticks per second of `/proc/<pid>/stat` times. `USER_HZ` is 100 on every Linux
/// architecture this builds for.
const TICKS_PER_SECOND: f64 = 100.0;

/// Read at most 64 KiB of a small `/proc` file.
fn read_small(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(64 << 10).read_to_string(&mut s).ok()?;
    Some(s)
}

/// A `Key:   123 kB` line of `/proc/<pid>/status`, in bytes.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let v = line.get(key.len()..)?.trim().trim_end_matches("kB").trim();
    v.parse::<u64>().ok()?.checked_mul(1024)
}

/// Resident memory of a process in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = read_small(Path::new(&format!("/proc/{pid}/status")))?;
    status_kib(&status, "VmRSS:")
}

/// Memory limit of this process's cgroup (v2 `memory.max`, else v1), if one is set.
pub fn cgroup_memory_limit() -> Option<u64> {
    let candidates = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ];
    candidates.iter().find_map(|p| {
        let v: u64 = read_small(Path::new(p))?.trim().parse().ok()?;
        // cgroup v1 reports "no limit" as a huge page-aligned number.
        (v < (1 << 60)).then_some(v)
    })
}

/// Update the `process_*` gauges and counters of this process.
pub fn refresh(registry: &Registry, start_time_unix: f64) {
    registry.set(Metric::ProcessStartTime, &[], start_time_unix);
    if let Some(status) = read_small(Path::new("/proc/self/status")) {
        if let Some(v) = status_kib(&status, "VmRSS:") {
            registry.set(Metric::ProcessResidentMemory, &[], v as f64);
        }
        if let Some(v) = status_kib(&status, "VmSize:") {
            registry.set(Metric::ProcessVirtualMemory, &[], v as f64);
        }
    }
    if let Some(stat) = read_small(Path::new("/proc/self/stat")) {
        // Fields after the command name, which is in parentheses and may hold spaces.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(u), Some(s)) = (ticks(11), ticks(12)) {
                registry.set(Metric::ProcessCpu, &[], (u + s) / TICKS_PER_SECOND);
            }
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // Bounded: a process has at most its fd limit; stop counting far beyond any sane one.
        let n = dir.take(1 << 20).count();
        registry.set(Metric::ProcessOpenFds, &[], n as f64);
    }
    if let Some(limits) = read_small(Path::new("/proc/self/limits"))
        && let Some(line) = limits.lines().find(|l| l.starts_with("Max open files"))
        && let Some(soft) = line
            .trim_start_matches("Max open files")
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
    {
        registry.set(Metric::ProcessMaxFds, &[], soft);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let r = Registry::new();
        refresh(&r, 1.0);
        assert_eq!(r.value(Metric::ProcessStartTime, &[]), Some(1.0));
        if cfg!(target_os = "linux") {
            assert!(r.value(Metric::ProcessResidentMemory, &[]).unwrap() > 1e6);
            assert!(r.value(Metric::ProcessOpenFds, &[]).unwrap() >= 3.0);
            assert!(r.value(Metric::ProcessMaxFds, &[]).unwrap() >= 3.0);
            assert!(r.value(Metric::ProcessCpu, &[]).is_some());
            assert!(rss_bytes(std::process::id()).unwrap() > 1_000_000);
        }
    }

    #[test]
    fn parses_status_lines() {
        let s = "Name:\tndf\nVmRSS:\t   2048 kB\n";
        assert_eq!(status_kib(s, "VmRSS:"), Some(2 << 20));
        assert_eq!(status_kib(s, "VmHWM:"), None);
    }
}
