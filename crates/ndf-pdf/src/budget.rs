use std::cell::Cell;
use std::time::{Duration, Instant};

use ndf_model::{Code, Limits};

use crate::error::{PdfError, Result};

/// The resource account of one document: its limits, its deadline and what it has spent.
///
/// Fatal conditions (deadline passed, document decode budget spent) are sticky: once tripped,
/// every later check fails the same way, so work in progress unwinds quickly wherever it is.
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    deadline: Option<Instant>,
    decoded: Cell<u64>,
    tripped: Cell<Option<Code>>,
    ticks: Cell<u32>,
}

impl Budget {
    /// A fresh budget; the deadline starts now.
    pub fn new(limits: Limits) -> Self {
        let deadline = (limits.deadline_ms > 0)
            .then(|| Instant::now() + Duration::from_millis(limits.deadline_ms));
        Self {
            limits,
            deadline,
            decoded: Cell::new(0),
            tripped: Cell::new(None),
            ticks: Cell::new(0),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decoded bytes charged so far.
    pub fn decoded_bytes(&self) -> u64 {
        self.decoded.get()
    }

    /// The sticky fatal error, if one was tripped.
    pub fn tripped(&self) -> Option<PdfError> {
        self.tripped.get().map(fatal)
    }

    /// Fail if a fatal limit was tripped or the deadline passed.
    pub fn check(&self) -> Result<()> {
        if let Some(code) = self.tripped.get() {
            return Err(fatal(code));
        }
        if let Some(deadline) = self.deadline
            && Instant::now() >= deadline
        {
            self.tripped.set(Some(Code::DeadlineExceeded));
            return Err(fatal(Code::DeadlineExceeded));
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
            self.tripped.get().map_or(Ok(()), |c| Err(fatal(c)))
        }
    }

    /// The most bytes a stream decoded now may produce: the per-stream limit or what is left of
    /// the document budget, whichever is smaller.
    pub fn stream_allowance(&self) -> u64 {
        let left = self
            .limits
            .max_document_bytes
            .saturating_sub(self.decoded.get());
        self.limits.max_stream_bytes.min(left)
    }

    /// Charge decoded (or otherwise materialised) bytes to the document.
    pub fn charge(&self, bytes: u64) -> Result<()> {
        let total = self.decoded.get().saturating_add(bytes);
        self.decoded.set(total);
        if total > self.limits.max_document_bytes {
            self.tripped.set(Some(Code::DocumentTooLarge));
            return Err(fatal(Code::DocumentTooLarge));
        }
        Ok(())
    }

    /// Trip the document budget explicitly (a stream hit the remaining document allowance).
    pub fn trip(&self, code: Code) -> PdfError {
        self.tripped.set(Some(code));
        fatal(code)
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
}
