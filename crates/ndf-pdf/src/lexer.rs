//! Zero-copy tokenizer for PDF object syntax and content streams.
//!
//! Tokens borrow from the input. The lexer never fails: malformed input yields keywords made of
//! the offending bytes (which the parser skips) and every call consumes at least one byte until
//! the end of input, so loops over tokens are bounded by the input length.

/// Character classes of ISO 32000 §7.2.3.
const WHITE: u8 = 1;
const DELIM: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[0] = WHITE;
    t[9] = WHITE;
    t[10] = WHITE;
    t[12] = WHITE;
    t[13] = WHITE;
    t[32] = WHITE;
    t[b'(' as usize] = DELIM;
    t[b')' as usize] = DELIM;
    t[b'<' as usize] = DELIM;
    t[b'>' as usize] = DELIM;
    t[b'[' as usize] = DELIM;
    t[b']' as usize] = DELIM;
    t[b'{' as usize] = DELIM;
    t[b'}' as usize] = DELIM;
    t[b'/' as usize] = DELIM;
    t[b'%' as usize] = DELIM;
    t
};

/// True for PDF whitespace bytes.
#[inline]
pub fn is_white(b: u8) -> bool {
    CLASS[b as usize] == WHITE
}

/// True for PDF delimiter bytes.
#[inline]
pub fn is_delim(b: u8) -> bool {
    CLASS[b as usize] == DELIM
}

/// True for bytes that are part of a regular token (neither whitespace nor delimiter).
#[inline]
pub fn is_regular(b: u8) -> bool {
    CLASS[b as usize] == 0
}

/// A token of PDF syntax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    /// An integer that fits `i64`.
    Int(i64),
    /// A real number (or an integer too large for `i64`).
    Real(f64),
    /// A name, raw bytes after the `/` (`#xx` escapes not yet decoded).
    Name(&'a [u8]),
    /// A literal string, raw bytes between the outer parentheses (escapes not yet decoded).
    LitString(&'a [u8]),
    /// A hexadecimal string, raw bytes between `<` and `>`.
    HexString(&'a [u8]),
    /// `[`
    ArrayStart,
    /// `]`
    ArrayEnd,
    /// `<<`
    DictStart,
    /// `>>`
    DictEnd,
    /// `{` (PostScript calculator functions, CMaps)
    BraceOpen,
    /// `}`
    BraceClose,
    /// Any other run of regular characters: `obj`, `R`, `true`, operators, or junk.
    Keyword(&'a [u8]),
    /// End of input.
    Eof,
}

/// A cursor over PDF bytes.
#[derive(Debug, Clone)]
pub struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// A lexer at `pos` (clamped to the input length).
    pub fn at(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos: pos.min(data.len()),
        }
    }

    /// Current byte offset.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Move to `pos` (clamped).
    #[inline]
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// The whole input.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The input from the current position on.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Skip whitespace and comments.
    #[inline]
    pub fn skip_ws(&mut self) {
        let d = self.data;
        let mut p = self.pos;
        while let Some(&b) = d.get(p) {
            if is_white(b) {
                p += 1;
            } else if b == b'%' {
                p += 1;
                while let Some(&c) = d.get(p) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    p += 1;
                }
            } else {
                break;
            }
        }
        self.pos = p;
    }

    /// The byte at the current position (call after [`Lexer::skip_ws`] to see how the next
    /// token starts).
    #[inline]
    pub(crate) fn current(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// The keyword starting at the current position, which must hold a regular byte that does
    /// not start a number (what [`Lexer::next_token`] reads as [`Token::Keyword`]).
    #[inline]
    pub(crate) fn keyword(&mut self) -> &'a [u8] {
        let d = self.data;
        let start = self.pos;
        let mut p = start + 1;
        while let Some(&c) = d.get(p) {
            if !is_regular(c) {
                break;
            }
            p += 1;
        }
        self.pos = p.min(d.len());
        d.get(start..self.pos).unwrap_or(&[])
    }

    /// The next token without consuming it.
    pub fn peek(&mut self) -> Token<'a> {
        let save = self.pos;
        let t = self.next_token();
        self.pos = save;
        t
    }

    /// The next token.
    pub fn next_token(&mut self) -> Token<'a> {
        self.skip_ws();
        let d = self.data;
        let start = self.pos;
        let Some(&b) = d.get(start) else {
            return Token::Eof;
        };
        match b {
            b'/' => {
                let mut p = start + 1;
                while let Some(&c) = d.get(p) {
                    if !is_regular(c) {
                        break;
                    }
                    p += 1;
                }
                self.pos = p;
                Token::Name(&d[start + 1..p])
            }
            b'(' => self.lit_string(),
            b'<' => {
                if d.get(start + 1) == Some(&b'<') {
                    self.pos = start + 2;
                    Token::DictStart
                } else {
                    let body_start = start + 1;
                    let end = memchr::memchr(b'>', &d[body_start..]).map(|i| body_start + i);
                    match end {
                        Some(e) => {
                            self.pos = e + 1;
                            Token::HexString(&d[body_start..e])
                        }
                        None => {
                            self.pos = d.len();
                            Token::HexString(&d[body_start..])
                        }
                    }
                }
            }
            b'>' => {
                if d.get(start + 1) == Some(&b'>') {
                    self.pos = start + 2;
                    Token::DictEnd
                } else {
                    // A stray '>' is junk: hand it to the parser as a keyword it will skip.
                    self.pos = start + 1;
                    Token::Keyword(&d[start..start + 1])
                }
            }
            b'[' => {
                self.pos = start + 1;
                Token::ArrayStart
            }
            b']' => {
                self.pos = start + 1;
                Token::ArrayEnd
            }
            b'{' => {
                self.pos = start + 1;
                Token::BraceOpen
            }
            b'}' => {
                self.pos = start + 1;
                Token::BraceClose
            }
            b')' => {
                self.pos = start + 1;
                Token::Keyword(&d[start..start + 1])
            }
            b'0'..=b'9' | b'+' | b'-' | b'.' => self.number(),
            _ => {
                let mut p = start + 1;
                while let Some(&c) = d.get(p) {
                    if !is_regular(c) {
                        break;
                    }
                    p += 1;
                }
                self.pos = p;
                Token::Keyword(&d[start..p])
            }
        }
    }

    fn lit_string(&mut self) -> Token<'a> {
        let d = self.data;
        let body_start = self.pos + 1;
        let mut depth = 1u32;
        let mut p = body_start;
        while let Some(&c) = d.get(p) {
            match c {
                b'\\' => p += 2,
                b'(' => {
                    depth += 1;
                    p += 1;
                }
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = p + 1;
                        return Token::LitString(&d[body_start..p]);
                    }
                    p += 1;
                }
                _ => p += 1,
            }
        }
        // Unterminated: the string runs to the end of the input.
        self.pos = d.len();
        Token::LitString(d.get(body_start..).unwrap_or(&[]))
    }

    /// Numbers, leniently: `+.5`, `-.002`, `4.`, `--5` (as -5), `1.2.3` (as 1.2), a lone sign
    /// or dot (as 0). Anything regular that follows a malformed number is consumed with it
    /// so that the next token starts at a delimiter.
    #[inline(always)]
    pub(crate) fn number(&mut self) -> Token<'a> {
        let d = self.data;
        let mut p = self.pos;
        let mut negative = false;
        // Repeated signs occur in broken generators' output; the last one counts.
        while let Some(&c) = d.get(p) {
            match c {
                b'-' => negative = true,
                b'+' => negative = false,
                _ => break,
            }
            p += 1;
        }
        let mut int: i64 = 0;
        let int_start = p;
        while let Some(&c) = d.get(p) {
            let digit = c.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            // Wrapping is exact up to 18 digits; longer runs are checked below.
            int = int.wrapping_mul(10).wrapping_add(i64::from(digit));
            p += 1;
        }
        let int_digits = p - int_start;
        let overflow = int_digits > 18 && overflows_i64(d.get(int_start..p).unwrap_or(&[]));
        let mut is_real = false;
        let mut frac: f64 = 0.0;
        if d.get(p) == Some(&b'.') {
            is_real = true;
            p += 1;
            let mut scale = 0.1;
            while let Some(&c) = d.get(p) {
                if !c.is_ascii_digit() {
                    break;
                }
                frac += f64::from(c - b'0') * scale;
                scale *= 0.1;
                p += 1;
            }
        }
        // Swallow trailing junk that is still "regular" (e.g. a second '.', "0.00-345"),
        // as pdf.js does; the number keeps the value read so far.
        while let Some(&c) = d.get(p) {
            if !is_regular(c) {
                break;
            }
            p += 1;
        }
        self.pos = p.max(self.pos + 1);
        if overflow {
            return big_number(d.get(int_start..int_start + int_digits), frac, negative);
        }
        if is_real {
            let v = int as f64 + frac;
            Token::Real(if negative { -v } else { v })
        } else {
            Token::Int(if negative { -int } else { int })
        }
    }

    /// Consume the end-of-line after the `stream` keyword (CRLF or LF; a lone CR is tolerated).
    pub fn skip_stream_eol(&mut self) {
        let d = self.data;
        // Some writers put spaces before the EOL.
        while d.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        match d.get(self.pos) {
            Some(b'\r') => {
                self.pos += 1;
                if d.get(self.pos) == Some(&b'\n') {
                    self.pos += 1;
                }
            }
            Some(b'\n') => self.pos += 1,
            _ => {}
        }
    }
}

/// True when the decimal digits overflow `i64`.
#[cold]
fn overflows_i64(digits: &[u8]) -> bool {
    let mut int: i64 = 0;
    for &c in digits {
        match int
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(c.wrapping_sub(b'0'))))
        {
            Some(v) => int = v,
            None => return true,
        }
    }
    false
}

/// A number whose integer part overflows `i64`, as a real.
#[cold]
fn big_number<'a>(digits: Option<&[u8]>, frac: f64, negative: bool) -> Token<'a> {
    let text = digits
        .and_then(|d| std::str::from_utf8(d).ok())
        .unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0) + frac;
    Token::Real(if negative { -v } else { v })
}

/// Decode the raw body of a literal string (escapes, line continuations, EOL normalisation).
/// Returns `None` when the raw bytes need no decoding (the common case: borrow them as is).
pub fn decode_literal(raw: &[u8]) -> Option<Vec<u8>> {
    if !raw.iter().any(|&b| b == b'\\' || b == b'\r') {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        i += 1;
        match b {
            b'\\' => {
                let Some(&e) = raw.get(i) else { break };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match raw.get(i) {
                                Some(&c @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(c - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push((v & 0xFF) as u8);
                    }
                    b'\r' => {
                        // Line continuation: backslash-EOL produces nothing.
                        if raw.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    other => out.push(other),
                }
            }
            b'\r' => {
                // An unescaped EOL of any kind reads as a single LF.
                if raw.get(i) == Some(&b'\n') {
                    i += 1;
                }
                out.push(b'\n');
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Decode a hexadecimal string body; whitespace and junk are ignored, an odd final digit is
/// padded with 0.
pub fn decode_hex(raw: &[u8], out: &mut Vec<u8>) {
    out.reserve(raw.len() / 2);
    let mut hi: Option<u8> = None;
    for &b in raw {
        let v = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => continue,
        };
        match hi.take() {
            Some(h) => out.push(h << 4 | v),
            None => hi = Some(v),
        }
    }
    if let Some(h) = hi {
        out.push(h << 4);
    }
}

/// Decode `#xx` escapes of a raw name. Returns `None` when there are none.
pub fn decode_name(raw: &[u8]) -> Option<Vec<u8>> {
    if !raw.contains(&b'#') {
        return None;
    }
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'#'
            && let (Some(h), Some(l)) = (
                raw.get(i + 1).and_then(|&c| hex(c)),
                raw.get(i + 2).and_then(|&c| hex(c)),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokens(s: &[u8]) -> Vec<Token<'_>> {
        let mut l = Lexer::new(s);
        let mut v = Vec::new();
        loop {
            let t = l.next_token();
            if t == Token::Eof {
                return v;
            }
            v.push(t);
        }
    }

    #[test]
    fn basic_tokens() {
        let t =
            tokens(b"<< /Type /Page /Kids [1 0 R] >> (a(b)c) <48 65> % comment\n true -3.5 .5 +7");
        assert_eq!(
            t,
            vec![
                Token::DictStart,
                Token::Name(b"Type"),
                Token::Name(b"Page"),
                Token::Name(b"Kids"),
                Token::ArrayStart,
                Token::Int(1),
                Token::Int(0),
                Token::Keyword(b"R"),
                Token::ArrayEnd,
                Token::DictEnd,
                Token::LitString(b"a(b)c"),
                Token::HexString(b"48 65"),
                Token::Keyword(b"true"),
                Token::Real(-3.5),
                Token::Real(0.5),
                Token::Int(7),
            ]
        );
    }

    #[test]
    fn malformed_numbers_are_lenient() {
        assert_eq!(tokens(b"--5"), vec![Token::Int(-5)]);
        assert_eq!(tokens(b"4."), vec![Token::Real(4.0)]);
        assert_eq!(
            tokens(b"1.2.3 x"),
            vec![Token::Real(1.2), Token::Keyword(b"x")]
        );
        assert_eq!(tokens(b"- ."), vec![Token::Int(0), Token::Real(0.0)]);
        assert_eq!(tokens(b"0.00-345"), vec![Token::Real(0.0)]);
        assert_eq!(
            tokens(b"99999999999999999999"),
            vec![Token::Real(99999999999999999999.0)]
        );
        // Around the 18-digit fast path and the i64 limit.
        assert_eq!(
            tokens(b"999999999999999999 -9223372036854775807 9223372036854775808.5"),
            vec![
                Token::Int(999_999_999_999_999_999),
                Token::Int(-9_223_372_036_854_775_807),
                Token::Real(9223372036854775808.5),
            ]
        );
    }

    #[test]
    fn strings_decode() {
        assert_eq!(decode_literal(b"plain"), None);
        assert_eq!(
            decode_literal(b"a\\nb\\(\\)\\\\\\101\\7x").unwrap(),
            b"a\nb()\\A\x07x".to_vec()
        );
        assert_eq!(
            decode_literal(b"line\\\r\ncont\r\nx").unwrap(),
            b"linecont\nx".to_vec()
        );
        let mut out = Vec::new();
        decode_hex(b"48 65 6C6c 6", &mut out);
        assert_eq!(out, b"Hell`".to_vec());
        assert_eq!(decode_name(b"A#20B#zz").unwrap(), b"A B#zz".to_vec());
    }

    #[test]
    fn unterminated_constructs_end_at_eof() {
        assert_eq!(tokens(b"(abc"), vec![Token::LitString(b"abc")]);
        assert_eq!(tokens(b"<4142"), vec![Token::HexString(b"4142")]);
        assert_eq!(tokens(b"(a\\"), vec![Token::LitString(b"a\\")]);
    }

    proptest! {
        #[test]
        fn lexer_always_progresses(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut l = Lexer::new(&data);
            let mut steps = 0;
            loop {
                let before = l.pos();
                let t = l.next_token();
                if t == Token::Eof { break; }
                prop_assert!(l.pos() > before);
                steps += 1;
                prop_assert!(steps <= data.len());
            }
        }

        #[test]
        fn integers_round_trip(v in -1_000_000_000_000i64..1_000_000_000_000) {
            let s = v.to_string();
            prop_assert_eq!(tokens(s.as_bytes()), vec![Token::Int(v)]);
        }

        #[test]
        fn reals_round_trip(v in -1.0e6f64..1.0e6) {
            let s = format!("{v:.4}");
            match tokens(s.as_bytes()).as_slice() {
                [Token::Real(r)] => prop_assert!((r - v).abs() < 1e-3),
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn literal_strings_round_trip(body in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Escape every delimiter-ish byte the way a writer would.
            let mut enc = Vec::new();
            for &b in &body {
                match b {
                    b'(' | b')' | b'\\' => { enc.push(b'\\'); enc.push(b); }
                    b'\r' => enc.extend_from_slice(b"\\r"),
                    _ => enc.push(b),
                }
            }
            let mut src = vec![b'('];
            src.extend_from_slice(&enc);
            src.push(b')');
            let mut l = Lexer::new(&src);
            match l.next_token() {
                Token::LitString(raw) => {
                    let decoded = decode_literal(raw).unwrap_or_else(|| raw.to_vec());
                    prop_assert_eq!(decoded, body);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
    }
}
