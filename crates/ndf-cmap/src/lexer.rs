//! A zero-copy PostScript-ish tokenizer for CMap programs.
//!
//! Every call to [`Lexer::next_token`] consumes at least one byte or returns
//! `None` at the end, so any loop over it is bounded by the input size.

/// One token; string and name payloads borrow the raw input (escapes undecoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok<'a> {
    /// Contents of `<...>` (whitespace and junk still inside).
    Hex(&'a [u8]),
    /// Contents of `(...)` with escapes still encoded.
    Lit(&'a [u8]),
    /// A name without the leading `/` (`#xx` escapes undecoded).
    Name(&'a [u8]),
    Int(i64),
    Real,
    Keyword(&'a [u8]),
    ArrayOpen,
    ArrayClose,
    DictOpen,
    DictClose,
    ProcOpen,
    ProcClose,
}

pub(crate) struct Lexer<'a> {
    data: &'a [u8],
    pos: usize,
}

pub(crate) const fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

const fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

const fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !is_delimiter(b)
}

impl<'a> Lexer<'a> {
    pub(crate) const fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Bytes from `start` while `pred` holds; advances past them.
    fn take_while(&mut self, start: usize, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let mut end = start;
        while let Some(&b) = self.data.get(end) {
            if !pred(b) {
                break;
            }
            end += 1;
        }
        self.pos = end;
        self.data.get(start..end).unwrap_or_default()
    }

    pub(crate) fn next_token(&mut self) -> Option<Tok<'a>> {
        loop {
            let b = self.peek()?;
            match b {
                _ if is_whitespace(b) => self.pos += 1,
                b'%' => {
                    self.take_while(self.pos, |c| c != b'\n' && c != b'\r');
                }
                b'(' => return Some(Tok::Lit(self.literal())),
                b'<' => {
                    if self.data.get(self.pos + 1) == Some(&b'<') {
                        self.pos += 2;
                        return Some(Tok::DictOpen);
                    }
                    let body = self.take_while(self.pos + 1, |c| c != b'>');
                    // Skip the closing '>' when present (absent at end of input).
                    if self.peek().is_some() {
                        self.pos += 1;
                    }
                    return Some(Tok::Hex(body));
                }
                b'>' => {
                    if self.data.get(self.pos + 1) == Some(&b'>') {
                        self.pos += 2;
                        return Some(Tok::DictClose);
                    }
                    self.pos += 1; // stray '>'
                }
                b'[' | b']' | b'{' | b'}' => {
                    self.pos += 1;
                    return Some(match b {
                        b'[' => Tok::ArrayOpen,
                        b']' => Tok::ArrayClose,
                        b'{' => Tok::ProcOpen,
                        _ => Tok::ProcClose,
                    });
                }
                b'/' => return Some(Tok::Name(self.take_while(self.pos + 1, is_regular))),
                b')' => self.pos += 1, // stray ')'
                _ => {
                    let word = self.take_while(self.pos, is_regular);
                    return Some(classify(word));
                }
            }
        }
    }

    /// A literal string starting at '(' (balanced parentheses, backslash escapes).
    fn literal(&mut self) -> &'a [u8] {
        let start = self.pos + 1;
        let mut i = start;
        let mut depth: u32 = 1;
        while let Some(&c) = self.data.get(i) {
            match c {
                b'\\' => i += 1, // the escaped byte is skipped below
                b'(' => depth = depth.saturating_add(1),
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos = i + 1;
                        return self.data.get(start..i).unwrap_or_default();
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.pos = self.data.len();
        self.data.get(start..).unwrap_or_default()
    }
}

/// A run of regular characters: an integer, a real, or a keyword.
fn classify(word: &[u8]) -> Tok<'_> {
    let digits = match word.first() {
        Some(b'+' | b'-') => word.get(1..).unwrap_or_default(),
        _ => word,
    };
    if digits.is_empty() {
        return Tok::Keyword(word);
    }
    if digits.iter().all(u8::is_ascii_digit) {
        let mut v: i64 = 0;
        for &d in digits {
            v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
        }
        if word.first() == Some(&b'-') {
            v = -v;
        }
        return Tok::Int(v);
    }
    let dots = digits.iter().filter(|&&c| c == b'.').count();
    if dots == 1 && digits.len() > 1 && digits.iter().all(|&c| c == b'.' || c.is_ascii_digit()) {
        return Tok::Real;
    }
    Tok::Keyword(word)
}

/// Decodes the escapes of a literal string body, calling `f` per byte.
pub(crate) fn literal_bytes(raw: &[u8], mut f: impl FnMut(u8)) {
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        i += 1;
        if c != b'\\' {
            f(c);
            continue;
        }
        let Some(&e) = raw.get(i) else { break };
        i += 1;
        match e {
            b'n' => f(b'\n'),
            b'r' => f(b'\r'),
            b't' => f(b'\t'),
            b'b' => f(0x08),
            b'f' => f(0x0C),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                f((v & 0xFF) as u8);
            }
            b'\r' => {
                // Line continuation: backslash + EOL produces nothing.
                if raw.get(i) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => {}
            other => f(other),
        }
    }
}

/// Decodes `#xx` escapes of a name into `buf`; returns the used prefix, or
/// `None` when the name does not fit.
pub(crate) fn name_bytes<'b>(raw: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut i = 0;
    while let Some(&c) = raw.get(i) {
        let mut byte = c;
        i += 1;
        if c == b'#' {
            let hi = raw.get(i).and_then(|&h| hex_val(h));
            let lo = raw.get(i + 1).and_then(|&l| hex_val(l));
            if let (Some(hi), Some(lo)) = (hi, lo) {
                byte = (hi << 4) | lo;
                i += 2;
            }
        }
        *buf.get_mut(n)? = byte;
        n += 1;
    }
    buf.get(..n)
}

pub(crate) const fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(data: &[u8]) -> Vec<Tok<'_>> {
        let mut lx = Lexer::new(data);
        std::iter::from_fn(|| lx.next_token()).collect()
    }

    #[test]
    fn tokens() {
        let toks = all(b"%c\n/CMapName /Foo def <00 1F> (a(b)c) [ 12 -3 1.5 ] << >> {x} )>");
        assert_eq!(
            toks,
            vec![
                Tok::Name(b"CMapName"),
                Tok::Name(b"Foo"),
                Tok::Keyword(b"def"),
                Tok::Hex(b"00 1F"),
                Tok::Lit(b"a(b)c"),
                Tok::ArrayOpen,
                Tok::Int(12),
                Tok::Int(-3),
                Tok::Real,
                Tok::ArrayClose,
                Tok::DictOpen,
                Tok::DictClose,
                Tok::ProcOpen,
                Tok::Keyword(b"x"),
                Tok::ProcClose,
            ]
        );
    }

    #[test]
    fn unterminated() {
        assert_eq!(all(b"<0041"), vec![Tok::Hex(b"0041")]);
        assert_eq!(all(b"(ab\\"), vec![Tok::Lit(b"ab\\")]);
    }

    #[test]
    fn literal_escapes() {
        let mut v = Vec::new();
        literal_bytes(b"a\\n\\101\\(\\\r\nz\\", |b| v.push(b));
        assert_eq!(v, b"a\nA(z");
    }

    #[test]
    fn names() {
        let mut buf = [0u8; 8];
        assert_eq!(name_bytes(b"A#20B", &mut buf), Some(&b"A B"[..]));
        assert_eq!(name_bytes(b"toolongname", &mut buf), None);
    }
}
