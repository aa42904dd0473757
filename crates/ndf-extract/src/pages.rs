//! Page selections such as `1-3,7,10-`.

use crate::ExtractError;
use ndf_model::Code;

/// A set of 1-based page ranges, e.g. parsed from `1-3,7,10-` (`10-` runs to the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSelection {
    ranges: Vec<(u32, u32)>,
}

/// Most ranges one selection may list.
const MAX_RANGES: usize = 10_000;

impl PageSelection {
    /// Parse `1-3,7,10-`. Pages are 1-based; `N-` means N to the end; whitespace is ignored.
    pub fn parse(spec: &str) -> Result<Self, ExtractError> {
        let bad = |why: &str| {
            ExtractError::new(
                Code::InvalidArgument,
                format!("invalid page selection {spec:?}: {why}"),
            )
        };
        let mut ranges = Vec::new();
        for part in spec.split(',') {
            let part: String = part.chars().filter(|c| !c.is_whitespace()).collect();
            if part.is_empty() {
                continue;
            }
            if ranges.len() >= MAX_RANGES {
                return Err(bad("too many ranges"));
            }
            let num = |s: &str| -> Result<u32, ExtractError> {
                let n: u32 = s
                    .parse()
                    .map_err(|_| bad("expected page numbers like 1-3,7"))?;
                if n == 0 {
                    return Err(bad("pages are numbered from 1"));
                }
                Ok(n)
            };
            let (a, b) = match part.split_once('-') {
                Some((a, "")) => (num(a)?, u32::MAX),
                Some((a, b)) => (num(a)?, num(b)?),
                None => {
                    let n = num(&part)?;
                    (n, n)
                }
            };
            if b < a {
                return Err(bad("a range ends before it starts"));
            }
            ranges.push((a, b));
        }
        if ranges.is_empty() {
            return Err(bad("no pages given"));
        }
        Ok(Self { ranges })
    }

    /// True when the 1-based page `n` is selected.
    pub fn contains(&self, n: u32) -> bool {
        self.ranges.iter().any(|&(a, b)| (a..=b).contains(&n))
    }

    /// The selected 0-based page indexes of a document with `count` pages, in document order.
    pub fn resolve(&self, count: usize) -> Vec<usize> {
        (0..count)
            .filter(|&i| self.contains(i as u32 + 1))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        let s = PageSelection::parse("1-3, 7,10-").unwrap();
        assert_eq!(s.resolve(12), vec![0, 1, 2, 6, 9, 10, 11]);
        assert_eq!(
            PageSelection::parse("2").unwrap().resolve(1),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn rejects_nonsense() {
        for bad in ["", "0", "3-1", "a", "1-b", "-3", ","] {
            let e = PageSelection::parse(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{bad}");
        }
    }
}
