//! Cross-reference data: the object-number → location map, built from xref tables, xref streams
//! (hybrid files included) and, when those are damaged, from a scan of the whole file.

use crate::lexer::{Lexer, Token};

/// Where an object lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Entry {
    /// No section mentioned this object.
    #[default]
    Unset,
    /// Explicitly free.
    Free,
    /// At a byte offset of the file.
    Offset {
        /// Byte offset of `num generation obj`.
        offset: u32,
        /// Generation number.
        generation: u16,
    },
    /// Inside an object stream.
    InStream {
        /// Object number of the object stream.
        stream: u32,
        /// Index of the object within the stream.
        index: u32,
    },
}

/// The object-number → location table.
#[derive(Debug, Default, Clone)]
pub(crate) struct XrefTable {
    entries: Vec<Entry>,
    max_objects: u32,
}

impl XrefTable {
    /// An empty table holding at most `max_objects` entries.
    pub(crate) fn new(max_objects: u32) -> Self {
        Self {
            entries: Vec::new(),
            max_objects,
        }
    }

    /// The entry for `num`.
    #[inline]
    pub(crate) fn get(&self, num: u32) -> Entry {
        self.entries.get(num as usize).copied().unwrap_or_default()
    }

    /// True when no entry was set.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Set `num` unless an earlier (newer) section already did. `replace_free` lets the entries
    /// of a hybrid file's `/XRefStm` override the free entries of the same section's table.
    /// Returns false when `num` is beyond `max_objects`.
    pub(crate) fn set_if_unset(&mut self, num: u32, entry: Entry, replace_free: bool) -> bool {
        if num >= self.max_objects {
            return false;
        }
        let i = num as usize;
        if i >= self.entries.len() {
            self.entries.resize(i + 1, Entry::Unset);
        }
        let slot = &mut self.entries[i];
        if *slot == Entry::Unset || (replace_free && *slot == Entry::Free) {
            *slot = entry;
        }
        true
    }

    /// Set `num`, replacing whatever was there (used by repair, where the last occurrence in
    /// the file wins).
    pub(crate) fn set(&mut self, num: u32, entry: Entry) -> bool {
        if num >= self.max_objects {
            return false;
        }
        let i = num as usize;
        if i >= self.entries.len() {
            self.entries.resize(i + 1, Entry::Unset);
        }
        self.entries[i] = entry;
        true
    }

    /// Iterate over `(num, entry)` of the set entries.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, Entry)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !matches!(e, Entry::Unset | Entry::Free))
            .map(|(i, e)| (i as u32, *e))
    }
}

/// Outcome of reading one classic xref table section.
#[derive(Debug)]
pub(crate) struct TableSection {
    /// Offset of the `trailer` dictionary's `<<`, if present.
    pub(crate) trailer_pos: Option<usize>,
    /// Entries read.
    pub(crate) entries: u64,
    /// Entries were rejected because of `max_objects`.
    pub(crate) overflow: bool,
}

/// Read the subsections of an xref table starting after the `xref` keyword at `pos`.
/// Entries go into `table` with "newer wins" semantics.
pub(crate) fn read_table(data: &[u8], pos: usize, table: &mut XrefTable) -> TableSection {
    let mut lex = Lexer::at(data, pos);
    let mut section = TableSection {
        trailer_pos: None,
        entries: 0,
        overflow: false,
    };
    // Each subsection header is followed by its entries; every loop iteration consumes input.
    loop {
        let save = lex.pos();
        match lex.next_token() {
            Token::Int(start) => {
                let Token::Int(count) = lex.next_token() else {
                    break;
                };
                if start < 0 || count < 0 {
                    break;
                }
                // An entry takes at least 6 bytes ("0 0 n "): a lying count cannot make us loop
                // beyond the data.
                let max_by_data = (data.len().saturating_sub(lex.pos()) / 6) as i64;
                let count = count.min(max_by_data);
                let mut num = start;
                for i in 0..count {
                    let before = lex.pos();
                    let (Token::Int(offset), Token::Int(generation), Token::Keyword(kind)) =
                        (lex.next_token(), lex.next_token(), lex.next_token())
                    else {
                        lex.set_pos(before);
                        break;
                    };
                    // Common off-by-one: a section declared "1 N" that starts with the free
                    // head of the list (object 0) really starts at 0.
                    if i == 0 && start == 1 && offset == 0 && generation == 65535 && kind == b"f" {
                        num = 0;
                    }
                    let entry = match kind {
                        b"n" if offset > 0 && offset <= i64::from(u32::MAX) => Entry::Offset {
                            offset: offset as u32,
                            generation: generation.clamp(0, 65535) as u16,
                        },
                        // "n" with offset 0 is a known writer bug meaning "free".
                        b"n" | b"f" => Entry::Free,
                        _ => {
                            lex.set_pos(before);
                            break;
                        }
                    };
                    if num >= 0 && num <= i64::from(u32::MAX) {
                        if !table.set_if_unset(num as u32, entry, false) {
                            section.overflow = true;
                        }
                        section.entries += 1;
                    }
                    num += 1;
                }
            }
            Token::Keyword(b"trailer") => {
                lex.skip_ws();
                section.trailer_pos = Some(lex.pos());
                break;
            }
            _ => {
                lex.set_pos(save);
                break;
            }
        }
    }
    section
}

/// Fields of an xref stream's dictionary needed to read its entries.
#[derive(Debug, Clone)]
pub(crate) struct StreamLayout {
    /// `/W` field widths.
    pub(crate) widths: [usize; 3],
    /// `/Index` pairs (first object number, count); `[0 Size]` by default.
    pub(crate) index: Vec<(u64, u64)>,
}

/// Read the entries of a decoded xref stream into `table`. `replace_free` is set for the
/// `/XRefStm` of a hybrid file. Returns `(entries read, overflowed)`.
pub(crate) fn read_stream_entries(
    data: &[u8],
    layout: &StreamLayout,
    table: &mut XrefTable,
    replace_free: bool,
) -> (u64, bool) {
    let [w0, w1, w2] = layout.widths;
    let row = w0 + w1 + w2;
    if row == 0 || w0 > 8 || w1 > 8 || w2 > 8 {
        return (0, false);
    }
    let field = |bytes: &[u8]| bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut rows = data.chunks_exact(row);
    let mut read = 0u64;
    let mut overflow = false;
    for &(first, count) in &layout.index {
        for k in 0..count {
            let Some(r) = rows.next() else {
                return (read, overflow);
            };
            let Some(num) = first.checked_add(k).filter(|&n| n <= u64::from(u32::MAX)) else {
                return (read, overflow);
            };
            // A zero-width type field means type 1.
            let kind = if w0 == 0 { 1 } else { field(&r[..w0]) };
            let f1 = field(&r[w0..w0 + w1]);
            let f2 = field(&r[w0 + w1..]);
            let entry = match kind {
                0 => Entry::Free,
                1 => match u32::try_from(f1) {
                    Ok(offset) if offset > 0 => Entry::Offset {
                        offset,
                        generation: f2.min(65535) as u16,
                    },
                    _ => Entry::Free,
                },
                2 => match (u32::try_from(f1), u32::try_from(f2)) {
                    (Ok(stream), Ok(index)) => Entry::InStream { stream, index },
                    _ => Entry::Free,
                },
                // Unknown types are to be treated as null references.
                _ => Entry::Free,
            };
            if !table.set_if_unset(num as u32, entry, replace_free) {
                overflow = true;
            }
            read += 1;
        }
    }
    (read, overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_table_with_subsections_and_trailer() {
        let src = b"0 3\n0000000000 65535 f \n0000000017 00000 n \n0000000081 00000 n \n7 1\n0000000200 00002 n\r\ntrailer\n<< /Size 8 >>";
        let mut t = XrefTable::new(1000);
        let s = read_table(src, 0, &mut t);
        assert_eq!(s.entries, 4);
        assert_eq!(t.get(0), Entry::Free);
        assert_eq!(
            t.get(1),
            Entry::Offset {
                offset: 17,
                generation: 0
            }
        );
        assert_eq!(
            t.get(7),
            Entry::Offset {
                offset: 200,
                generation: 2
            }
        );
        assert_eq!(
            &src[s.trailer_pos.unwrap()..s.trailer_pos.unwrap() + 2],
            b"<<"
        );
    }

    #[test]
    fn off_by_one_section_is_fixed() {
        let src = b"1 2\n0000000000 65535 f \n0000000017 00000 n \ntrailer <<>>";
        let mut t = XrefTable::new(1000);
        read_table(src, 0, &mut t);
        assert_eq!(
            t.get(1),
            Entry::Offset {
                offset: 17,
                generation: 0
            }
        );
    }

    #[test]
    fn newer_sections_win_and_lying_counts_are_bounded() {
        let mut t = XrefTable::new(1000);
        t.set_if_unset(
            1,
            Entry::Offset {
                offset: 5,
                generation: 0,
            },
            false,
        );
        let src = b"1 4000000000\n0000000099 00000 n \ntrailer";
        let s = read_table(src, 0, &mut t);
        assert_eq!(s.entries, 1);
        assert_eq!(
            t.get(1),
            Entry::Offset {
                offset: 5,
                generation: 0
            }
        );
    }

    #[test]
    fn max_objects_is_enforced() {
        let mut t = XrefTable::new(10);
        assert!(!t.set_if_unset(10, Entry::Free, false));
        assert!(t.entries.len() <= 10);
    }

    #[test]
    fn reads_stream_entries() {
        // W [1 2 1], two objects starting at 5: one in-file at 0x0102, one in stream 7 index 3.
        let data = [1u8, 0x01, 0x02, 0, 2, 0, 7, 3];
        let layout = StreamLayout {
            widths: [1, 2, 1],
            index: vec![(5, 2)],
        };
        let mut t = XrefTable::new(1000);
        assert_eq!(
            read_stream_entries(&data, &layout, &mut t, false),
            (2, false)
        );
        assert_eq!(
            t.get(5),
            Entry::Offset {
                offset: 0x0102,
                generation: 0
            }
        );
        assert_eq!(
            t.get(6),
            Entry::InStream {
                stream: 7,
                index: 3
            }
        );
    }

    #[test]
    fn hybrid_stream_overrides_free_entries_of_its_section() {
        let mut t = XrefTable::new(1000);
        t.set_if_unset(3, Entry::Free, false);
        let layout = StreamLayout {
            widths: [1, 1, 1],
            index: vec![(3, 1)],
        };
        read_stream_entries(&[2, 9, 0], &layout, &mut t, true);
        assert_eq!(
            t.get(3),
            Entry::InStream {
                stream: 9,
                index: 0
            }
        );
    }
}
