//! A compact, bounded table of optional names (glyph names by GID, or encoding names by code).

use std::sync::OnceLock;

/// Longest name kept; longer ones are dropped (Type 1 caps names at 127 bytes, real CFF ones are short).
pub(crate) const MAX_NAME_LEN: usize = 255;
/// Largest string pool of one table; names past it are dropped, so memory stays bounded.
pub(crate) const MAX_POOL_BYTES: usize = 2 << 20;

/// Names stored back to back in one string; entry `i` is `pool[ends[i-1]..ends[i]]`, empty = none.
#[derive(Debug, Default)]
pub(crate) struct NameTable {
    pool: String,
    ends: Vec<u32>,
    /// Entry indices sorted by (name, index), built on first name lookup.
    sorted: OnceLock<Vec<u16>>,
}

impl NameTable {
    pub(crate) fn with_capacity(entries: usize) -> Self {
        Self {
            pool: String::new(),
            ends: Vec::with_capacity(entries.min(crate::MAX_GLYPHS)),
            sorted: OnceLock::new(),
        }
    }

    /// Appends one entry; `None`, empty, overlong, non-UTF-8 names or a full pool give an empty entry.
    pub(crate) fn push_bytes(&mut self, name: Option<&[u8]>) {
        let name = name
            .filter(|n| !n.is_empty() && n.len() <= MAX_NAME_LEN)
            .and_then(|n| std::str::from_utf8(n).ok());
        self.push(name);
    }

    /// Appends one entry (see [`NameTable::push_bytes`]).
    pub(crate) fn push(&mut self, name: Option<&str>) {
        if self.ends.len() >= crate::MAX_GLYPHS {
            return;
        }
        if let Some(n) = name
            && !n.is_empty()
            && n.len() <= MAX_NAME_LEN
            && self.pool.len() + n.len() <= MAX_POOL_BYTES
        {
            self.pool.push_str(n);
        }
        // The pool never exceeds MAX_POOL_BYTES, so it fits in u32.
        self.ends
            .push(u32::try_from(self.pool.len()).unwrap_or(u32::MAX));
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// True when no entry has a name.
    pub(crate) fn is_blank(&self) -> bool {
        self.pool.is_empty()
    }

    pub(crate) fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)? as usize;
        let start = match index.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)? as usize,
            None => 0,
        };
        if start >= end {
            return None;
        }
        self.pool.get(start..end)
    }

    /// Lowest index whose name is `name`; O(log n) after a one-time sort.
    pub(crate) fn find(&self, name: &str) -> Option<u16> {
        if name.is_empty() {
            return None;
        }
        let sorted = self.sorted.get_or_init(|| {
            let mut idx: Vec<u16> = (0..self.ends.len())
                .filter(|&i| self.get(i).is_some())
                .filter_map(|i| u16::try_from(i).ok())
                .collect();
            // Stable sort keeps equal names in index order, so the first hit is the lowest index.
            idx.sort_by(|&a, &b| self.get(a.into()).cmp(&self.get(b.into())));
            idx
        });
        let pos = sorted.partition_point(|&i| self.get(i.into()).unwrap_or("") < name);
        let &i = sorted.get(pos)?;
        (self.get(i.into()) == Some(name)).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_find() {
        let mut t = NameTable::with_capacity(4);
        t.push(Some(".notdef"));
        t.push(None);
        t.push(Some("A"));
        t.push_bytes(Some(b"A"));
        t.push_bytes(Some(b"\xff"));
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(0), Some(".notdef"));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some("A"));
        assert_eq!(t.get(4), None);
        assert_eq!(t.get(5), None);
        assert_eq!(t.find("A"), Some(2));
        assert_eq!(t.find(".notdef"), Some(0));
        assert_eq!(t.find("B"), None);
        assert_eq!(t.find(""), None);
    }

    #[test]
    fn overlong_and_full_pool_are_dropped() {
        let mut t = NameTable::with_capacity(0);
        let long = "x".repeat(MAX_NAME_LEN + 1);
        t.push(Some(&long));
        assert_eq!(t.get(0), None);
        let name = "y".repeat(MAX_NAME_LEN);
        for _ in 0..(MAX_POOL_BYTES / MAX_NAME_LEN + 10) {
            t.push(Some(&name));
        }
        assert!(t.pool.len() <= MAX_POOL_BYTES);
        assert_eq!(t.get(1), Some(name.as_str()));
        assert_eq!(t.get(t.len() - 1), None);
    }
}
