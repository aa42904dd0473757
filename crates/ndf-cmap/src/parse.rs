//! The lenient CMap program parser: one pass over the tokens with a small
//! operand buffer per mapping block; whatever does not fit is skipped.

use std::sync::Arc;

use crate::lexer::{Lexer, Tok, hex_val, literal_bytes, name_bytes};
use crate::paint::paint;
use crate::{
    BfRange, CMap, CMapError, CidRange, Codespace, MAX_CODESPACE, MAX_DEPTH, MAX_DEST_UNITS,
    NotdefRange,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Codespace,
    BfChar,
    BfRange,
    CidChar,
    CidRange,
    NotdefRange,
}

/// A bfrange with an array destination being read: the next code and the last one.
#[derive(Debug, Clone, Copy)]
struct ArrayState {
    len: u8,
    next: u64,
    hi: u32,
}

struct Parser<'a> {
    max_entries: usize,
    entries: usize,
    truncated: bool,
    block: Block,
    ops: [Tok<'a>; 3],
    nops: usize,
    array: Option<ArrayState>,
    prev: [Option<Tok<'a>>; 2],
    saw_cmap: bool,
    name: Option<Box<str>>,
    vertical: Option<bool>,
    registry: Option<Box<[u8]>>,
    ordering: Option<Box<[u8]>>,
    usecmap: Option<Arc<CMap>>,
    codespace: Vec<Codespace>,
    cids: Vec<(u8, CidRange)>,
    notdefs: Vec<(u8, CidRange)>,
    bfs: Vec<(u8, BfRange)>,
    units: Vec<u16>,
}

pub(crate) fn parse(
    data: &[u8],
    max_entries: usize,
    base: Option<Arc<CMap>>,
) -> Result<CMap, CMapError> {
    let mut p = Parser {
        max_entries,
        entries: 0,
        truncated: false,
        block: Block::None,
        ops: [Tok::Real; 3],
        nops: 0,
        array: None,
        prev: [None; 2],
        saw_cmap: false,
        name: None,
        vertical: None,
        registry: None,
        ordering: None,
        usecmap: None,
        codespace: Vec::new(),
        cids: Vec::new(),
        notdefs: Vec::new(),
        bfs: Vec::new(),
        units: Vec::new(),
    };
    let mut lexer = Lexer::new(data);
    while let Some(tok) = lexer.next_token() {
        p.token(tok);
    }
    p.finish(base)
}

const fn is_string(t: &Tok<'_>) -> bool {
    matches!(t, Tok::Hex(_) | Tok::Lit(_))
}

impl<'a> Parser<'a> {
    fn token(&mut self, tok: Tok<'a>) {
        match tok {
            Tok::Keyword(k) => self.keyword(k),
            _ if self.block != Block::None => self.operand(tok),
            Tok::Hex(_) | Tok::Lit(_) => match self.prev[1] {
                Some(Tok::Name(b"Registry")) => self.registry = Some(string_bytes(tok)),
                Some(Tok::Name(b"Ordering")) => self.ordering = Some(string_bytes(tok)),
                _ => {}
            },
            _ => {}
        }
        self.prev = [self.prev[1], Some(tok)];
    }

    fn keyword(&mut self, k: &[u8]) {
        let start = |block| (block, true);
        let (block, is_block_kw) = match k {
            b"begincodespacerange" => start(Block::Codespace),
            b"beginbfchar" => start(Block::BfChar),
            b"beginbfrange" => start(Block::BfRange),
            b"begincidchar" => start(Block::CidChar),
            b"begincidrange" => start(Block::CidRange),
            b"beginnotdefrange" => start(Block::NotdefRange),
            _ if k.starts_with(b"end") || k.starts_with(b"begin") => (Block::None, true),
            _ => (self.block, false),
        };
        if k == b"begincmap" {
            self.saw_cmap = true;
        }
        if is_block_kw {
            self.block = block;
            self.nops = 0;
            self.array = None;
            return;
        }
        match k {
            b"def" => self.def(),
            b"usecmap" => {
                if let Some(Tok::Name(n)) = self.prev[1] {
                    let mut buf = [0u8; 64];
                    if let Some(n) =
                        name_bytes(n, &mut buf).and_then(|n| std::str::from_utf8(n).ok())
                    {
                        // An unknown name is ignored (it may be an embedded CMap
                        // the caller resolves through parse_with_base).
                        if let Some(m) = CMap::predefined(n) {
                            self.usecmap = Some(m);
                        }
                    }
                }
            }
            _ => {
                // Junk inside a block: drop the operands collected so far.
                self.nops = 0;
                self.array = None;
            }
        }
    }

    fn def(&mut self) {
        match self.prev {
            [Some(Tok::Name(b"WMode")), Some(Tok::Int(v))] => self.vertical = Some(v == 1),
            [Some(Tok::Name(b"CMapName")), Some(Tok::Name(n))] => {
                let mut buf = [0u8; 128];
                if let Some(n) = name_bytes(n, &mut buf) {
                    self.name = Some(String::from_utf8_lossy(n).into());
                }
            }
            _ => {}
        }
    }

    fn fits(&self, pos: usize, t: &Tok<'_>) -> bool {
        match (self.block, pos) {
            (_, 0)
            | (Block::Codespace | Block::BfRange | Block::CidRange | Block::NotdefRange, 1) => {
                is_string(t)
            }
            (Block::BfChar, 1) => is_string(t) || matches!(t, Tok::Name(_)),
            (Block::BfRange, 2) => is_string(t) || matches!(t, Tok::Name(_) | Tok::ArrayOpen),
            (Block::CidChar, 1) | (Block::CidRange | Block::NotdefRange, 2) => {
                matches!(t, Tok::Int(_))
            }
            _ => false,
        }
    }

    fn operand(&mut self, tok: Tok<'a>) {
        if let Some(mut arr) = self.array {
            match tok {
                Tok::ArrayClose => self.array = None,
                Tok::Hex(_) | Tok::Lit(_) | Tok::Name(_) => {
                    if let Ok(code) = u32::try_from(arr.next)
                        && code <= arr.hi
                    {
                        self.add_bf(arr.len, code, code, tok);
                    }
                    arr.next = arr.next.saturating_add(1);
                    self.array = Some(arr);
                }
                _ => {}
            }
            return;
        }
        let pos = self.nops;
        if pos < self.ops.len() && self.fits(pos, &tok) {
            self.ops[pos] = tok;
            self.nops += 1;
        } else if self.fits(0, &tok) {
            self.ops[0] = tok;
            self.nops = 1;
            return;
        } else {
            self.nops = 0;
            return;
        }
        let needed = match self.block {
            Block::Codespace | Block::BfChar | Block::CidChar => 2,
            _ => 3,
        };
        if self.nops == needed {
            self.nops = 0;
            self.emit();
        }
    }

    fn emit(&mut self) {
        let [a, b, c] = self.ops;
        let Some((lo, len)) = code_of(a) else { return };
        match self.block {
            Block::Codespace => {
                let Some((hi, hi_len)) = code_of(b) else {
                    return;
                };
                if hi_len != len || self.codespace.len() >= MAX_CODESPACE {
                    return;
                }
                let widen = |v: u32| {
                    let mut out = [0u8; 4];
                    let be = v.to_be_bytes();
                    let n = usize::from(len);
                    out[..n].copy_from_slice(&be[4 - n..]);
                    out
                };
                self.codespace.push(Codespace {
                    len,
                    lo: widen(lo),
                    hi: widen(hi),
                });
            }
            Block::BfChar => self.add_bf(len, lo, lo, b),
            Block::BfRange => {
                let Some(hi) = range_hi(b, len) else { return };
                if hi < lo {
                    return;
                }
                if c == Tok::ArrayOpen {
                    self.array = Some(ArrayState {
                        len,
                        next: u64::from(lo),
                        hi,
                    });
                } else {
                    self.add_bf(len, lo, hi, c);
                }
            }
            Block::CidChar => self.add_cid(len, lo, lo, b, false),
            Block::CidRange | Block::NotdefRange => {
                let Some(hi) = range_hi(b, len) else { return };
                if hi >= lo {
                    self.add_cid(len, lo, hi, c, self.block == Block::NotdefRange);
                }
            }
            Block::None => {}
        }
    }

    fn admit(&mut self) -> bool {
        if self.entries >= self.max_entries {
            self.truncated = true;
            return false;
        }
        self.entries += 1;
        true
    }

    fn add_cid(&mut self, len: u8, lo: u32, hi: u32, cid: Tok<'_>, notdef: bool) {
        let Tok::Int(cid) = cid else { return };
        let Ok(cid) = u32::try_from(cid) else { return };
        if !self.admit() {
            return;
        }
        let r = (len, CidRange { lo, hi, cid });
        if notdef {
            self.notdefs.push(r);
        } else {
            self.cids.push(r);
        }
    }

    fn add_bf(&mut self, len: u8, lo: u32, hi: u32, dest: Tok<'_>) {
        if self.entries >= self.max_entries {
            self.truncated = true;
            return;
        }
        let start = self.units.len();
        if !push_dest(&mut self.units, dest) || !self.admit() {
            self.units.truncate(start);
            return;
        }
        let (Ok(start32), Ok(n)) = (
            u32::try_from(start),
            u32::try_from(self.units.len() - start),
        ) else {
            self.units.truncate(start);
            return;
        };
        self.bfs.push((
            len,
            BfRange {
                lo,
                hi,
                origin: lo,
                start: start32,
                len: n,
            },
        ));
    }

    fn finish(self, base: Option<Arc<CMap>>) -> Result<CMap, CMapError> {
        let parent = self.usecmap.or(base).filter(|p| p.depth < MAX_DEPTH);
        let has_entries = !(self.cids.is_empty() && self.bfs.is_empty() && self.notdefs.is_empty());
        if !self.saw_cmap
            && !has_entries
            && !self.truncated
            && self.codespace.is_empty()
            && parent.is_none()
        {
            return Err(CMapError::NotACMap);
        }
        let mut m = CMap::empty();
        let mut codespace = self.codespace;
        if let Some(p) = &parent {
            for r in &p.codespace {
                if codespace.len() < MAX_CODESPACE && !codespace.contains(r) {
                    codespace.push(*r);
                }
            }
            m.depth = p.depth + 1;
        }
        m.set_codespace(codespace);
        m.vertical = self
            .vertical
            .unwrap_or_else(|| parent.as_ref().is_some_and(|p| p.vertical));
        m.name = self.name;
        m.registry = self.registry;
        m.ordering = self.ordering;
        m.truncated = self.truncated;
        for len in 1..=4u8 {
            let i = usize::from(len - 1);
            let pick = |v: &[(u8, CidRange)]| -> Vec<CidRange> {
                v.iter().filter(|e| e.0 == len).map(|e| e.1).collect()
            };
            m.cids[i] = coalesce(paint(&pick(&self.cids)));
            let notdefs: Vec<NotdefRange> =
                pick(&self.notdefs).into_iter().map(NotdefRange).collect();
            m.notdefs[i] = paint(&notdefs);
            let bfs: Vec<BfRange> = self
                .bfs
                .iter()
                .filter(|e| e.0 == len)
                .map(|e| e.1)
                .collect();
            m.bfs[i] = paint(&bfs);
            if !(m.cids[i].is_empty() && m.bfs[i].is_empty()) {
                m.mapped_lens |= 1 << i;
            }
        }
        m.units = self.units;
        m.parent = parent;
        Ok(m)
    }
}

/// Merges neighbouring CID ranges that continue each other.
pub(crate) fn coalesce(v: Vec<CidRange>) -> Vec<CidRange> {
    let mut out: Vec<CidRange> = Vec::with_capacity(v.len());
    for r in v {
        if let Some(last) = out.last_mut() {
            let next_cid = last
                .cid
                .checked_add(last.hi - last.lo)
                .and_then(|c| c.checked_add(1));
            if last.hi.checked_add(1) == Some(r.lo) && next_cid == Some(r.cid) {
                last.hi = r.hi;
                continue;
            }
        }
        out.push(r);
    }
    out
}

/// The high end of a range, read at the length of its low end (clamped to it).
fn range_hi(t: Tok<'_>, len: u8) -> Option<u32> {
    let (hi, _) = code_of(t)?;
    let max = if len >= 4 {
        u32::MAX
    } else {
        (1u32 << (8 * u32::from(len))) - 1
    };
    Some(hi.min(max))
}

/// A source code: its value and byte length (1..=4). Hex strings with an odd
/// digit count are read as numbers (`<41F>` is the 2-byte code 0x041F).
fn code_of(t: Tok<'_>) -> Option<(u32, u8)> {
    match t {
        Tok::Hex(raw) => {
            let mut v: u32 = 0;
            let mut digits = 0usize;
            for d in raw.iter().filter_map(|&c| hex_val(c)) {
                digits += 1;
                if digits > 8 {
                    return None;
                }
                v = (v << 4) | u32::from(d);
            }
            if digits == 0 {
                return None;
            }
            Some((v, digits.div_ceil(2) as u8))
        }
        Tok::Lit(raw) => {
            let mut v: u32 = 0;
            let mut n = 0u8;
            let mut too_long = false;
            literal_bytes(raw, |b| {
                if n < 4 {
                    v = (v << 8) | u32::from(b);
                    n += 1;
                } else {
                    too_long = true;
                }
            });
            (n > 0 && !too_long).then_some((v, n))
        }
        _ => None,
    }
}

/// The bytes of a string token (for Registry/Ordering), at most 64.
fn string_bytes(t: Tok<'_>) -> Box<[u8]> {
    let mut out = Vec::new();
    match t {
        Tok::Lit(raw) => literal_bytes(raw, |b| {
            if out.len() < 64 {
                out.push(b);
            }
        }),
        Tok::Hex(raw) => {
            let mut hi: Option<u8> = None;
            for d in raw.iter().filter_map(|&c| hex_val(c)) {
                match hi.take() {
                    Some(h) if out.len() < 64 => out.push((h << 4) | d),
                    Some(_) => {}
                    None => hi = Some(d),
                }
            }
        }
        _ => {}
    }
    out.into_boxed_slice()
}

/// Appends a destination's UTF-16 units (at most `MAX_DEST_UNITS`); false when
/// the token is no usable destination.
fn push_dest(units: &mut Vec<u16>, dest: Tok<'_>) -> bool {
    let start = units.len();
    let room = |units: &Vec<u16>| units.len() - start < MAX_DEST_UNITS;
    match dest {
        Tok::Hex(raw) => {
            // UTF-16BE; an odd number of digits or bytes is padded with leading
            // zeros (pdf.js does the same for odd byte counts).
            let digits = raw.iter().filter(|&&c| hex_val(c).is_some()).count();
            let mut acc: u16 = 0;
            let mut n = (4 - digits % 4) % 4;
            for d in raw.iter().filter_map(|&c| hex_val(c)) {
                acc = (acc << 4) | u16::from(d);
                n += 1;
                if n == 4 {
                    if !room(units) {
                        break;
                    }
                    units.push(acc);
                    acc = 0;
                    n = 0;
                }
            }
            true
        }
        Tok::Lit(raw) => {
            let mut count = 0usize;
            literal_bytes(raw, |_| count += 1);
            let mut pending: Option<u8> = (count % 2 == 1).then_some(0);
            literal_bytes(raw, |b| match pending.take() {
                Some(h) => {
                    if room(units) {
                        units.push(u16::from_be_bytes([h, b]));
                    }
                }
                None => pending = Some(b),
            });
            true
        }
        Tok::Name(raw) => {
            let mut buf = [0u8; 128];
            let Some(name) = name_bytes(raw, &mut buf) else {
                return false;
            };
            name_units(name, units)
        }
        _ => false,
    }
}

/// Glyph-name destinations: a one-character name, `uniXXXX[XXXX...]` or `uXXXX[XX]`.
fn name_units(name: &[u8], units: &mut Vec<u16>) -> bool {
    let hex = |s: &[u8]| -> Option<u32> {
        s.iter()
            .try_fold(0u32, |acc, &c| Some((acc << 4) | u32::from(hex_val(c)?)))
    };
    if let [b] = name {
        units.push(u16::from(*b));
        return true;
    }
    if let Some(rest) = name.strip_prefix(b"uni")
        && !rest.is_empty()
        && rest.len() % 4 == 0
        && rest.iter().all(|&c| hex_val(c).is_some())
    {
        for group in rest.chunks(4).take(MAX_DEST_UNITS) {
            match hex(group).and_then(|v| u16::try_from(v).ok()) {
                Some(u) => units.push(u),
                None => return false,
            }
        }
        return true;
    }
    if let Some(rest) = name.strip_prefix(b"u")
        && (4..=6).contains(&rest.len())
        && let Some(c) = hex(rest).and_then(char::from_u32)
    {
        let mut tmp = [0u16; 2];
        units.extend_from_slice(c.encode_utf16(&mut tmp));
        return true;
    }
    false
}
