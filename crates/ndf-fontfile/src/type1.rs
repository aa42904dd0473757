//! A small, bounded reader for Type 1 font programs (PFA, PFB, or the raw /FontFile form):
//! `/Encoding`, `/FontName`, `/FontMatrix` and the glyph names of `/CharStrings`, which live in
//! the eexec-encrypted part.
//!
//! It tokenizes PostScript just enough: binary data introduced by `<n> RD` (or `-|`, or a name
//! the font defines with `readstring`) is skipped by length, so charstring bytes are never
//! mistaken for tokens. Every loop consumes input, so the work is linear in the font size.

use crate::names::NameTable;

/// eexec key (charstrings use 4330, which is not needed here).
const EEXEC_KEY: u16 = 55665;
const C1: u16 = 52845;
const C2: u16 = 22719;
/// Most binary-reading procedure names learned from the font (`/RD {string currentfile ...}`).
const MAX_RD_NAMES: usize = 4;
/// Most PFB segments read (real fonts have 3 or 4).
const MAX_PFB_SEGMENTS: usize = 64;

/// What a Type 1 font program yields.
#[derive(Debug, Default)]
pub(crate) struct Type1 {
    pub(crate) names: NameTable,
    pub(crate) encoding: Option<NameTable>,
    pub(crate) standard_encoding: bool,
    pub(crate) font_name: Option<Box<str>>,
    pub(crate) font_matrix: Option<[f64; 6]>,
    /// True when any Type 1 structure was recognised (header, dictionary keys, eexec).
    pub(crate) recognised: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'a> {
    /// `/name`
    Lit(&'a [u8]),
    /// An executable name or a number.
    Word(&'a [u8]),
    /// `[` or `{`
    Open(u8),
    /// `]` or `}`
    Close(u8),
    /// A string or hex string (contents not needed).
    Str,
}

fn is_ws(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delim(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

struct Lexer<'a> {
    d: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(d: &'a [u8]) -> Self {
        Self { d, pos: 0 }
    }

    fn regular(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(&b) = self.d.get(self.pos) {
            if is_ws(b) || is_delim(b) {
                break;
            }
            self.pos += 1;
        }
        self.d.get(start..self.pos).unwrap_or_default()
    }

    /// Skips `n` bytes of binary data after the single space that follows `RD`.
    fn skip_binary(&mut self, n: usize) {
        self.pos = self
            .pos
            .saturating_add(1)
            .saturating_add(n)
            .min(self.d.len());
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        loop {
            let &b = self.d.get(self.pos)?;
            if is_ws(b) {
                self.pos += 1;
                continue;
            }
            if b == b'%' {
                while let Some(&c) = self.d.get(self.pos) {
                    if c == b'\n' || c == b'\r' {
                        break;
                    }
                    self.pos += 1;
                }
                continue;
            }
            self.pos += 1;
            return Some(match b {
                b'/' => {
                    if self.d.get(self.pos) == Some(&b'/') {
                        self.pos += 1;
                    }
                    Tok::Lit(self.regular())
                }
                b'[' | b'{' => Tok::Open(b),
                b']' | b'}' => Tok::Close(b),
                b'(' => {
                    let mut depth = 1u32;
                    while let Some(&c) = self.d.get(self.pos) {
                        self.pos += 1;
                        match c {
                            b'\\' => self.pos += 1,
                            b'(' => depth += 1,
                            b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    Tok::Str
                }
                b'<' => {
                    if self.d.get(self.pos) == Some(&b'<') {
                        self.pos += 1;
                        Tok::Word(b"<<")
                    } else {
                        while let Some(&c) = self.d.get(self.pos) {
                            self.pos += 1;
                            if c == b'>' {
                                break;
                            }
                        }
                        Tok::Str
                    }
                }
                b'>' => {
                    if self.d.get(self.pos) == Some(&b'>') {
                        self.pos += 1;
                    }
                    Tok::Word(b">>")
                }
                b')' => Tok::Word(b")"),
                _ => {
                    self.pos -= 1;
                    Tok::Word(self.regular())
                }
            });
        }
    }
}

fn int(t: Tok<'_>) -> Option<i64> {
    let Tok::Word(w) = t else { return None };
    if w.is_empty() || w.len() > 18 {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

fn real(t: Tok<'_>) -> Option<f64> {
    let Tok::Word(w) = t else { return None };
    if w.len() > 40 {
        return None;
    }
    std::str::from_utf8(w)
        .ok()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Decrypts eexec data (r = 55665) and drops the 4 random leading bytes.
fn decrypt(cipher: impl Iterator<Item = u8>) -> Vec<u8> {
    let mut r = EEXEC_KEY;
    let (lo, _) = cipher.size_hint();
    let mut out = Vec::with_capacity(lo.saturating_sub(4));
    for (i, c) in cipher.enumerate() {
        if i >= 4 {
            out.push(c ^ (r >> 8) as u8);
        }
        r = u16::from(c)
            .wrapping_add(r)
            .wrapping_mul(C1)
            .wrapping_add(C2);
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Share of printable text in a decrypted prefix: the plaintext of a real font is PostScript.
fn looks_like_text(plain: &[u8]) -> bool {
    let sample = &plain[..plain.len().min(32)];
    if sample.is_empty() {
        return false;
    }
    let ok = sample
        .iter()
        .filter(|&&b| is_ws(b) || (0x20..0x7F).contains(&b))
        .count();
    ok * 10 >= sample.len() * 9
}

/// Decrypts the part after `eexec`, deciding between the hex and binary forms.
fn decrypt_after_eexec(rest: &[u8]) -> Vec<u8> {
    let body = {
        let skip = rest.iter().take_while(|&&b| is_ws(b)).count();
        &rest[skip..]
    };
    // Hex form: the first four non-blank characters are hex digits (Type 1 spec, 7.2).
    if body.len() >= 4 && body[..4].iter().all(|&b| hex_val(b).is_some()) {
        let mut nibbles = body
            .iter()
            .copied()
            .take_while(|&b| is_ws(b) || hex_val(b).is_some())
            .filter_map(hex_val);
        let mut bytes = Vec::with_capacity(body.len() / 2);
        while let (Some(h), Some(l)) = (nibbles.next(), nibbles.next()) {
            bytes.push(h << 4 | l);
        }
        return decrypt(bytes.into_iter());
    }
    // Binary form: one end-of-line follows `eexec`, but the ciphertext may itself start with
    // blank bytes, so try the few plausible starts and keep the one that decrypts to text.
    for start in 0..=3usize.min(rest.len()) {
        if start > 0 && !rest.get(start - 1).is_some_and(|&b| is_ws(b)) {
            break;
        }
        let probe = decrypt(rest.iter().skip(start).take(36).copied());
        if looks_like_text(&probe) {
            return decrypt(rest.iter().skip(start).copied());
        }
    }
    // Nothing decrypts to text (broken font): assume the usual single end-of-line byte.
    let start = usize::from(rest.first().is_some_and(|&b| is_ws(b)));
    decrypt(rest.iter().skip(start).copied())
}

/// Splits a PFB file into its (cleartext, binary) segment payloads.
fn split_pfb(d: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut text, mut bin) = (Vec::new(), Vec::new());
    let mut pos = 0usize;
    for _ in 0..MAX_PFB_SEGMENTS {
        let (Some(&0x80), Some(&kind)) = (d.get(pos), d.get(pos + 1)) else {
            break;
        };
        if kind == 3 {
            break;
        }
        let Some(len) = d.get(pos + 2..pos + 6) else {
            break;
        };
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = pos + 6;
        let end = start.saturating_add(len).min(d.len());
        let payload = d.get(start..end).unwrap_or_default();
        match kind {
            1 => text.extend_from_slice(payload),
            2 => bin.extend_from_slice(payload),
            _ => break,
        }
        pos = end;
    }
    (text, bin)
}

struct Scanner<'a> {
    out: &'a mut Type1,
    rd_names: Vec<Box<[u8]>>,
    charstrings_done: bool,
}

impl Scanner<'_> {
    fn is_rd(&self, w: &[u8]) -> bool {
        w == b"RD" || w == b"-|" || self.rd_names.iter().any(|n| &**n == w)
    }

    /// Scans one part; with `stop_at_eexec`, returns the position just after `eexec`.
    fn scan(&mut self, d: &[u8], stop_at_eexec: bool) -> Option<usize> {
        let mut lx = Lexer::new(d);
        let mut prev: Option<Tok<'_>> = None;
        let mut proc_owner: Option<&[u8]> = None;
        while let Some(t) = lx.next() {
            match t {
                Tok::Word(b"eexec") if stop_at_eexec => {
                    self.out.recognised = true;
                    return Some(lx.pos);
                }
                Tok::Word(w) if self.is_rd(w) => {
                    if let Some(n) = prev.and_then(int).and_then(|n| usize::try_from(n).ok()) {
                        lx.skip_binary(n);
                    }
                }
                Tok::Word(b"readstring") => {
                    if let Some(owner) = proc_owner.take()
                        && self.rd_names.len() < MAX_RD_NAMES
                    {
                        self.rd_names.push(owner.into());
                    }
                }
                Tok::Open(b'{') => {
                    proc_owner = match prev {
                        Some(Tok::Lit(n)) if !n.is_empty() => Some(n),
                        _ => None,
                    };
                }
                // As in PostScript, a later definition replaces an earlier one (some TeX
                // fonts define a custom array and then `/Encoding StandardEncoding def`).
                Tok::Lit(b"Encoding") => {
                    self.out.recognised = true;
                    self.encoding(&mut lx);
                }
                Tok::Lit(b"FontName") if self.out.font_name.is_none() => {
                    self.out.recognised = true;
                    if let Some(Tok::Lit(n)) = lx.next() {
                        self.out.font_name = std::str::from_utf8(n)
                            .ok()
                            .filter(|n| !n.is_empty() && n.len() <= crate::names::MAX_NAME_LEN)
                            .map(Into::into);
                    }
                }
                Tok::Lit(b"FontMatrix") if self.out.font_matrix.is_none() => {
                    self.font_matrix(&mut lx);
                }
                Tok::Lit(b"CharStrings") if !self.charstrings_done => {
                    self.out.recognised = true;
                    self.charstrings(&mut lx);
                }
                _ => {}
            }
            prev = Some(t);
        }
        None
    }

    fn encoding(&mut self, lx: &mut Lexer<'_>) {
        let mut codes: [Option<&[u8]>; 256] = [None; 256];
        match lx.next() {
            Some(Tok::Word(b"StandardEncoding")) => {
                self.out.standard_encoding = true;
                self.out.encoding = None;
                return;
            }
            Some(Tok::Open(b'[')) => {
                // A literal array of names, code 0 first.
                let mut code = 0usize;
                while let Some(t) = lx.next() {
                    match t {
                        Tok::Lit(n) => {
                            if let Some(slot) = codes.get_mut(code) {
                                *slot = Some(n);
                            }
                            code += 1;
                        }
                        Tok::Close(_) => break,
                        _ => {}
                    }
                }
            }
            Some(t) if int(t).is_some() => {
                // `256 array ... dup <code> /<name> put ... readonly def`
                let mut w: [Option<Tok<'_>>; 3] = [None; 3];
                while let Some(t) = lx.next() {
                    match t {
                        Tok::Word(b"def") | Tok::Word(b"eexec") => break,
                        Tok::Lit(b"CharStrings") | Tok::Lit(b"Private") => break,
                        Tok::Word(b"put") => {
                            if let [Some(Tok::Word(b"dup")), Some(c), Some(Tok::Lit(n))] = w
                                && let Some(code) = int(c).and_then(|c| usize::try_from(c).ok())
                                && let Some(slot) = codes.get_mut(code)
                            {
                                *slot = Some(n);
                            }
                        }
                        _ => {}
                    }
                    w = [w[1], w[2], Some(t)];
                }
            }
            _ => return,
        }
        let mut table = NameTable::with_capacity(256);
        for n in codes {
            table.push_bytes(n);
        }
        self.out.encoding = Some(table);
        self.out.standard_encoding = false;
    }

    fn font_matrix(&mut self, lx: &mut Lexer<'_>) {
        if !matches!(lx.next(), Some(Tok::Open(_))) {
            return;
        }
        let mut m = [0f64; 6];
        for slot in &mut m {
            match lx.next().and_then(real) {
                Some(v) => *slot = v,
                None => return,
            }
        }
        self.out.font_matrix = Some(m);
    }

    fn charstrings(&mut self, lx: &mut Lexer<'_>) {
        self.charstrings_done = true;
        let mut names = NameTable::with_capacity(0);
        let mut w: [Option<Tok<'_>>; 2] = [None; 2];
        while let Some(t) = lx.next() {
            match t {
                Tok::Word(b"end") if !names.is_empty() => break,
                Tok::Word(rd) if self.is_rd(rd) => {
                    let n = w[1].and_then(int).and_then(|n| usize::try_from(n).ok());
                    if let (Some(Tok::Lit(name)), Some(n)) = (w[0], n) {
                        if names.len() >= crate::MAX_GLYPHS {
                            break;
                        }
                        names.push_bytes(Some(name));
                        lx.skip_binary(n);
                    } else if let Some(n) = n {
                        lx.skip_binary(n);
                    }
                }
                _ => {}
            }
            w = [w[1], Some(t)];
        }
        self.out.names = names;
    }
}

/// Parses a Type 1 font program. Never fails; `recognised` says whether it looked like one.
pub(crate) fn parse(d: &[u8]) -> Type1 {
    let mut out = Type1::default();
    let mut sc = Scanner {
        out: &mut out,
        rd_names: Vec::new(),
        charstrings_done: false,
    };
    if d.starts_with(&[0x80, 0x01]) {
        let (text, bin) = split_pfb(d);
        sc.out.recognised = true;
        sc.scan(&text, true);
        let plain = decrypt(bin.into_iter());
        sc.scan(&plain, false);
    } else if let Some(after) = sc.scan(d, true) {
        let plain = decrypt_after_eexec(d.get(after..).unwrap_or_default());
        sc.scan(&plain, false);
    }
    if d.starts_with(b"%!") {
        out.recognised = true;
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// eexec-encrypts `plain` behind four zero bytes (the inverse of `decrypt`).
    pub(crate) fn encrypt(seed: [u8; 4], plain: &[u8]) -> Vec<u8> {
        let mut r = EEXEC_KEY;
        let mut out = Vec::new();
        for &p in seed.iter().chain(plain) {
            let c = p ^ (r >> 8) as u8;
            r = u16::from(c)
                .wrapping_add(r)
                .wrapping_mul(C1)
                .wrapping_add(C2);
            out.push(c);
        }
        out
    }

    /// A small Type 1 font: custom encoding, a Subrs entry whose binary data contains
    /// `/CharStrings`, and three charstrings.
    pub(crate) fn sample(hex: bool, seed: [u8; 4]) -> Vec<u8> {
        let clear = b"%!PS-AdobeFont-1.0: Test 001\n/FontName /Test-Regular def\n\
            /FontMatrix [0.0005 0 0 0.0005 0 0] readonly def\n\
            /Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
            dup 65 /A put\ndup 66 /B put\ndup 200 /Eacute put\nreadonly def\n\
            currentfile eexec\n";
        let private: &[u8] = b"dup /Private 8 dict dup begin\n/RD{string currentfile exch readstring pop}executeonly def\n\
            /Subrs 1 array\ndup 0 13 RD /CharStrings x NP\nND\n\
            2 index /CharStrings 3 dict dup begin\n\
            /.notdef 4 RD \x00\x01\x02\x03 ND\n/A 5 RD AB CD ND\n/Eacute 3 RD \xff\xfe\xfd ND\nend\nend\n\
            mark currentfile closefile\n";
        let enc = encrypt(seed, private);
        let mut out = clear.to_vec();
        if hex {
            for (i, b) in enc.iter().enumerate() {
                out.extend(format!("{b:02x}").bytes());
                if i % 32 == 31 {
                    out.push(b'\n');
                }
            }
        } else {
            out.extend(enc);
        }
        out.extend(b"\n0000000000000000\ncleartomark\n");
        out
    }

    fn check(t: &Type1) {
        assert!(t.recognised);
        assert_eq!(t.font_name.as_deref(), Some("Test-Regular"));
        assert_eq!(t.font_matrix, Some([0.0005, 0.0, 0.0, 0.0005, 0.0, 0.0]));
        let enc = t.encoding.as_ref().unwrap();
        assert_eq!(enc.get(65), Some("A"));
        assert_eq!(enc.get(66), Some("B"));
        assert_eq!(enc.get(200), Some("Eacute"));
        assert_eq!(enc.get(0), None); // set only by the `for` loop, which is not run
        assert!(!t.standard_encoding);
        assert_eq!(t.names.len(), 3);
        assert_eq!(t.names.get(0), Some(".notdef"));
        assert_eq!(t.names.get(1), Some("A"));
        assert_eq!(t.names.get(2), Some("Eacute"));
    }

    #[test]
    fn binary_and_hex_eexec() {
        check(&parse(&sample(false, [0; 4])));
        check(&parse(&sample(true, [0; 4])));
    }

    #[test]
    fn binary_starting_with_blank_byte() {
        // Ciphertext whose first byte is a space (0xF9 ^ 0xD9): it must not be skipped.
        let d = sample(false, [0xF9, 1, 2, 3]);
        let at = d.windows(6).position(|w| w == b"eexec\n").unwrap() + 6;
        assert_eq!(d[at], b' ');
        check(&parse(&d));
        // An extra blank byte after `eexec\n` must be skipped.
        let mut d = sample(false, [0; 4]);
        d.insert(at, b'\r');
        check(&parse(&d));
    }

    #[test]
    fn pfb_segments() {
        let font = sample(false, [0; 4]);
        let at = font.windows(6).position(|w| w == b"eexec\n").unwrap() + 6;
        let end = font.windows(4).position(|w| w == b"\n000").unwrap();
        let mut pfb = Vec::new();
        for (kind, part) in [(1u8, &font[..at]), (2, &font[at..end]), (1, &font[end..])] {
            pfb.extend([0x80, kind]);
            pfb.extend((part.len() as u32).to_le_bytes());
            pfb.extend(part);
        }
        pfb.extend([0x80, 3]);
        check(&parse(&pfb));
    }

    #[test]
    fn standard_encoding_and_literal_array() {
        let t = parse(b"%!FontType1\n/Encoding StandardEncoding def\n");
        assert!(t.standard_encoding);
        assert!(t.encoding.is_none());
        // The last definition wins.
        let t = parse(
            b"%!\n/Encoding 256 array dup 65 /A put readonly def\n/Encoding StandardEncoding def",
        );
        assert!(t.standard_encoding);
        assert!(t.encoding.is_none());
        let t = parse(b"%!\n/Encoding StandardEncoding def /Encoding [/a /b /c] def\n");
        assert!(!t.standard_encoding);
        let enc = t.encoding.unwrap();
        assert_eq!(enc.get(2), Some("c"));
        assert_eq!(enc.get(3), None);
    }

    #[test]
    fn garbage_is_not_recognised() {
        assert!(!parse(b"hello world").recognised);
        assert!(!parse(&[0xFF; 100]).recognised);
    }
}
