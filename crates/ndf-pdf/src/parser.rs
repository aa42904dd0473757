//! Recursive-descent object parser over the [`Lexer`], allocating containers in an arena.
//!
//! Lenient in the ways real files need (junk inside containers is skipped, unclosed containers
//! close at the end of input or at the next `endobj`/`stream` keyword), strict in the ways
//! hostile files need: nesting depth and the memory one parse may materialise are bounded.
//! A container nested deeper than allowed is skipped (linearly, without recursion) and reads as
//! `null`, so one deep value does not cost the rest of its object; the parser remembers the cut
//! for the caller to report.

use bumpalo::Bump;
use ndf_crypt::Decryptor;
use ndf_model::Code;

use crate::error::{PdfError, Result};
use crate::lexer::{Lexer, Token, decode_hex, decode_literal, decode_name};
use crate::object::{Dict, Name, ObjRef, Object};

/// Reusable scratch stacks, so parsing allocates nothing on the heap besides the arena.
#[derive(Debug, Default)]
pub(crate) struct Scratch<'a> {
    objs: Vec<Object<'a>>,
    pairs: Vec<(Name<'a>, Object<'a>)>,
    bytes: Vec<u8>,
}

impl Scratch<'_> {
    /// Empty scratch space.
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

/// Parses objects at a lexer position.
pub(crate) struct Parser<'a, 's, 'd> {
    /// The token source; callers may move it between objects.
    pub(crate) lex: Lexer<'a>,
    arena: &'a Bump,
    scratch: &'s mut Scratch<'a>,
    max_depth: u32,
    /// Bytes this parser may still materialise (arena plus scratch).
    allowance: u64,
    spent: u64,
    /// Code reported when `allowance` is exceeded.
    allowance_code: Code,
    /// A container nested deeper than `max_depth` was skipped (read as `null`).
    cut: bool,
    decrypt: Option<(&'d Decryptor, ObjRef)>,
}

impl std::fmt::Debug for Parser<'_, '_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("pos", &self.lex.pos())
            .field("spent", &self.spent)
            .finish()
    }
}

const OBJ_SIZE: u64 = std::mem::size_of::<Object<'static>>() as u64;
const PAIR_SIZE: u64 = std::mem::size_of::<(Name<'static>, Object<'static>)>() as u64;

impl<'a, 's, 'd> Parser<'a, 's, 'd> {
    /// A parser over `lex`, allocating in `arena`, allowed to materialise `allowance` bytes.
    pub(crate) fn new(
        lex: Lexer<'a>,
        arena: &'a Bump,
        scratch: &'s mut Scratch<'a>,
        max_depth: u32,
        allowance: u64,
    ) -> Self {
        Self {
            lex,
            arena,
            scratch,
            max_depth,
            allowance,
            spent: 0,
            allowance_code: Code::DocumentTooLarge,
            cut: false,
            decrypt: None,
        }
    }

    /// Report exceeding the allowance with `code` (the allowance is the per-object limit, not
    /// what is left of the document's budget).
    pub(crate) fn with_allowance_code(mut self, code: Code) -> Self {
        self.allowance_code = code;
        self
    }

    /// True when a container nested deeper than allowed was skipped and read as `null`.
    pub(crate) fn nesting_cut(&self) -> bool {
        self.cut
    }

    /// Decrypt strings with the key of object `id`.
    pub(crate) fn with_decryption(mut self, decryptor: &'d Decryptor, id: ObjRef) -> Self {
        self.decrypt = Some((decryptor, id));
        self
    }

    /// Bytes materialised so far (for the caller to charge to the document budget).
    pub(crate) fn spent(&self) -> u64 {
        self.spent
    }

    fn spend(&mut self, bytes: u64) -> Result<()> {
        self.spent = self.spent.saturating_add(bytes);
        if self.spent > self.allowance {
            return Err(PdfError::new(
                self.allowance_code,
                format!(
                    "an object materialises more than the {} bytes allowed",
                    self.allowance
                ),
            ));
        }
        Ok(())
    }

    /// Parse one object. Returns `Ok(None)` at the end of input or when the next token is a
    /// keyword that is not a value (the keyword is left unconsumed).
    pub(crate) fn parse(&mut self) -> Result<Option<Object<'a>>> {
        let save = self.lex.pos();
        let tok = self.lex.next_token();
        match tok {
            Token::Eof => Ok(None),
            Token::Keyword(k) if !matches!(k, b"true" | b"false" | b"null") => {
                self.lex.set_pos(save);
                Ok(None)
            }
            t => self.value(t, 0).map(Some),
        }
    }

    /// Turn an already-read token into a value (containers are read to their end).
    pub(crate) fn value(&mut self, tok: Token<'a>, depth: u32) -> Result<Object<'a>> {
        Ok(match tok {
            Token::Int(i) => self.maybe_ref(i),
            Token::Real(r) => Object::Real(r),
            Token::Name(raw) => Object::Name(self.name(raw)?),
            Token::LitString(raw) => {
                let s = match decode_literal(raw) {
                    Some(decoded) => self.string_owned(decoded)?,
                    None => self.string_borrowed(raw)?,
                };
                Object::String(s)
            }
            Token::HexString(raw) => {
                let mut buf = std::mem::take(&mut self.scratch.bytes);
                buf.clear();
                decode_hex(raw, &mut buf);
                let s = self.string_owned_ref(&buf);
                self.scratch.bytes = buf;
                Object::String(s?)
            }
            Token::ArrayStart | Token::DictStart if depth >= self.max_depth => {
                self.skip_container();
                Object::Null
            }
            Token::ArrayStart => self.array(depth + 1)?,
            Token::DictStart => Object::Dict(self.dict(depth + 1)?),
            Token::Keyword(b"true") => Object::Bool(true),
            Token::Keyword(b"false") => Object::Bool(false),
            // Junk where a value belongs reads as null, as in pdf.js.
            Token::Keyword(_)
            | Token::ArrayEnd
            | Token::DictEnd
            | Token::BraceOpen
            | Token::BraceClose
            | Token::Eof => Object::Null,
        })
    }

    fn maybe_ref(&mut self, num: i64) -> Object<'a> {
        if (0..=i64::from(u32::MAX)).contains(&num) {
            let save = self.lex.pos();
            if let Token::Int(generation) = self.lex.next_token()
                && (0..=65535).contains(&generation)
                && let Token::Keyword(b"R") = self.lex.next_token()
            {
                return Object::Ref(ObjRef::new(num as u32, generation as u16));
            }
            self.lex.set_pos(save);
        }
        Object::Int(num)
    }

    fn name(&mut self, raw: &'a [u8]) -> Result<Name<'a>> {
        Ok(Name(match decode_name(raw) {
            Some(decoded) => {
                self.spend(decoded.len() as u64)?;
                self.arena.alloc_slice_copy(&decoded)
            }
            None => raw,
        }))
    }

    fn string_borrowed(&mut self, raw: &'a [u8]) -> Result<&'a [u8]> {
        match self.decrypt {
            Some((d, id)) => {
                let plain = d.decrypt_string(id.num, id.generation, raw);
                self.spend(plain.len() as u64)?;
                Ok(self.arena.alloc_slice_copy(&plain))
            }
            None => Ok(raw),
        }
    }

    fn string_owned(&mut self, decoded: Vec<u8>) -> Result<&'a [u8]> {
        self.string_owned_ref(&decoded)
    }

    fn string_owned_ref(&mut self, decoded: &[u8]) -> Result<&'a [u8]> {
        let plain;
        let bytes = match self.decrypt {
            Some((d, id)) => {
                plain = d.decrypt_string(id.num, id.generation, decoded);
                &plain[..]
            }
            None => decoded,
        };
        self.spend(bytes.len() as u64)?;
        Ok(self.arena.alloc_slice_copy(bytes))
    }

    /// Skip the rest of a container whose opening token was just read: to its matching close,
    /// a structural keyword or the end of input. Iterative and linear in the tokens skipped.
    fn skip_container(&mut self) {
        self.cut = true;
        let mut open = 1u64;
        loop {
            let save = self.lex.pos();
            match self.lex.next_token() {
                Token::Eof => return,
                Token::ArrayStart | Token::DictStart => open += 1,
                Token::ArrayEnd | Token::DictEnd => {
                    open -= 1;
                    if open == 0 {
                        return;
                    }
                }
                Token::Keyword(k) if is_structural(k) => {
                    self.lex.set_pos(save);
                    return;
                }
                _ => {}
            }
        }
    }

    fn check_depth(&self, depth: u32) -> Result<()> {
        if depth > self.max_depth {
            return Err(PdfError::new(
                Code::NestingTooDeep,
                format!("arrays/dictionaries nest deeper than {}", self.max_depth),
            ));
        }
        Ok(())
    }

    fn array(&mut self, depth: u32) -> Result<Object<'a>> {
        self.check_depth(depth)?;
        let base = self.scratch.objs.len();
        let result = self.array_items(depth);
        let items = match result {
            Ok(()) => {
                let n = (self.scratch.objs.len() - base) as u64;
                self.spend(n * OBJ_SIZE)
                    .map(|()| self.arena.alloc_slice_copy(&self.scratch.objs[base..]))
            }
            Err(e) => Err(e),
        };
        self.scratch.objs.truncate(base);
        Ok(Object::Array(items?))
    }

    fn array_items(&mut self, depth: u32) -> Result<()> {
        loop {
            let save = self.lex.pos();
            let tok = self.lex.next_token();
            match tok {
                Token::ArrayEnd | Token::Eof => return Ok(()),
                Token::Keyword(k) if is_structural(k) => {
                    // An unclosed array runs into the end of its object.
                    self.lex.set_pos(save);
                    return Ok(());
                }
                Token::Keyword(k) if !matches!(k, b"true" | b"false" | b"null") => {}
                Token::DictEnd | Token::BraceClose | Token::BraceOpen => {}
                t => {
                    let v = self.value(t, depth)?;
                    self.spend(OBJ_SIZE)?;
                    self.scratch.objs.push(v);
                }
            }
        }
    }

    /// Parse a dictionary body after `<<` has been read.
    pub(crate) fn dict(&mut self, depth: u32) -> Result<Dict<'a>> {
        self.check_depth(depth)?;
        let base = self.scratch.pairs.len();
        let result = self.dict_items(depth);
        let entries = match result {
            Ok(()) => {
                let n = (self.scratch.pairs.len() - base) as u64;
                self.spend(n * PAIR_SIZE)
                    .map(|()| self.arena.alloc_slice_copy(&self.scratch.pairs[base..]))
            }
            Err(e) => Err(e),
        };
        self.scratch.pairs.truncate(base);
        Ok(Dict(entries?))
    }

    fn dict_items(&mut self, depth: u32) -> Result<()> {
        loop {
            let save = self.lex.pos();
            let tok = self.lex.next_token();
            let key = match tok {
                Token::DictEnd | Token::Eof => return Ok(()),
                Token::Name(raw) => self.name(raw)?,
                Token::Keyword(k) if is_structural(k) => {
                    self.lex.set_pos(save);
                    return Ok(());
                }
                // Junk where a key belongs: skip it (containers whole).
                Token::ArrayStart | Token::DictStart => {
                    self.value(tok, depth)?;
                    continue;
                }
                _ => continue,
            };
            let save = self.lex.pos();
            let tok = self.lex.next_token();
            let value = match tok {
                Token::DictEnd | Token::Eof => return Ok(()),
                Token::Keyword(k) if is_structural(k) => {
                    self.lex.set_pos(save);
                    return Ok(());
                }
                // `/Key /Value`-less keys followed by another key: the key has no value.
                Token::Keyword(k) if !matches!(k, b"true" | b"false" | b"null") => continue,
                t => self.value(t, depth)?,
            };
            if matches!(value, Object::Null) {
                // A null value is equivalent to the entry being absent.
                continue;
            }
            self.spend(PAIR_SIZE)?;
            self.scratch.pairs.push((key, value));
        }
    }
}

/// Keywords that end an object's body; an unclosed container stops before them.
fn is_structural(k: &[u8]) -> bool {
    matches!(
        k,
        b"endobj" | b"stream" | b"endstream" | b"obj" | b"xref" | b"trailer" | b"startxref"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_one<'a>(src: &'a [u8], arena: &'a Bump) -> Result<Option<Object<'a>>> {
        let mut scratch = Scratch::new();
        let mut p = Parser::new(Lexer::new(src), arena, &mut scratch, 64, 1 << 20);
        p.parse()
    }

    #[test]
    fn parses_nested_values() {
        let arena = Bump::new();
        let o = parse_one(
            b"<< /A [1 2.5 (x) <41> /N#20m 3 0 R] /B << /C true >> /D null >>",
            &arena,
        )
        .unwrap()
        .unwrap();
        let d = o.as_dict().unwrap();
        assert_eq!(d.len(), 2, "null entries are dropped");
        let a = d.get(b"A").unwrap().as_array().unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a[0].as_i64(), Some(1));
        assert_eq!(a[1].as_f64(), Some(2.5));
        assert_eq!(a[2].as_string(), Some(&b"x"[..]));
        assert_eq!(a[3].as_string(), Some(&b"A"[..]));
        assert_eq!(a[4].as_name(), Some(&b"N m"[..]));
        assert_eq!(a[5].as_ref(), Some(ObjRef::new(3, 0)));
        assert_eq!(
            d.get(b"B")
                .unwrap()
                .as_dict()
                .unwrap()
                .get(b"C")
                .unwrap()
                .as_bool(),
            Some(true)
        );
    }

    #[test]
    fn unclosed_containers_stop_at_endobj() {
        let arena = Bump::new();
        let src = b"<< /A [1 2 /B 3 endobj";
        let mut scratch = Scratch::new();
        let mut p = Parser::new(Lexer::new(src), &arena, &mut scratch, 64, 1 << 20);
        let o = p.parse().unwrap().unwrap();
        assert_eq!(
            o.as_dict()
                .unwrap()
                .get(b"A")
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            4
        );
        assert_eq!(p.lex.next_token(), Token::Keyword(b"endobj"));
    }

    #[test]
    fn nesting_is_bounded_and_cuts_only_the_deep_value() {
        let arena = Bump::new();
        let mut scratch = Scratch::new();
        let src = "[".repeat(10_000);
        let mut p = Parser::new(
            Lexer::new(src.as_bytes()),
            &arena,
            &mut scratch,
            64,
            1 << 20,
        );
        let mut o = p.parse().unwrap().unwrap();
        assert!(p.nesting_cut());
        // 64 levels of arrays survive; the 65th reads as null.
        for _ in 0..64 {
            let a = o.as_array().unwrap();
            assert_eq!(a.len(), 1);
            o = a[0];
        }
        assert!(o.is_null());

        // Inside a dictionary, an entry whose value is cut is dropped and the entries after it
        // are kept (here the limit is one level: the dictionary itself).
        let deep = format!(
            "<< /A 1 /Deep {}{} /B (after) >> endobj",
            "[".repeat(100),
            "]".repeat(100)
        );
        let mut p = Parser::new(
            Lexer::new(deep.as_bytes()),
            &arena,
            &mut scratch,
            1,
            1 << 20,
        );
        let d = p.parse().unwrap().unwrap().as_dict().unwrap();
        assert!(p.nesting_cut());
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(b"A").unwrap().as_i64(), Some(1));
        assert!(d.get(b"Deep").is_none());
        assert_eq!(d.get(b"B").unwrap().as_string(), Some(&b"after"[..]));
        assert_eq!(p.lex.next_token(), Token::Keyword(b"endobj"));

        // An unclosed deep container stops at the end of its object.
        let open = format!("<< /A {} endobj 2 0 obj", "<< /B ".repeat(500));
        let mut p = Parser::new(
            Lexer::new(open.as_bytes()),
            &arena,
            &mut scratch,
            64,
            1 << 20,
        );
        assert!(p.parse().unwrap().unwrap().as_dict().is_some());
        assert!(p.nesting_cut());
        assert_eq!(p.lex.next_token(), Token::Keyword(b"endobj"));

        // Within the limit nothing is cut.
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        let mut p = Parser::new(Lexer::new(ok.as_bytes()), &arena, &mut scratch, 64, 1 << 20);
        p.parse().unwrap().unwrap();
        assert!(!p.nesting_cut());
    }

    #[test]
    fn allowance_is_enforced() {
        let arena = Bump::new();
        let src = format!("[{}]", "0 ".repeat(100_000));
        let mut scratch = Scratch::new();
        let mut p = Parser::new(Lexer::new(src.as_bytes()), &arena, &mut scratch, 64, 10_000);
        assert_eq!(p.parse().unwrap_err().code, Code::DocumentTooLarge);
        let mut p = Parser::new(Lexer::new(src.as_bytes()), &arena, &mut scratch, 64, 10_000)
            .with_allowance_code(Code::StreamTooLarge);
        assert_eq!(p.parse().unwrap_err().code, Code::StreamTooLarge);
    }

    #[test]
    fn refs_need_two_ints_and_r() {
        let arena = Bump::new();
        let o = parse_one(b"[1 0 R 2 0 3 -1 R 4 70000 R]", &arena)
            .unwrap()
            .unwrap();
        let a = o.as_array().unwrap();
        assert_eq!(a[0].as_ref(), Some(ObjRef::new(1, 0)));
        assert_eq!(a[1].as_i64(), Some(2));
        assert_eq!(a[2].as_i64(), Some(0));
        assert_eq!(a[3].as_i64(), Some(3));
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let arena = Bump::new();
            let mut scratch = Scratch::new();
            let mut p = Parser::new(Lexer::new(&data), &arena, &mut scratch, 32, 1 << 16);
            let mut n = 0;
            while let Ok(Some(_)) = p.parse() {
                n += 1;
                prop_assert!(n <= data.len());
            }
        }

        #[test]
        fn int_arrays_round_trip(v in proptest::collection::vec(any::<i32>(), 0..50)) {
            let src = format!("[{}]", v.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" "));
            let arena = Bump::new();
            let o = parse_one(src.as_bytes(), &arena).unwrap().unwrap();
            let got: Vec<i64> = o.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            let want: Vec<i64> = v.iter().map(|&i| i64::from(i)).collect();
            prop_assert_eq!(got, want);
        }
    }
}
