use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ndf_model::{Code, Limits};

use crate::error::{PdfError, Result};

/// The resource account of one document: its limits, its deadline and what it has spent.
///
/// Fatal conditions (deadline passed, document decode budget spent) are sticky: once tripped,
/// every later check fails the same way, so work in progress unwinds quickly wherever it is.
///
/// A document extracted by several threads (each with its own [`crate::Pdf`]) shares one
/// account through [`Budget::sibling`]: decoded bytes add up across the threads and a trip on
/// one stops the others. What two threads both materialise (a font used on pages of each) is
/// charged twice, because it does exist twice in memory.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    deadline: Option<Instant>,
    account: Arc<Account>,
    ticks: Cell<u32>,
}

/// The part of a budget shared between the threads of one document.
#[derive(Debug, Default)]
struct Account {
    decoded: AtomicU64,
    tripped: OnceLock<Code>,
}

impl Budget {
    /// A fresh budget; the deadline starts now.
    pub fn new(limits: Limits) -> Self {
        let deadline = (limits.deadline_ms > 0)
            .then(|| Instant::now() + Duration::from_millis(limits.deadline_ms));
        Self {
            limits,
            deadline,
            account: Arc::new(Account::default()),
            ticks: Cell::new(0),
        }
    }

    /// A budget for another thread working on the same document: same limits and deadline,
    /// one shared account of decoded bytes and fatal trips.
    pub fn sibling(&self) -> Self {
        Self {
            limits: self.limits.clone(),
            deadline: self.deadline,
            account: Arc::clone(&self.account),
            ticks: Cell::new(0),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decoded bytes charged so far (by every thread sharing the account).
    pub fn decoded_bytes(&self) -> u64 {
        self.account.decoded.load(Ordering::Relaxed)
    }

    /// The sticky fatal error, if one was tripped.
    pub fn tripped(&self) -> Option<PdfError> {
        self.account.tripped.get().copied().map(fatal)
    }

    /// Record a fatal condition; the first one tripped is the one every check reports.
    fn set_tripped(&self, code: Code) -> PdfError {
        fatal(*self.account.tripped.get_or_init(|| code))
    }

    /// Fail if a fatal limit was tripped or the deadline passed.
    pub fn check(&self) -> Result<()> {
        if let Some(e) = self.tripped() {
            return Err(e);
        }
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            return Err(self.set_tripped(Code::DeadlineExceeded));
        }
        Ok(())
    }

    /// A cheap check for tight loops: reads the clock only every 256 calls.
    #[inline]
    pub fn tick(&self) -> Result<()> {
        let t = self.ticks.get().wrapping_add(1);
        self.ticks.set(t);
        if t.is_multiple_of(256) {
            self.check()
        } else {
            self.tripped().map_or(Ok(()), Err)
        }
    }

    /// The most bytes a stream decoded now may produce: the per-stream limit or what is left of
    /// the document budget, whichever is smaller.
    pub fn stream_allowance(&self) -> u64 {
        let left = self
            .limits
            .max_document_bytes
            .saturating_sub(self.decoded_bytes());
        self.limits.max_stream_bytes.min(left)
    }

    /// Charge decoded (or otherwise materialised) bytes to the document.
    pub fn charge(&self, bytes: u64) -> Result<()> {
        // Saturating, not wrapping: a sum past u64::MAX is over any limit anyway.
        let before = self
            .account
            .decoded
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_add(bytes))
            })
            .unwrap_or_else(|d| d);
        let total = before.saturating_add(bytes);
        if total > self.limits.max_document_bytes {
            return Err(self.set_tripped(Code::DocumentTooLarge));
        }
        Ok(())
    }

    /// Trip the document budget explicitly (a stream hit the remaining document allowance).
    pub fn trip(&self, code: Code) -> PdfError {
        self.set_tripped(code)
    }
}

fn fatal(code: Code) -> PdfError {
    let message = match code {
        Code::DeadlineExceeded => "the document's processing deadline passed",
        Code::DocumentTooLarge => "decoded data of the document exceeds the configured limit",
        _ => "a document limit was exceeded",
    };
    PdfError::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_budget_trips_and_stays_tripped() {
        let budget = Budget::new(Limits {
            max_document_bytes: 100,
            ..Limits::default()
        });
        assert!(budget.charge(60).is_ok());
        assert_eq!(budget.stream_allowance(), 40);
        assert_eq!(budget.charge(60).unwrap_err().code, Code::DocumentTooLarge);
        assert_eq!(budget.check().unwrap_err().code, Code::DocumentTooLarge);
        assert_eq!(budget.stream_allowance(), 0);
    }

    #[test]
    fn deadline_trips() {
        let budget = Budget::new(Limits {
            deadline_ms: 1,
            ..Limits::default()
        });
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(budget.check().unwrap_err().code, Code::DeadlineExceeded);
        assert!(budget.tick().is_err());
    }

    #[test]
    fn siblings_share_bytes_and_trips_but_not_ticks() {
        let first = Budget::new(Limits {
            max_document_bytes: 100,
            ..Limits::default()
        });
        let second = first.sibling();
        assert!(first.charge(60).is_ok());
        assert_eq!(second.decoded_bytes(), 60);
        assert_eq!(second.stream_allowance(), 40);
        assert_eq!(second.charge(60).unwrap_err().code, Code::DocumentTooLarge);
        assert_eq!(first.check().unwrap_err().code, Code::DocumentTooLarge);
        assert_eq!(first.tick().unwrap_err().code, Code::DocumentTooLarge);
    }

    #[test]
    fn the_first_trip_is_the_one_reported() {
        let budget = Budget::new(Limits::default());
        let sibling = budget.sibling();
        assert_eq!(
            sibling.trip(Code::DeadlineExceeded).code,
            Code::DeadlineExceeded
        );
        assert_eq!(
            budget.trip(Code::DocumentTooLarge).code,
            Code::DeadlineExceeded
        );
        assert_eq!(budget.check().unwrap_err().code, Code::DeadlineExceeded);
    }

    #[test]
    fn charges_saturate_instead_of_wrapping() {
        let budget = Budget::new(Limits::default());
        assert!(budget.charge(u64::MAX).is_err());
        assert!(budget.charge(u64::MAX).is_err());
        assert_eq!(budget.decoded_bytes(), u64::MAX);
    }
}
