//! Content-stream tokenizer: operators with their operands, allocation-free after warm-up.
//!
//! Operands borrow from the content bytes; arrays and dictionaries are flattened into a reusable
//! item buffer and referenced by range, so a page with millions of operators reuses the same
//! two vectors. Operands are valid until the next call to [`ContentParser::next_op`].

use std::borrow::Cow;

use crate::lexer::{Lexer, Token, decode_hex, decode_literal, decode_name, is_regular, is_white};

/// An operand of a content-stream operator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Operand<'c> {
    /// `null` or junk in operand position.
    Null,
    /// `true`/`false`
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Real.
    Real(f64),
    /// Name, raw (`#xx` escapes not decoded).
    Name(&'c [u8]),
    /// Literal string, raw.
    LitString(&'c [u8]),
    /// Hex string, raw.
    HexString(&'c [u8]),
    /// Array: `len` items starting at `start` in the item buffer.
    Array {
        /// First item.
        start: u32,
        /// Item count.
        len: u32,
    },
    /// Dictionary: `len` key/value pairs (2·len items) starting at `start`.
    Dict {
        /// First item.
        start: u32,
        /// Pair count.
        len: u32,
    },
}

impl Operand<'_> {
    /// Numeric value.
    #[inline]
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Operand::Int(i) => Some(i as f64),
            Operand::Real(r) if r.is_finite() => Some(r),
            _ => None,
        }
    }

    /// Integer value (reals truncated).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Operand::Int(i) => Some(i),
            Operand::Real(r) if r.is_finite() && r.abs() < 9.0e18 => Some(r as i64),
            _ => None,
        }
    }
}

/// One operator with its operands.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'p, 'c> {
    /// Operator keyword, e.g. `Tj`.
    pub op: &'c [u8],
    /// Operands in order (at most [`MAX_OPERANDS`]; extra leading ones are dropped).
    pub operands: &'p [Operand<'c>],
    items: &'p [Operand<'c>],
    /// Inline image data (`BI … ID data EI`), when `op` is `BI`.
    pub inline_data: &'c [u8],
}

/// Most operands kept for one operator; no operator takes more than a handful, so anything
/// beyond this is junk (and bounding it bounds memory).
pub const MAX_OPERANDS: usize = 64;
/// Most items (array elements and dictionary entries) kept for one operator.
const MAX_ITEMS: usize = 1 << 20;
/// Deepest nesting of arrays/dictionaries in operands.
const MAX_DEPTH: u32 = 32;

impl<'p, 'c> Operation<'p, 'c> {
    /// Operand `i` from the end (0 = last), the way operators read their arguments.
    #[inline]
    pub fn arg_from_end(&self, i: usize) -> Option<Operand<'c>> {
        self.operands
            .len()
            .checked_sub(i + 1)
            .and_then(|k| self.operands.get(k).copied())
    }

    /// The last `n` operands as numbers, if they all are.
    pub fn numbers<const N: usize>(&self) -> Option<[f64; N]> {
        let ops = self.operands.get(self.operands.len().checked_sub(N)?..)?;
        let mut out = [0.0; N];
        for (slot, o) in out.iter_mut().zip(ops) {
            *slot = o.as_f64()?;
        }
        Some(out)
    }

    /// The elements of an array operand.
    pub fn array(&self, o: Operand<'c>) -> &'p [Operand<'c>] {
        match o {
            Operand::Array { start, len } => self
                .items
                .get(start as usize..start as usize + len as usize)
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    /// Look up `key` in a dictionary operand.
    pub fn dict_get(&self, o: Operand<'c>, key: &[u8]) -> Option<Operand<'c>> {
        let Operand::Dict { start, len } = o else {
            return None;
        };
        let pairs = self
            .items
            .get(start as usize..start as usize + 2 * len as usize)?;
        pairs.chunks_exact(2).find_map(|kv| match kv[0] {
            Operand::Name(k) if name_bytes(k) == key => Some(kv[1]),
            _ => None,
        })
    }
}

/// Decoded bytes of a string operand (borrowed when no escapes are present).
pub fn string_bytes<'c>(o: Operand<'c>) -> Option<Cow<'c, [u8]>> {
    match o {
        Operand::LitString(raw) => Some(match decode_literal(raw) {
            Some(v) => Cow::Owned(v),
            None => Cow::Borrowed(raw),
        }),
        Operand::HexString(raw) => {
            let mut v = Vec::new();
            decode_hex(raw, &mut v);
            Some(Cow::Owned(v))
        }
        _ => None,
    }
}

/// Decoded bytes of a name.
pub fn name_bytes(raw: &[u8]) -> Cow<'_, [u8]> {
    match decode_name(raw) {
        Some(v) => Cow::Owned(v),
        None => Cow::Borrowed(raw),
    }
}

/// Tokenizes a content stream into operations.
#[derive(Debug)]
pub struct ContentParser<'c> {
    lex: Lexer<'c>,
    operands: Vec<Operand<'c>>,
    items: Vec<Operand<'c>>,
    tmp: Vec<Operand<'c>>,
    /// Operands were dropped or junk was skipped.
    pub malformed: u32,
}

impl<'c> ContentParser<'c> {
    /// A parser over decoded content bytes.
    pub fn new(data: &'c [u8]) -> Self {
        Self {
            lex: Lexer::new(data),
            operands: Vec::with_capacity(16),
            items: Vec::new(),
            tmp: Vec::new(),
            malformed: 0,
        }
    }

    /// Byte position in the content.
    pub fn pos(&self) -> usize {
        self.lex.pos()
    }

    /// The next operation, or `None` at the end of the content. Operands left without an
    /// operator at the end are discarded.
    pub fn next_op(&mut self) -> Option<Operation<'_, 'c>> {
        self.operands.clear();
        self.items.clear();
        loop {
            // Numbers and operators, most of a content stream, are read here directly; the
            // rest goes through the general tokenizer (the same bytes make the same tokens).
            self.lex.skip_ws();
            let tok = match self.lex.current() {
                None => return None,
                Some(b'0'..=b'9' | b'+' | b'-' | b'.') => {
                    let operand = match self.lex.number() {
                        Token::Int(i) => Operand::Int(i),
                        Token::Real(r) => Operand::Real(r),
                        _ => Operand::Null,
                    };
                    self.push_operand(operand);
                    continue;
                }
                Some(b) if is_regular(b) => Token::Keyword(self.lex.keyword()),
                Some(_) => self.lex.next_token(),
            };
            let operand = match tok {
                Token::Eof => return None,
                Token::Keyword(k) => match k {
                    b"true" => Operand::Bool(true),
                    b"false" => Operand::Bool(false),
                    b"null" => Operand::Null,
                    b"BI" => {
                        let data = self.inline_image();
                        return Some(Operation {
                            op: b"BI",
                            operands: &self.operands,
                            items: &self.items,
                            inline_data: data,
                        });
                    }
                    _ => {
                        return Some(Operation {
                            op: k,
                            operands: &self.operands,
                            items: &self.items,
                            inline_data: &[],
                        });
                    }
                },
                Token::ArrayEnd | Token::DictEnd | Token::BraceOpen | Token::BraceClose => {
                    self.malformed += 1;
                    continue;
                }
                // The common operands without the call (as `operand` makes them).
                Token::Name(n) => Operand::Name(n),
                Token::LitString(x) => Operand::LitString(x),
                Token::HexString(x) => Operand::HexString(x),
                t => self.operand(t, 0),
            };
            self.push_operand(operand);
        }
    }

    #[inline]
    fn push_operand(&mut self, operand: Operand<'c>) {
        if self.operands.len() >= MAX_OPERANDS {
            self.malformed += 1;
            self.operands.remove(0);
        }
        self.operands.push(operand);
    }

    fn operand(&mut self, tok: Token<'c>, depth: u32) -> Operand<'c> {
        match tok {
            Token::Int(i) => Operand::Int(i),
            Token::Real(r) => Operand::Real(r),
            Token::Name(n) => Operand::Name(n),
            Token::LitString(s) => Operand::LitString(s),
            Token::HexString(s) => Operand::HexString(s),
            Token::Keyword(b"true") => Operand::Bool(true),
            Token::Keyword(b"false") => Operand::Bool(false),
            Token::ArrayStart => self.container(false, depth + 1),
            Token::DictStart => self.container(true, depth + 1),
            _ => Operand::Null,
        }
    }

    /// Read an array or dictionary body; its items end up contiguous in `items`.
    fn container(&mut self, dict: bool, depth: u32) -> Operand<'c> {
        let base = self.tmp.len();
        loop {
            let save = self.lex.pos();
            let tok = self.lex.next_token();
            match tok {
                Token::Eof => break,
                Token::ArrayEnd if !dict => break,
                Token::DictEnd if dict => break,
                Token::ArrayEnd | Token::DictEnd | Token::BraceOpen | Token::BraceClose => {
                    self.malformed += 1;
                }
                Token::Keyword(k) if !matches!(k, b"true" | b"false" | b"null") => {
                    // An operator inside an unclosed container: close it there.
                    self.lex.set_pos(save);
                    self.malformed += 1;
                    break;
                }
                Token::ArrayStart | Token::DictStart if depth >= MAX_DEPTH => {
                    self.malformed += 1;
                    self.skip_container();
                }
                t => {
                    let v = match t {
                        // The common items without the call (as `operand` makes them).
                        Token::Int(i) => Operand::Int(i),
                        Token::Real(r) => Operand::Real(r),
                        Token::LitString(x) => Operand::LitString(x),
                        t => self.operand(t, depth),
                    };
                    if self.tmp.len() - base < MAX_ITEMS {
                        self.tmp.push(v);
                    } else {
                        self.malformed += 1;
                    }
                }
            }
        }
        let mut n = self.tmp.len() - base;
        if dict && n % 2 == 1 {
            n -= 1;
        }
        let start = self.items.len() as u32;
        if self.items.len() + n > MAX_ITEMS {
            self.tmp.truncate(base);
            self.malformed += 1;
            return Operand::Null;
        }
        self.items.extend_from_slice(&self.tmp[base..base + n]);
        self.tmp.truncate(base);
        if dict {
            Operand::Dict {
                start,
                len: (n / 2) as u32,
            }
        } else {
            Operand::Array {
                start,
                len: n as u32,
            }
        }
    }

    /// Skip a too-deeply nested container without recording it (bounded by the input).
    fn skip_container(&mut self) {
        let mut depth = 1u32;
        loop {
            match self.lex.next_token() {
                Token::Eof => return,
                Token::ArrayStart | Token::DictStart => depth += 1,
                Token::ArrayEnd | Token::DictEnd => {
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// After `BI`: the image dictionary as the operation's single operand, then skip the data
    /// to the `EI` that ends it.
    fn inline_image(&mut self) -> &'c [u8] {
        let base = self.tmp.len();
        loop {
            let save = self.lex.pos();
            match self.lex.next_token() {
                Token::Eof => break,
                Token::Keyword(b"ID") => break,
                Token::Keyword(b"EI") => {
                    self.lex.set_pos(save);
                    break;
                }
                t => {
                    let v = self.operand(t, 1);
                    if self.tmp.len() - base < 256 {
                        self.tmp.push(v);
                    }
                }
            }
        }
        let n = (self.tmp.len() - base) & !1;
        let start = self.items.len() as u32;
        self.items.extend_from_slice(&self.tmp[base..base + n]);
        self.tmp.truncate(base);
        // The image dictionary is BI's only operand; anything before BI was junk.
        if !self.operands.is_empty() {
            self.malformed += 1;
            self.operands.clear();
        }
        self.operands.push(Operand::Dict {
            start,
            len: (n / 2) as u32,
        });

        // One whitespace byte separates ID from the data.
        let data = self.lex.data();
        let mut p = self.lex.pos();
        if data.get(p).is_some_and(|&b| is_white(b)) {
            p += 1;
        }
        let start = p;
        let end = find_inline_end(data, start);
        let after = (end + 2).min(data.len());
        self.lex.set_pos(after);
        data.get(start..end).unwrap_or(&[])
    }
}

/// The offset of the `EI` ending inline image data that starts at `start`: `EI` between
/// whitespace, followed by what looks like content (ASCII) rather than more binary data.
fn find_inline_end(data: &[u8], start: usize) -> usize {
    let mut from = start;
    while let Some(i) = memchr::memmem::find(data.get(from..).unwrap_or(&[]), b"EI") {
        let p = from + i;
        let before_ok = p == start || data.get(p.wrapping_sub(1)).is_some_and(|&b| is_white(b));
        let after_ok = data.get(p + 2).is_none_or(|&b| !is_regular(b));
        if before_ok && after_ok {
            let tail = &data[p + 2..data.len().min(p + 2 + 32)];
            if tail
                .iter()
                .all(|&b| b.is_ascii() && (b >= 0x20 || is_white(b)))
            {
                return p;
            }
        }
        from = p + 2;
    }
    data.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_text_operators() {
        let src = b"BT /F1 12 Tf 72 700 Td [(Hel) -120 (lo)] TJ (x\\)) Tj ET";
        let mut p = ContentParser::new(src);
        let mut seen = Vec::new();
        while let Some(op) = p.next_op() {
            seen.push(String::from_utf8_lossy(op.op).into_owned());
            if op.op == b"TJ" {
                let arr = op.array(op.operands[0]);
                assert_eq!(arr.len(), 3);
                assert_eq!(arr[1].as_f64(), Some(-120.0));
                assert_eq!(string_bytes(arr[2]).unwrap().as_ref(), b"lo");
            }
            if op.op == b"Tf" {
                assert_eq!(op.operands[0], Operand::Name(b"F1"));
                assert_eq!(op.numbers::<1>(), Some([12.0]));
            }
            if op.op == b"Tj" {
                assert_eq!(string_bytes(op.operands[0]).unwrap().as_ref(), b"x)");
            }
        }
        assert_eq!(seen, ["BT", "Tf", "Td", "TJ", "Tj", "ET"]);
    }

    #[test]
    fn marked_content_dicts_and_nested_arrays() {
        let src = b"/Span << /ActualText (fi) /MCID 3 /K [1 [2 3]] >> BDC EMC";
        let mut p = ContentParser::new(src);
        let op = p.next_op().unwrap();
        assert_eq!(op.op, b"BDC");
        let d = op.operands[1];
        assert_eq!(op.dict_get(d, b"MCID"), Some(Operand::Int(3)));
        assert_eq!(
            string_bytes(op.dict_get(d, b"ActualText").unwrap())
                .unwrap()
                .as_ref(),
            b"fi"
        );
        let k = op.dict_get(d, b"K").unwrap();
        let arr = op.array(k);
        assert_eq!(arr.len(), 2);
        assert_eq!(op.array(arr[1]).len(), 2);
        assert_eq!(p.next_op().unwrap().op, b"EMC");
    }

    #[test]
    fn inline_images_are_skipped() {
        let src = b"q BI /W 2 /H 2 /BPC 8 /CS /G ID \x00EI\xffEI\x01 EI Q (after) Tj";
        let mut p = ContentParser::new(src);
        let ops: Vec<Vec<u8>> = std::iter::from_fn(|| p.next_op().map(|o| o.op.to_vec())).collect();
        assert_eq!(
            ops,
            vec![b"q".to_vec(), b"BI".to_vec(), b"Q".to_vec(), b"Tj".to_vec()]
        );
    }

    #[test]
    fn inline_image_dict_is_the_only_operand() {
        let src = format!("{} BI /W 1 ID x EI (a) Tj", "1 ".repeat(70));
        let mut p = ContentParser::new(src.as_bytes());
        let op = p.next_op().unwrap();
        assert_eq!(op.op, b"BI");
        assert_eq!(op.operands.len(), 1);
        assert_eq!(op.dict_get(op.operands[0], b"W"), Some(Operand::Int(1)));
        assert_eq!(p.next_op().unwrap().op, b"Tj");
    }

    #[test]
    fn operand_count_is_bounded() {
        let src = format!("{} Tj", "1 ".repeat(10_000));
        let mut p = ContentParser::new(src.as_bytes());
        let op = p.next_op().unwrap();
        assert_eq!(op.operands.len(), MAX_OPERANDS);
    }

    /// The operators and their numbers as `Lexer::next_token` reads them (inputs without
    /// containers, strings or names), for comparison with the parser's own reading.
    fn lexer_view(data: &[u8]) -> Vec<String> {
        let mut l = Lexer::new(data);
        let mut v = Vec::new();
        let mut pending = Vec::new();
        loop {
            match l.next_token() {
                Token::Eof => return v,
                Token::Int(i) => pending.push(format!("{i}")),
                Token::Real(r) => pending.push(format!("{r:?}")),
                Token::Keyword(k) => {
                    // An operator takes the last MAX_OPERANDS operands.
                    let skip = pending.len().saturating_sub(MAX_OPERANDS);
                    v.extend(pending.drain(..).skip(skip));
                    v.push(String::from_utf8_lossy(k).into_owned());
                }
                _ => {}
            }
        }
    }

    fn parser_view(data: &[u8]) -> Vec<String> {
        let mut p = ContentParser::new(data);
        let mut v = Vec::new();
        while let Some(op) = p.next_op() {
            for o in op.operands {
                match o {
                    Operand::Int(i) => v.push(format!("{i}")),
                    Operand::Real(r) => v.push(format!("{r:?}")),
                    _ => {}
                }
            }
            v.push(String::from_utf8_lossy(op.op).into_owned());
        }
        v
    }

    #[test]
    fn numbers_and_operators_read_as_the_lexer_does() {
        let src = b"1 -2 +.5 --3 4. 1.2.3 0.00-345 99999999999999999999 % c\n m\r\n.5 l re\tf* 7";
        assert_eq!(parser_view(src), lexer_view(src));
    }

    proptest! {
        #[test]
        fn numbers_and_operators_match_the_lexer(
            data in proptest::collection::vec(
                proptest::sample::select(b" \n\r\t%0123456789+-.eTjmlcf*'".to_vec()), 0..256)
        ) {
            prop_assert_eq!(parser_view(&data), lexer_view(&data));
        }

        #[test]
        fn arbitrary_content_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut p = ContentParser::new(&data);
            let mut n = 0;
            while let Some(op) = p.next_op() {
                for o in op.operands {
                    let _ = op.array(*o);
                    let _ = op.dict_get(*o, b"MCID");
                }
                n += 1;
                prop_assert!(n <= data.len() + 1);
            }
        }
    }
}
