//! Drain without stopping: a replica that is told to drain stops claiming jobs, finishes (and
//! keeps heartbeating) the jobs it holds, and goes on serving everything else; told to resume,
//! it claims again. Blue-green rollouts drain the old colour this way before stopping it
//! (SIGTERM then hands back whatever is still unfinished, as always).
//!
//! Two sources ask for it, and the replica is drained while either does:
//! - `drain_file`, read every `drain_poll_ms`: a line that is exactly [`DRAIN_LINE`] asks for
//!   a drain. Kubernetes' downward API writes a pod's annotations to a file as `key="value"`
//!   lines, so annotating the pods of a colour with `ndf.dev/drain: "true"` drains it. A
//!   missing or unreadable file asks for nothing (logged once per change).
//! - SIGUSR1 (drain) and SIGUSR2 (resume), relayed by the CLI through
//!   [`crate::ServeOptions::drain_signal`].
//!
//! Once a replica reports itself drained (the log line, `ndf_draining 1`, `"drained": true`
//! on `/healthz`), it has no lease request in flight and starts none: [`Claims::pause`] waits
//! for the consumers' lease calls under way before it returns.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{RwLock, RwLockReadGuard, watch};

use crate::state::AppState;
use crate::telemetry::Metric;

/// The line of the drain file that asks for a drain (a downward-API annotation line).
pub const DRAIN_LINE: &str = "ndf.dev/drain=\"true\"";

/// Most bytes of the drain file read per poll. Kubernetes caps a pod's annotations at 256 KiB
/// in all; the downward API quotes their values, so this leaves room for escapes.
pub const MAX_DRAIN_FILE_BYTES: usize = 1 << 20;

/// Whether a replica may claim jobs now, and the gate that makes a drain exact.
#[derive(Debug)]
pub struct Claims {
    paused: watch::Sender<bool>,
    /// Held (shared) by a consumer across its check of `paused` and its lease call; a pause
    /// takes it exclusively once, so no lease is under way when the pause is reported.
    gate: RwLock<()>,
}

impl Default for Claims {
    fn default() -> Self {
        Self {
            paused: watch::Sender::new(false),
            gate: RwLock::new(()),
        }
    }
}

impl Claims {
    /// True while the replica is drained.
    pub fn paused(&self) -> bool {
        *self.paused.borrow()
    }

    /// A permit to lease one job (hold it until the lease call returned), or `None` while
    /// drained.
    pub async fn permit(&self) -> Option<RwLockReadGuard<'_, ()>> {
        let guard = self.gate.read().await;
        (!self.paused()).then_some(guard)
    }

    /// Wait until the replica may claim again.
    pub async fn resumed(&self) {
        let mut rx = self.paused.subscribe();
        // The sender lives as long as `self`: this only ends by resuming.
        let _ = rx.wait_for(|p| !*p).await;
    }

    /// Stop claiming; returns once no lease call is under way.
    pub async fn pause(&self) {
        self.paused.send_replace(true);
        drop(self.gate.write().await);
    }

    /// Claim again.
    pub fn resume(&self) {
        self.paused.send_replace(false);
    }
}

/// What one read of the drain file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// No such file: no drain asked.
    Missing,
    /// It could not be read (why): no drain asked.
    Unreadable(String),
    /// Read (its first [`MAX_DRAIN_FILE_BYTES`] when `truncated`).
    Read {
        /// It holds [`DRAIN_LINE`].
        drain: bool,
        /// It was longer than the bound.
        truncated: bool,
    },
}

impl FileState {
    /// Whether this read asks for a drain.
    pub fn asks_drain(&self) -> bool {
        matches!(self, FileState::Read { drain: true, .. })
    }
}

/// Whether annotation lines hold [`DRAIN_LINE`] exactly (a trailing `\r` is ignored). With
/// `complete` false the text was cut at the bound and its last line is not looked at: a cut
/// line could look like the drain line without being it.
pub fn asks_drain(text: &[u8], complete: bool) -> bool {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if !complete {
        lines.pop();
    }
    lines
        .into_iter()
        .any(|l| l.strip_suffix(b"\r").unwrap_or(l) == DRAIN_LINE.as_bytes())
}

/// Read the drain file, at most [`MAX_DRAIN_FILE_BYTES`] of it.
pub fn read_drain_file(path: &Path) -> FileState {
    read_bounded(path, MAX_DRAIN_FILE_BYTES)
}

fn read_bounded(path: &Path, max: usize) -> FileState {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return FileState::Missing,
        Err(e) => return FileState::Unreadable(e.to_string()),
    };
    let mut bytes = Vec::new();
    // One byte more than the bound tells whether the file is longer.
    if let Err(e) = file.take(max as u64 + 1).read_to_end(&mut bytes) {
        return FileState::Unreadable(e.to_string());
    }
    let truncated = bytes.len() > max;
    bytes.truncate(max);
    FileState::Read {
        drain: asks_drain(&bytes, !truncated),
        truncated,
    }
}

/// A short description of a file state for log lines (one per change).
fn describe(state: &FileState) -> String {
    match state {
        FileState::Missing => "missing (no drain asked)".to_owned(),
        FileState::Unreadable(why) => format!("unreadable (no drain asked): {why}"),
        FileState::Read { drain, truncated } => format!(
            "{}{}",
            if *drain {
                "asks for a drain"
            } else {
                "asks for no drain"
            },
            if *truncated {
                " (only its first MiB was read)"
            } else {
                ""
            }
        ),
    }
}

/// Watch the drain file and the drain signal; pause and resume claims as they ask, until
/// `stop`. Returns at once when neither is configured.
pub(crate) async fn run_drain_watch(
    state: Arc<AppState>,
    mut signal: Option<watch::Receiver<bool>>,
    mut stop: watch::Receiver<bool>,
) {
    let file: Option<PathBuf> = state.config.drain_file.clone();
    if file.is_none() && signal.is_none() {
        return;
    }
    let poll = Duration::from_millis(state.config.drain_poll_ms.max(10));
    let mut last_file: Option<FileState> = None;
    let mut by_file = false;
    let mut by_signal = signal.as_ref().is_some_and(|s| *s.borrow());
    loop {
        if *stop.borrow() {
            return;
        }
        if let Some(path) = &file {
            let p = path.clone();
            let read = tokio::task::spawn_blocking(move || read_drain_file(&p))
                .await
                .unwrap_or_else(|e| FileState::Unreadable(e.to_string()));
            if last_file.as_ref() != Some(&read) {
                let level_warn = matches!(
                    read,
                    FileState::Unreadable(_)
                        | FileState::Read {
                            truncated: true,
                            ..
                        }
                );
                let what = describe(&read);
                if level_warn {
                    tracing::warn!(drain_file = %path.display(), state = %what, "drain file");
                } else {
                    tracing::info!(drain_file = %path.display(), state = %what, "drain file");
                }
                by_file = read.asks_drain();
                last_file = Some(read);
            }
        }
        apply(&state, by_file || by_signal, by_file, by_signal).await;
        let changed = async {
            match signal.as_mut() {
                Some(s) => s.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(poll), if file.is_some() => {}
            ok = changed => {
                match (ok, signal.as_ref()) {
                    (true, Some(s)) => by_signal = *s.borrow(),
                    // The relay ended: signals no longer change anything.
                    _ => signal = None,
                }
                if signal.is_none() && file.is_none() {
                    return;
                }
            }
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Move the replica to `drain` if it is not there yet; log and count every change.
async fn apply(state: &AppState, drain: bool, by_file: bool, by_signal: bool) {
    if drain == state.claims.paused() {
        return;
    }
    let source = match (by_file, by_signal) {
        (true, true) => "drain_file and SIGUSR1",
        (true, false) => "drain_file",
        (false, true) => "SIGUSR1",
        (false, false) => "neither drain_file nor SIGUSR1",
    };
    if drain {
        state.claims.pause().await;
        state.metrics.set(Metric::Draining, &[], 1.0);
        let held = state.running.lock().map_or(0, |r| r.len());
        tracing::info!(
            drain = true,
            asked_by = source,
            jobs_held = held,
            "drained: claiming no new jobs; the jobs held finish here"
        );
    } else {
        state.claims.resume();
        state.metrics.set(Metric::Draining, &[], 0.0);
        tracing::info!(
            drain = false,
            asked_by = source,
            "drain lifted: claiming jobs again"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_line_asks_for_a_drain() {
        assert!(asks_drain(DRAIN_LINE.as_bytes(), true));
        assert!(asks_drain(b"ndf.dev/drain=\"true\"\n", true));
        // Among other annotations, as the downward API writes them (sorted, one per line).
        let file = b"kubectl.kubernetes.io/restartedAt=\"2026-12-07T09:00:00Z\"\n\
            ndf.dev/color=\"blue\"\nndf.dev/drain=\"true\"\nzz.example/x=\"y\"";
        assert!(asks_drain(file, true));
        for not in [
            &b""[..],
            b"ndf.dev/drain=\"false\"",
            b"ndf.dev/drain=true",
            b"ndf.dev/drain=\"TRUE\"",
            b" ndf.dev/drain=\"true\"",
            b"ndf.dev/drain=\"true\" ",
            b"xndf.dev/drain=\"true\"",
            b"ndf.dev/drain=\"true\"x",
            b"other/ndf.dev/drain=\"true\"",
            b"ndf.dev/drained=\"true\"",
            b"ndf.dev/color=\"ndf.dev/drain=\\\"true\\\"\"",
        ] {
            assert!(!asks_drain(not, true), "{}", String::from_utf8_lossy(not));
        }
    }

    #[test]
    fn crlf_line_ends_are_accepted_but_a_lone_cr_is_not_a_line_end() {
        assert!(asks_drain(
            b"a=\"b\"\r\nndf.dev/drain=\"true\"\r\nc=\"d\"\r\n",
            true
        ));
        assert!(asks_drain(b"ndf.dev/drain=\"true\"\r", true));
        assert!(!asks_drain(b"a=\"b\"\rndf.dev/drain=\"true\"", true));
        assert!(!asks_drain(b"ndf.dev/drain=\"true\"\r\r\n", true));
    }

    #[test]
    fn a_cut_last_line_is_not_read() {
        // Cut at the bound, `ndf.dev/drain="true"` may be the start of a longer line.
        assert!(!asks_drain(b"a=\"b\"\nndf.dev/drain=\"true\"", false));
        assert!(asks_drain(b"ndf.dev/drain=\"true\"\nndf.dev/x=\"tr", false));
    }

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ndf-drain-{}-{}", std::process::id(), name));
        let _ = std::fs::create_dir_all(&dir);
        let p = dir.join("annotations");
        std::fs::write(&p, bytes).expect("write");
        p
    }

    #[test]
    fn huge_files_are_read_up_to_the_bound() {
        // The drain line after the bound is not seen; one before it is.
        let mut big = vec![b'x'; 100];
        big.extend_from_slice(b"\nndf.dev/drain=\"true\"\n");
        let p = temp("late", &big);
        assert_eq!(
            read_bounded(&p, 100),
            FileState::Read {
                drain: false,
                truncated: true
            }
        );
        let mut early = b"ndf.dev/drain=\"true\"\n".to_vec();
        early.extend(std::iter::repeat_n(b'y', 3 * MAX_DRAIN_FILE_BYTES));
        let p = temp("early", &early);
        assert_eq!(
            read_drain_file(&p),
            FileState::Read {
                drain: true,
                truncated: true
            }
        );
        // A file of exactly the bound is complete.
        let mut exact = vec![b'z'; 100 - DRAIN_LINE.len() - 1];
        exact.push(b'\n');
        exact.extend_from_slice(DRAIN_LINE.as_bytes());
        assert_eq!(exact.len(), 100);
        let p = temp("exact", &exact);
        assert_eq!(
            read_bounded(&p, 100),
            FileState::Read {
                drain: true,
                truncated: false
            }
        );
    }

    #[test]
    fn missing_and_unreadable_files_ask_for_nothing() {
        let missing = std::env::temp_dir().join(format!("ndf-drain-none-{}", std::process::id()));
        assert_eq!(read_drain_file(&missing), FileState::Missing);
        assert!(!read_drain_file(&missing).asks_drain());
        // A directory cannot be read as a file.
        let dir = temp("dir", b"").parent().expect("dir").to_path_buf();
        let state = read_drain_file(&dir);
        assert!(matches!(state, FileState::Unreadable(_)), "{state:?}");
        assert!(!state.asks_drain());
    }

    #[tokio::test]
    async fn a_pause_waits_for_the_lease_calls_under_way() {
        let claims = Arc::new(Claims::default());
        let permit = claims.permit().await.expect("not paused");
        let c = claims.clone();
        let pausing = tokio::spawn(async move { c.pause().await });
        // The pause is asked at once (new permits are refused) but not done while a lease
        // call holds its permit.
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if claims.paused() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(claims.paused());
        assert!(!pausing.is_finished());
        drop(permit);
        pausing.await.expect("pause");
        assert!(claims.permit().await.is_none());
        claims.resume();
        assert!(claims.permit().await.is_some());
        claims.resumed().await;
    }
}
