//! The document: opening (header, xref chain, repair, decryption, page tree), lazy object
//! resolution with a cache, and stream decoding under the document's budget.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::{HashMap, HashSet, VecDeque};

use bumpalo::Bump;
use memchr::memmem;
use ndf_crypt::{CryptError, CryptMethod, Decryptor, EncryptParams};
use ndf_filters::{DecodeParms, Filter, FilterError};
use ndf_model::{Code, Diagnostic, Limits};

use crate::budget::Budget;
use crate::error::{PdfError, Result};
use crate::lexer::{Lexer, Token, is_white};
use crate::object::{Dict, Name, ObjRef, Object, Stream};
use crate::page::PageEntry;
use crate::parser::{Parser, Scratch};
use crate::repair;
use crate::xref::{self, Entry, StreamLayout, XrefTable};

/// How to open a document.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Resource limits.
    pub limits: Limits,
    /// Password (UTF-8); empty tries the empty user password.
    pub password: String,
}

/// A decoded stream.
#[derive(Debug)]
pub struct DecodedStream<'a> {
    /// The decoded bytes (borrowed when no filter and no decryption applied).
    pub data: Cow<'a, [u8]>,
    /// The data was damaged; `data` holds what could be recovered.
    pub damaged: bool,
    /// Decoding stopped before this image filter (its data is left encoded).
    pub image_filter: Option<Filter>,
}

/// Why one object could not be read whole. Limits and damage of one object fail that object
/// alone: it reads as `null` (or loses its too deeply nested values), the document goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectIssue {
    /// What went wrong (`nesting_too_deep`, `stream_too_large` …) and a message.
    pub error: PdfError,
    /// The whole object reads as `null` (else only values nested too deeply were dropped).
    pub whole: bool,
}

/// An object stream's decoded contents.
#[derive(Debug, Clone, Copy)]
struct ObjStm<'a> {
    data: &'a [u8],
    first: usize,
    offsets: &'a [(u32, u32)],
}

/// Most diagnostics kept per document; later ones are counted, not stored.
const MAX_DIAGNOSTICS: usize = 200;
/// Deepest chain of objects being loaded at once (e.g. a /Length inside an object stream).
const MAX_LOAD_DEPTH: usize = 32;
/// Most xref sections followed through /Prev.
const MAX_XREF_SECTIONS: usize = 1024;

/// An open PDF document. Objects borrow from the input and from the arena, both of which
/// outlive the document.
pub struct Pdf<'a> {
    data: &'a [u8],
    arena: &'a Bump,
    budget: Budget,
    version: String,
    header_offset: usize,
    has_header: bool,
    xref: RefCell<XrefTable>,
    repaired: Cell<bool>,
    trailer: Cell<Dict<'a>>,
    crypt: Option<Decryptor>,
    encrypt_ref: Option<ObjRef>,
    cache: RefCell<HashMap<u32, Object<'a>>>,
    /// Why an object read as `null` (or partly `null`): a limit or damage of that object alone.
    issues: RefCell<HashMap<u32, ObjectIssue>>,
    objstms: RefCell<HashMap<u32, Option<ObjStm<'a>>>>,
    loading: RefCell<Vec<u32>>,
    charged_streams: RefCell<HashSet<ObjRef>>,
    scratch: RefCell<Scratch<'a>>,
    endstreams: OnceCell<Vec<usize>>,
    diagnostics: RefCell<Vec<Diagnostic>>,
    suppressed: Cell<u32>,
    reading_xref: Cell<bool>,
    pub(crate) pages: Vec<PageEntry<'a>>,
}

impl std::fmt::Debug for Pdf<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pdf")
            .field("bytes", &self.data.len())
            .field("version", &self.version)
            .field("pages", &self.pages.len())
            .field("repaired", &self.repaired.get())
            .finish_non_exhaustive()
    }
}

impl<'a> Pdf<'a> {
    /// Open a document: read the header, the trailer and the cross-reference data (repairing
    /// it by scanning when needed), authenticate, and walk the page tree. Page contents are not
    /// read until asked for.
    pub fn open(data: &'a [u8], arena: &'a Bump, options: &OpenOptions) -> Result<Pdf<'a>> {
        Self::open_with_budget(data, arena, options, Budget::new(options.limits.clone()))
    }

    /// Open the same document again for another thread, sharing `budget`'s account (see
    /// [`Budget::sibling`]): the document's decoded bytes and fatal trips are counted once for
    /// all the threads, and the deadline is the first opening's. The budget's limits apply
    /// (`options.limits` is not read).
    pub fn open_with_budget(
        data: &'a [u8],
        arena: &'a Bump,
        options: &OpenOptions,
        budget: Budget,
    ) -> Result<Pdf<'a>> {
        let limits = budget.limits().clone();
        if data.len() as u64 > limits.max_file_bytes || data.len() > u32::MAX as usize {
            return Err(PdfError::new(
                Code::FileTooLarge,
                format!(
                    "the file has {} bytes, the limit is {}",
                    data.len(),
                    limits.max_file_bytes
                ),
            ));
        }
        let head = &data[..data.len().min(1024)];
        let (header_offset, has_header, version) = match memmem::find(head, b"%PDF-") {
            Some(p) => {
                let v: Vec<u8> = data[p + 5..]
                    .iter()
                    .take(4)
                    .take_while(|b| b.is_ascii_digit() || **b == b'.')
                    .copied()
                    .collect();
                let v = String::from_utf8(v).unwrap_or_default();
                (p, true, if v.is_empty() { "1.4".to_owned() } else { v })
            }
            None => (0, false, "1.4".to_owned()),
        };
        let mut pdf = Pdf {
            data,
            arena,
            xref: RefCell::new(XrefTable::new(limits.max_objects)),
            budget,
            version,
            header_offset,
            has_header,
            repaired: Cell::new(false),
            trailer: Cell::new(Dict::EMPTY),
            crypt: None,
            encrypt_ref: None,
            cache: RefCell::new(HashMap::new()),
            issues: RefCell::new(HashMap::new()),
            objstms: RefCell::new(HashMap::new()),
            loading: RefCell::new(Vec::new()),
            charged_streams: RefCell::new(HashSet::new()),
            scratch: RefCell::new(Scratch::new()),
            endstreams: OnceCell::new(),
            diagnostics: RefCell::new(Vec::new()),
            suppressed: Cell::new(0),
            reading_xref: Cell::new(false),
            pages: Vec::new(),
        };
        if !has_header && memmem::find(data, b"obj").is_none() {
            return Err(PdfError::new(
                Code::NotPdf,
                "no PDF header and no PDF objects found",
            ));
        }

        let chain_ok = pdf.read_xref_chain()?;
        if !chain_ok || pdf.trailer.get().get(b"Root").is_none() {
            pdf.rebuild_xref("the cross-reference data is missing or damaged")?;
        }
        pdf.setup_encryption(&options.password)?;
        if pdf.catalog().is_none() && !pdf.repaired.get() {
            pdf.rebuild_xref("the catalog could not be read through the cross-reference data")?;
        }
        if pdf.catalog().is_none() {
            pdf.budget.check()?;
            return Err(if pdf.has_header {
                PdfError::new(Code::Malformed, "no document catalog could be found")
            } else {
                PdfError::new(Code::NotPdf, "no PDF header and no document catalog")
            });
        }
        pdf.pages = pdf.walk_page_tree()?;
        if pdf.pages.is_empty() && !pdf.repaired.get() {
            pdf.rebuild_xref("the page tree could not be read through the cross-reference data")?;
            pdf.pages = pdf.walk_page_tree()?;
        }
        if pdf.pages.is_empty() {
            pdf.pages = pdf.pages_by_scan()?;
        }
        pdf.budget.check()?;
        Ok(pdf)
    }

    // ---------------------------------------------------------------- accessors

    /// The input bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The arena objects live in.
    pub fn arena(&self) -> &'a Bump {
        self.arena
    }

    /// The document's resource account.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The PDF version: the header's, or the catalog's `/Version` when that is newer.
    pub fn version(&self) -> String {
        if let Some(v) = self.catalog().and_then(|c| c.get_name(b"Version"))
            && let Ok(v) = std::str::from_utf8(v)
            && version_key(v) > version_key(&self.version)
        {
            return v.to_owned();
        }
        self.version.clone()
    }

    /// The (merged) trailer dictionary.
    pub fn trailer(&self) -> Dict<'a> {
        self.trailer.get()
    }

    /// The document catalog.
    pub fn catalog(&self) -> Option<Dict<'a>> {
        let root = self.resolve(self.trailer.get().get(b"Root")?);
        root.as_dict()
    }

    /// The Info dictionary.
    pub fn info(&self) -> Option<Dict<'a>> {
        self.resolve(self.trailer.get().get(b"Info")?).as_dict()
    }

    /// True when the document is encrypted (and was opened).
    pub fn is_encrypted(&self) -> bool {
        self.crypt.is_some()
    }

    /// Cipher description (`"RC4-40"`, `"AES-256"` …) of an encrypted document.
    pub fn encryption(&self) -> Option<String> {
        self.crypt.as_ref().map(Decryptor::description)
    }

    /// True when the cross-reference data had to be rebuilt.
    pub fn was_repaired(&self) -> bool {
        self.repaired.get()
    }

    /// True for a linearized file (the first object carries `/Linearized`).
    pub fn is_linearized(&self) -> bool {
        let start = self.header_offset;
        let window = &self.data[start..self.data.len().min(start + 1024)];
        memmem::find(window, b"/Linearized").is_some()
    }

    /// Document-level diagnostics collected so far.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut d = self.diagnostics.borrow().clone();
        let n = self.suppressed.get();
        if n > 0 {
            d.push(Diagnostic::warning(
                Code::ContentMalformed,
                format!("{n} further diagnostics suppressed"),
            ));
        }
        d
    }

    /// How many document-level diagnostics were recorded so far (suppressed ones not counted).
    pub fn diagnostic_count(&self) -> usize {
        self.diagnostics.borrow().len()
    }

    /// The document-level diagnostics recorded after the first `start` ones.
    pub fn diagnostics_since(&self, start: usize) -> Vec<Diagnostic> {
        self.diagnostics
            .borrow()
            .get(start..)
            .map_or_else(Vec::new, <[Diagnostic]>::to_vec)
    }

    /// Record a document-level diagnostic (bounded).
    pub fn diagnose(&self, diagnostic: Diagnostic) {
        let mut d = self.diagnostics.borrow_mut();
        if d.len() < MAX_DIAGNOSTICS {
            d.push(diagnostic);
        } else {
            self.suppressed.set(self.suppressed.get().saturating_add(1));
        }
    }

    /// Why object `r` read as `null`, or lost values nested too deeply, if it did: the limit
    /// or damage of that object alone (the rest of the document is unaffected). Known once the
    /// object was resolved.
    pub fn object_issue(&self, r: ObjRef) -> Option<ObjectIssue> {
        self.issues.borrow().get(&r.num).cloned()
    }

    /// Record that object `num` could not be read whole (`whole`: it reads as `null`): a
    /// warning for the document and the object's issue for the pages that use it.
    fn object_problem(&self, num: u32, error: PdfError, whole: bool) {
        self.diagnose(Diagnostic::warning(
            error.code,
            format!("object {num}: {}", error.message),
        ));
        self.issues
            .borrow_mut()
            .entry(num)
            .or_insert(ObjectIssue { error, whole });
    }

    /// `e` unless the document's budget was tripped (then the trip: it fails the document).
    fn local_error(&self, e: PdfError) -> Result<PdfError> {
        match self.budget.tripped() {
            Some(fatal) => Err(fatal),
            None => Ok(e),
        }
    }

    /// [`Pdf::diagnose`] unless the same diagnostic was already recorded (for problems met
    /// again when the xref is rebuilt and the structure read a second time).
    pub(crate) fn diagnose_once(&self, diagnostic: Diagnostic) {
        if !self.diagnostics.borrow().contains(&diagnostic) {
            self.diagnose(diagnostic);
        }
    }

    // ---------------------------------------------------------------- resolution

    /// Follow a reference (once per call, recursively for chains of references); anything else
    /// is returned as is. Missing or unreadable objects are `Null`.
    pub fn resolve(&self, obj: Object<'a>) -> Object<'a> {
        let mut o = obj;
        // A reference to a reference is legal but rare; bound the chain.
        for _ in 0..8 {
            match o {
                Object::Ref(r) => o = self.get(r),
                _ => return o,
            }
        }
        Object::Null
    }

    /// The object `r` refers to (`Null` when missing). The generation number is not checked:
    /// damaged files get it wrong more often than incremental updates rely on it.
    pub fn get(&self, r: ObjRef) -> Object<'a> {
        if let Some(o) = self.cache.borrow().get(&r.num) {
            return *o;
        }
        if self.budget.tick().is_err() {
            return Object::Null;
        }
        {
            let mut loading = self.loading.borrow_mut();
            if loading.contains(&r.num) {
                return Object::Null;
            }
            if loading.len() >= MAX_LOAD_DEPTH {
                drop(loading);
                // Not an issue of the object itself (it is not cached: a shallower request
                // reads it), so a warning for the document only.
                self.diagnose_once(Diagnostic::warning(
                    Code::NestingTooDeep,
                    format!(
                        "object {}: needed while loading {MAX_LOAD_DEPTH} other objects (each needing the next); it reads as null there",
                        r.num
                    ),
                ));
                return Object::Null;
            }
            loading.push(r.num);
        }
        let o = self.load(r.num);
        self.loading.borrow_mut().pop();
        if !self.reading_xref.get() {
            self.cache.borrow_mut().insert(r.num, o);
        }
        o
    }

    /// `dict[key]`, resolved.
    pub fn get_in(&self, dict: Dict<'a>, key: &[u8]) -> Object<'a> {
        dict.get(key).map_or(Object::Null, |o| self.resolve(o))
    }

    /// `dict[key]` as a dictionary (or stream dictionary).
    pub fn get_dict(&self, dict: Dict<'a>, key: &[u8]) -> Option<Dict<'a>> {
        self.get_in(dict, key).as_dict()
    }

    /// `dict[key]` as an array.
    pub fn get_array(&self, dict: Dict<'a>, key: &[u8]) -> Option<&'a [Object<'a>]> {
        self.get_in(dict, key).as_array()
    }

    /// `dict[key]` as a number.
    pub fn get_f64(&self, dict: Dict<'a>, key: &[u8]) -> Option<f64> {
        self.get_in(dict, key).as_f64()
    }

    /// `dict[key]` as an integer.
    pub fn get_i64(&self, dict: Dict<'a>, key: &[u8]) -> Option<i64> {
        self.get_in(dict, key).as_i64()
    }

    /// `dict[key]` as a name.
    pub fn get_name(&self, dict: Dict<'a>, key: &[u8]) -> Option<&'a [u8]> {
        self.get_in(dict, key).as_name()
    }

    /// `dict[key]` as a string.
    pub fn get_string(&self, dict: Dict<'a>, key: &[u8]) -> Option<&'a [u8]> {
        self.get_in(dict, key).as_string()
    }

    /// Numbers of an array, resolving references (non-numbers are skipped).
    pub fn numbers(&self, arr: &[Object<'a>], out: &mut Vec<f64>) {
        out.clear();
        out.extend(arr.iter().filter_map(|o| self.resolve(*o).as_f64()));
    }

    fn load(&self, num: u32) -> Object<'a> {
        let entry = self.xref.borrow().get(num);
        match entry {
            Entry::Offset { offset, .. } => {
                if let Some(o) = self.load_at(offset as usize, num) {
                    return o;
                }
                if self.header_offset > 0
                    && let Some(o) = self.load_at(offset as usize + self.header_offset, num)
                {
                    return o;
                }
                if self.lazy_repair() {
                    return self.load(num);
                }
                Object::Null
            }
            Entry::InStream { stream, index } => self
                .load_from_objstm(stream, index, num)
                .unwrap_or(Object::Null),
            Entry::Unset => {
                if self.lazy_repair() {
                    return self.load(num);
                }
                Object::Null
            }
            Entry::Free => Object::Null,
        }
    }

    /// Rebuild the xref once, when an object turns out to be missing or misplaced after open.
    fn lazy_repair(&self) -> bool {
        if self.repaired.get() || self.reading_xref.get() {
            return false;
        }
        self.rebuild_xref("an object was not where the cross-reference data said")
            .is_ok()
    }

    fn load_at(&self, pos: usize, expect: u32) -> Option<Object<'a>> {
        let (id, obj) = self.parse_indirect_at(pos)?;
        (id.num == expect).then_some(obj)
    }

    /// Parse `num generation obj <value> [stream…]` at `pos`.
    fn parse_indirect_at(&self, pos: usize) -> Option<(ObjRef, Object<'a>)> {
        let mut lex = Lexer::at(self.data, pos);
        let (Token::Int(num), Token::Int(generation), Token::Keyword(b"obj")) =
            (lex.next_token(), lex.next_token(), lex.next_token())
        else {
            return None;
        };
        let id = ObjRef::new(u32::try_from(num).ok()?, u16::try_from(generation).ok()?);
        let value = self.parse_value(lex.clone(), Some(id), true);
        let (value, end) = match value {
            Ok((v, end, cut)) => {
                if cut {
                    self.object_problem(id.num, self.nesting_cut(), false);
                }
                (v, end)
            }
            Err(e) => {
                self.object_problem(id.num, read_as_null(e), true);
                return Some((id, Object::Null));
            }
        };
        if let Object::Dict(dict) = value {
            let mut lex = Lexer::at(self.data, end);
            lex.skip_ws();
            if lex.rest().starts_with(b"stream") {
                lex.set_pos(lex.pos() + 6);
                lex.skip_stream_eol();
                let raw = self.stream_extent(dict, lex.pos());
                let stream = self.arena.alloc(Stream {
                    dict,
                    raw,
                    id: Some(id),
                });
                return Some((id, Object::Stream(stream)));
            }
        }
        Some((id, value))
    }

    /// Parse one value with the shared scratch space; returns it, the end position and whether
    /// a container nested deeper than `max_nesting` was cut (read as `null`).
    ///
    /// The memory one value may materialise is the per-stream limit or what is left of the
    /// document's budget: over the first, the value fails alone (`stream_too_large`); over the
    /// second, the document's budget trips (`document_too_large`).
    fn parse_value(
        &self,
        lex: Lexer<'a>,
        id: Option<ObjRef>,
        decrypt: bool,
    ) -> Result<(Object<'a>, usize, bool)> {
        let mut own_scratch;
        let mut guard = self.scratch.try_borrow_mut();
        let scratch: &mut Scratch<'a> = match guard {
            Ok(ref mut s) => s,
            Err(_) => {
                own_scratch = Scratch::new();
                &mut own_scratch
            }
        };
        let allowance = self.budget.stream_allowance();
        let code = if allowance < self.budget.limits().max_stream_bytes {
            Code::DocumentTooLarge
        } else {
            Code::StreamTooLarge
        };
        let mut parser = Parser::new(
            lex,
            self.arena,
            scratch,
            self.budget.limits().max_nesting,
            allowance,
        )
        .with_allowance_code(code);
        if decrypt
            && let (Some(crypt), Some(id)) = (&self.crypt, id)
            && Some(id) != self.encrypt_ref
        {
            parser = parser.with_decryption(crypt, id);
        }
        let value = parser.parse();
        let spent = parser.spent();
        let end = parser.lex.pos();
        let cut = parser.nesting_cut();
        self.budget.charge(spent)?;
        Ok((value?.unwrap_or(Object::Null), end, cut))
    }

    /// The issue of an object that lost values nested deeper than `max_nesting`.
    fn nesting_cut(&self) -> PdfError {
        PdfError::new(
            Code::NestingTooDeep,
            format!(
                "arrays/dictionaries nest deeper than {}; the deeper values read as null",
                self.budget.limits().max_nesting
            ),
        )
    }

    /// The data of a stream starting at `start`: `/Length` bytes when they end at `endstream`,
    /// else up to the next `endstream` keyword (a wrong `/Length` is common).
    fn stream_extent(&self, dict: Dict<'a>, start: usize) -> &'a [u8] {
        let data = self.data;
        let len = match dict.get(b"Length") {
            Some(Object::Ref(r)) if !self.reading_xref.get() => self.get(r).as_i64(),
            Some(o) => o.as_i64(),
            None => None,
        };
        if let Some(len) = len
            && len >= 0
            && let Some(end) = start.checked_add(len as usize)
            && end <= data.len()
            && self.endstream_follows(end)
        {
            return &data[start..end];
        }
        let ends = self
            .endstreams
            .get_or_init(|| memmem::find_iter(data, b"endstream").collect());
        let i = ends.partition_point(|&p| p < start);
        let mut end = match ends.get(i) {
            Some(&p) => p,
            None => memmem::find(&data[start..], b"endobj").map_or(data.len(), |p| start + p),
        };
        // The EOL before `endstream` is not part of the data.
        if end > start && data[end - 1] == b'\n' {
            end -= 1;
        }
        if end > start && data[end - 1] == b'\r' {
            end -= 1;
        }
        &data[start..end]
    }

    fn endstream_follows(&self, end: usize) -> bool {
        let rest = &self.data[end..];
        let skip = rest.iter().take(64).take_while(|&&b| is_white(b)).count();
        rest[skip..].starts_with(b"endstream")
    }

    fn load_from_objstm(&self, stream: u32, index: u32, num: u32) -> Option<Object<'a>> {
        let Some(st) = self.objstm(stream) else {
            // The objects of an object stream that failed (a limit, damage) fail with it.
            let failed = self.issues.borrow().get(&stream).cloned();
            if let Some(issue) = failed {
                let error = PdfError::new(
                    issue.error.code,
                    format!(
                        "it is stored in object stream {stream}, which is unreadable ({})",
                        issue.error.message
                    ),
                );
                self.issues
                    .borrow_mut()
                    .entry(num)
                    .or_insert(ObjectIssue { error, whole: true });
            }
            return None;
        };
        let off = match st.offsets.get(index as usize) {
            Some(&(n, off)) if n == num => off,
            _ => st.offsets.iter().find(|(n, _)| *n == num)?.1,
        };
        let pos = st.first.checked_add(off as usize)?;
        if pos >= st.data.len() {
            return None;
        }
        let lex = Lexer::at(st.data, pos);
        // Objects inside object streams are never encrypted individually.
        match self.parse_value(lex, None, false) {
            Ok((o, _, cut)) => {
                if cut {
                    self.object_problem(num, self.nesting_cut(), false);
                }
                Some(o)
            }
            Err(e) => {
                self.object_problem(num, read_as_null(e), true);
                None
            }
        }
    }

    fn objstm(&self, num: u32) -> Option<ObjStm<'a>> {
        if let Some(s) = self.objstms.borrow().get(&num) {
            return *s;
        }
        let st = self.read_objstm(num);
        self.objstms.borrow_mut().insert(num, st);
        st
    }

    fn read_objstm(&self, num: u32) -> Option<ObjStm<'a>> {
        let s = self.get(ObjRef::new(num, 0)).as_stream()?;
        let decoded = match self.decode_stream(s) {
            Ok(d) => d,
            Err(e) => {
                let e = PdfError::new(
                    e.code,
                    format!("{}; the objects stored in it read as null", e.message),
                );
                self.object_problem(num, e, true);
                return None;
            }
        };
        let data: &'a [u8] = self.arena.alloc_slice_copy(&decoded.data);
        let n = s
            .dict
            .get(b"N")
            .and_then(|o| self.resolve(o).as_i64())
            .unwrap_or(0)
            .max(0) as usize;
        let first = s
            .dict
            .get(b"First")
            .and_then(|o| self.resolve(o).as_i64())
            .unwrap_or(0)
            .max(0) as usize;
        let first = first.min(data.len());
        // Every header pair takes at least 4 bytes, so a lying /N cannot allocate much.
        let n = n.min(first / 4 + 1);
        let mut offsets = Vec::with_capacity(n);
        let mut lex = Lexer::new(&data[..first]);
        for _ in 0..n {
            match (lex.next_token(), lex.next_token()) {
                (Token::Int(obj), Token::Int(off)) if obj >= 0 && off >= 0 => {
                    offsets.push((
                        obj.min(i64::from(u32::MAX)) as u32,
                        off.min(i64::from(u32::MAX)) as u32,
                    ));
                }
                _ => break,
            }
        }
        let offsets = self.arena.alloc_slice_copy(&offsets);
        Some(ObjStm {
            data,
            first,
            offsets,
        })
    }

    // ---------------------------------------------------------------- streams

    /// Decode a stream: decrypt, then apply its filters in order, stopping before an image
    /// filter. Per-stream and per-document decoded-size limits apply.
    pub fn decode_stream(&self, s: &Stream<'a>) -> Result<DecodedStream<'a>> {
        self.budget.check()?;
        let mut data: Cow<'a, [u8]> = Cow::Borrowed(s.raw);
        if let (Some(crypt), Some(id)) = (&self.crypt, s.id)
            && self.stream_is_encrypted(s)
        {
            data = Cow::Owned(crypt.decrypt_stream(id.num, id.generation, &data));
        }
        let mut filters: [Option<Filter>; 8] = [None; 8];
        let mut parms: [DecodeParms; 8] = [DecodeParms::default(); 8];
        let mut count = 0usize;
        let mut damaged = false;
        let filter_obj = s
            .dict
            .get(b"Filter")
            .or_else(|| s.dict.get(b"F"))
            .map(|o| self.resolve(o));
        let parms_obj = s
            .dict
            .get(b"DecodeParms")
            .or_else(|| s.dict.get(b"DP"))
            .map(|o| self.resolve(o));
        let mut add = |name: Option<&[u8]>, p: Option<Object<'a>>, count: &mut usize| {
            if *count >= filters.len() {
                return;
            }
            let f = name.and_then(Filter::from_name);
            if f.is_none() {
                damaged = true;
            }
            filters[*count] = f;
            parms[*count] = self.decode_parms(p);
            *count += 1;
        };
        match filter_obj {
            Some(Object::Name(n)) => add(Some(n.0), parms_obj, &mut count),
            Some(Object::Array(arr)) => {
                let parms_arr = parms_obj.and_then(|p| p.as_array());
                for (i, f) in arr.iter().enumerate() {
                    let p = parms_arr.and_then(|a| a.get(i).copied());
                    add(self.resolve(*f).as_name(), p, &mut count);
                }
            }
            _ => {}
        }
        if damaged {
            // An unknown filter: the data cannot be decoded.
            return Ok(DecodedStream {
                data,
                damaged: true,
                image_filter: None,
            });
        }
        let mut image_filter = None;
        let stream_limit = self.budget.limits().max_stream_bytes;
        for i in 0..count {
            let Some(f) = filters[i] else { break };
            if f.is_image() {
                image_filter = Some(f);
                break;
            }
            if f == Filter::Crypt {
                // Only the Identity crypt filter is used per stream in practice.
                continue;
            }
            let allowance = self.budget.stream_allowance();
            match ndf_filters::decode(
                f,
                &data,
                &parms[i],
                usize::try_from(allowance).unwrap_or(usize::MAX),
            ) {
                Ok(d) => {
                    damaged |= d.damaged;
                    self.charge_stream(s.id, d.data.len() as u64)?;
                    data = Cow::Owned(d.data);
                }
                Err(FilterError::LimitExceeded { .. }) => {
                    if allowance < stream_limit {
                        return Err(self.budget.trip(Code::DocumentTooLarge));
                    }
                    return Err(PdfError::new(
                        Code::StreamTooLarge,
                        format!("a stream decodes to more than {stream_limit} bytes"),
                    ));
                }
                Err(_) => {
                    damaged = true;
                    break;
                }
            }
        }
        Ok(DecodedStream {
            data,
            damaged,
            image_filter,
        })
    }

    /// Charge decoded bytes once per stream object: a Form XObject drawn on every page is
    /// decoded every time but its bytes exist once in the document.
    fn charge_stream(&self, id: Option<ObjRef>, bytes: u64) -> Result<()> {
        if let Some(id) = id
            && !self.charged_streams.borrow_mut().insert(id)
        {
            return self.budget.check();
        }
        self.budget.charge(bytes)
    }

    fn stream_is_encrypted(&self, s: &Stream<'a>) -> bool {
        let Some(crypt) = &self.crypt else {
            return false;
        };
        if s.dict.is_type(b"Type", b"XRef") {
            return false;
        }
        if s.dict.is_type(b"Type", b"Metadata") && !crypt.encrypt_metadata() {
            return false;
        }
        if crypt.stream_method() == CryptMethod::Identity {
            return false;
        }
        // A stream whose first filter is /Crypt with no /Name (Identity) is not encrypted.
        let first_filter = match s.dict.get(b"Filter") {
            Some(Object::Name(n)) => Some(n.0),
            Some(Object::Array(a)) => a.first().and_then(|o| o.as_name()),
            _ => None,
        };
        first_filter != Some(b"Crypt")
    }

    fn decode_parms(&self, p: Option<Object<'a>>) -> DecodeParms {
        let mut out = DecodeParms::default();
        let Some(d) = p.map(|o| self.resolve(o)).and_then(|o| o.as_dict()) else {
            return out;
        };
        let int = |k: &[u8]| d.get(k).and_then(|o| self.resolve(o).as_i64());
        if let Some(v) = int(b"Predictor") {
            out.predictor = v;
        }
        if let Some(v) = int(b"Colors") {
            out.colors = v;
        }
        if let Some(v) = int(b"BitsPerComponent") {
            out.bits_per_component = v;
        }
        if let Some(v) = int(b"Columns") {
            out.columns = v;
        }
        if let Some(v) = int(b"EarlyChange") {
            out.early_change = v;
        }
        out
    }

    // ---------------------------------------------------------------- xref

    fn read_xref_chain(&mut self) -> Result<bool> {
        let data = self.data;
        let tail_start = data.len().saturating_sub(64 * 1024);
        let Some(p) = memmem::rfind(&data[tail_start..], b"startxref") else {
            return Ok(false);
        };
        let mut lex = Lexer::at(data, tail_start + p + 9);
        let Token::Int(start) = lex.next_token() else {
            return Ok(false);
        };
        self.reading_xref.set(true);
        let result = self.read_sections(start);
        self.reading_xref.set(false);
        result
    }

    fn read_sections(&mut self, start: i64) -> Result<bool> {
        let mut queue = VecDeque::from([start]);
        let mut visited = HashSet::new();
        let mut trailers: Vec<Dict<'a>> = Vec::new();
        let mut ok = true;
        while let Some(off) = queue.pop_front() {
            self.budget.check()?;
            if off < 0 || !visited.insert(off) || visited.len() > MAX_XREF_SECTIONS {
                continue;
            }
            let off = off as usize;
            let Some(pos) = self.locate_section(off) else {
                ok = false;
                break;
            };
            let mut lex = Lexer::at(self.data, pos);
            match lex.next_token() {
                Token::Keyword(b"xref") => {
                    let section =
                        xref::read_table(self.data, lex.pos(), &mut self.xref.borrow_mut());
                    if section.overflow {
                        self.objects_beyond_limit();
                    }
                    let Some(tpos) = section.trailer_pos else {
                        ok = false;
                        break;
                    };
                    let trailer = match self.parse_value(Lexer::at(self.data, tpos), None, false) {
                        Ok((trailer, _, cut)) => {
                            if cut {
                                let e = self.nesting_cut();
                                self.diagnose(Diagnostic::warning(
                                    e.code,
                                    format!("the trailer: {}", e.message),
                                ));
                            }
                            trailer
                        }
                        Err(e) => {
                            // An unreadable trailer is damage: the file is rebuilt by scanning.
                            let e = self.local_error(e)?;
                            self.diagnose(Diagnostic::warning(
                                e.code,
                                format!("the trailer: {}", e.message),
                            ));
                            ok = false;
                            break;
                        }
                    };
                    let Some(trailer) = trailer.as_dict() else {
                        ok = false;
                        break;
                    };
                    if let Some(x) = trailer.get(b"XRefStm").and_then(|o| o.as_i64())
                        && x >= 0
                        && visited.insert(x)
                    {
                        // Hybrid file: the stream's entries belong to this section.
                        self.read_xref_stream_at(x as usize, true)?;
                    }
                    if let Some(prev) = trailer.get(b"Prev").and_then(|o| o.as_i64()) {
                        queue.push_back(prev);
                    }
                    trailers.push(trailer);
                }
                Token::Int(_) => match self.read_xref_stream_at(pos, false)? {
                    Some(dict) => {
                        if let Some(prev) = dict.get(b"Prev").and_then(|o| o.as_i64()) {
                            queue.push_back(prev);
                        }
                        trailers.push(dict);
                    }
                    None => {
                        ok = false;
                        break;
                    }
                },
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        self.trailer.set(self.merge_trailers(&trailers));
        Ok(ok && !trailers.is_empty() && !self.xref.borrow().is_empty())
    }

    /// The position of an xref section: at `off`, or at `off` shifted by junk before the header.
    fn locate_section(&self, off: usize) -> Option<usize> {
        let looks_right = |p: usize| {
            let mut lex = Lexer::at(self.data, p);
            matches!(lex.next_token(), Token::Keyword(b"xref") | Token::Int(_))
        };
        [off, off.saturating_add(self.header_offset)]
            .into_iter()
            .find(|&p| p < self.data.len() && looks_right(p))
    }

    /// Read the xref stream object at `pos`; returns its dictionary (the trailer of its section).
    fn read_xref_stream_at(&self, pos: usize, replace_free: bool) -> Result<Option<Dict<'a>>> {
        let Some((_, obj)) = self.parse_indirect_at(pos) else {
            return Ok(None);
        };
        let Some(stream) = obj.as_stream() else {
            return Ok(None);
        };
        let dict = stream.dict;
        let Some(w) = dict.get(b"W").and_then(|o| o.as_array()) else {
            return Ok(None);
        };
        let mut widths = [0usize; 3];
        for (i, slot) in widths.iter_mut().enumerate() {
            *slot = w.get(i).and_then(|o| o.as_i64()).unwrap_or(0).clamp(0, 16) as usize;
        }
        let size = dict
            .get(b"Size")
            .and_then(|o| o.as_i64())
            .unwrap_or(0)
            .max(0) as u64;
        let mut index = Vec::new();
        match dict.get(b"Index").and_then(|o| o.as_array()) {
            Some(arr) => {
                for pair in arr.chunks_exact(2).take(4096) {
                    if let (Some(a), Some(b)) = (pair[0].as_i64(), pair[1].as_i64())
                        && a >= 0
                        && b >= 0
                    {
                        index.push((a as u64, b as u64));
                    }
                }
            }
            None => index.push((0, size)),
        }
        let decoded = match self.decode_stream(stream) {
            Ok(d) => d,
            Err(e) => {
                // An undecodable xref stream is damage: the file is rebuilt by scanning.
                let e = self.local_error(e)?;
                self.diagnose(Diagnostic::warning(
                    e.code,
                    format!("a cross-reference stream: {}", e.message),
                ));
                return Ok(None);
            }
        };
        let layout = StreamLayout { widths, index };
        let (_, overflow) = xref::read_stream_entries(
            &decoded.data,
            &layout,
            &mut self.xref.borrow_mut(),
            replace_free,
        );
        if overflow {
            self.objects_beyond_limit();
        }
        Ok(Some(dict))
    }

    /// Cross-reference entries numbered at or above `max_objects` were left out: those objects
    /// read as `null` (the table stays bounded); the document is not failed for them.
    fn objects_beyond_limit(&self) {
        let max = self.budget.limits().max_objects;
        let message = format!(
            "cross-reference entries for object numbers of {max} and above were ignored (max_objects); those objects read as null"
        );
        self.diagnose_once(Diagnostic::warning(Code::TooManyObjects, message));
    }

    /// The newest trailer, completed with the keys older trailers have and it lacks.
    fn merge_trailers(&self, trailers: &[Dict<'a>]) -> Dict<'a> {
        let Some(newest) = trailers.first() else {
            return Dict::EMPTY;
        };
        let mut entries: Vec<(Name<'a>, Object<'a>)> = newest.iter().collect();
        for key in [&b"Root"[..], b"Info", b"Encrypt", b"ID"] {
            if newest.get(key).is_none()
                && let Some(v) = trailers.iter().find_map(|t| t.get(key))
            {
                entries.push((Name(self.arena.alloc_slice_copy(key)), v));
            }
        }
        Dict(self.arena.alloc_slice_copy(&entries))
    }

    /// Rebuild the cross-reference table by scanning the whole file.
    fn rebuild_xref(&self, why: &str) -> Result<()> {
        self.budget.check()?;
        self.repaired.set(true);
        self.diagnose(Diagnostic::warning(
            Code::XrefRepaired,
            format!("{why}; rebuilt by scanning the file"),
        ));
        let scan = repair::scan(self.data, self.budget.limits().max_objects);
        if scan.overflow {
            return Err(too_many_objects(self.budget.limits()));
        }
        let mut table = XrefTable::new(self.budget.limits().max_objects);
        for o in &scan.objects {
            // Later occurrences (incremental updates) win.
            table.set(
                o.num,
                Entry::Offset {
                    offset: o.offset,
                    generation: o.generation,
                },
            );
        }
        // Keep what the damaged xref knew about objects in object streams.
        for (num, e) in self.xref.borrow().iter() {
            if matches!(e, Entry::InStream { .. }) {
                table.set_if_unset(num, e, false);
            }
        }
        *self.xref.borrow_mut() = table;
        self.cache.borrow_mut().clear();
        self.issues.borrow_mut().clear();
        self.objstms.borrow_mut().clear();

        // Objects inside object streams the scan found.
        for &stm in &scan.object_streams {
            self.budget.check()?;
            if let Some(st) = self.objstm(stm) {
                let mut x = self.xref.borrow_mut();
                for (i, &(num, _)) in st.offsets.iter().enumerate() {
                    x.set_if_unset(
                        num,
                        Entry::InStream {
                            stream: stm,
                            index: i as u32,
                        },
                        false,
                    );
                }
            }
        }

        // The trailer: the last `trailer` dictionary or xref stream naming a usable /Root.
        let mut candidates: Vec<Dict<'a>> = Vec::new();
        for &pos in scan.trailers.iter().rev() {
            if let Ok((t, _, _)) = self.parse_value(Lexer::at(self.data, pos), None, false)
                && let Some(d) = t.as_dict()
            {
                candidates.push(d);
            }
        }
        for &num in scan.xref_streams.iter().rev() {
            if let Some(d) = self.get(ObjRef::new(num, 0)).as_dict() {
                candidates.push(d);
            }
        }
        let old = self.trailer.get();
        if !old.is_empty() {
            candidates.push(old);
        }
        let usable = |d: &Dict<'a>| {
            d.get(b"Root")
                .and_then(|r| self.resolve(r).as_dict())
                .is_some_and(|c| c.contains(b"Pages"))
        };
        let chosen = candidates.iter().find(|d| usable(d)).copied();
        let trailer = match chosen {
            Some(t) => {
                let mut all = vec![t];
                all.extend(candidates.iter().copied());
                self.merge_trailers(&all)
            }
            None => {
                // No trailer names the catalog: use the last object typed /Catalog.
                let root = scan.catalogs.iter().rev().copied().find(|&n| {
                    self.get(ObjRef::new(n, 0))
                        .as_dict()
                        .is_some_and(|c| c.contains(b"Pages"))
                });
                let mut entries: Vec<(Name<'a>, Object<'a>)> = Vec::new();
                if let Some(n) = root {
                    entries.push((Name(b"Root"), Object::Ref(ObjRef::new(n, 0))));
                }
                for key in [&b"Info"[..], b"Encrypt", b"ID"] {
                    if let Some(v) = candidates.iter().find_map(|t| t.get(key)) {
                        entries.push((Name(self.arena.alloc_slice_copy(key)), v));
                    }
                }
                Dict(self.arena.alloc_slice_copy(&entries))
            }
        };
        self.trailer.set(trailer);
        Ok(())
    }

    // ---------------------------------------------------------------- encryption

    fn setup_encryption(&mut self, password: &str) -> Result<()> {
        let trailer = self.trailer.get();
        let Some(enc_obj) = trailer.get(b"Encrypt") else {
            return Ok(());
        };
        self.encrypt_ref = enc_obj.as_ref();
        let Some(enc) = self.resolve(enc_obj).as_dict() else {
            return Err(PdfError::new(
                Code::UnsupportedEncryption,
                "the /Encrypt dictionary is unreadable",
            ));
        };
        let filter = self.get_name(enc, b"Filter").unwrap_or(b"Standard");
        let int = |k: &[u8], d: i64| self.get_i64(enc, k).unwrap_or(d);
        let v = int(b"V", 0);
        let r = int(b"R", 2);
        let mut length_bits = int(b"Length", 40);
        let (mut stream_method, mut string_method) = (CryptMethod::Rc4, CryptMethod::Rc4);
        if v >= 4 {
            let cf = self.get_dict(enc, b"CF");
            let method = |name: Option<&[u8]>, length_bits: &mut i64| -> CryptMethod {
                let name = name.unwrap_or(b"Identity");
                if name == b"Identity" {
                    return CryptMethod::Identity;
                }
                let Some(filter) = cf.and_then(|cf| self.get_dict(cf, name)) else {
                    return if v >= 5 {
                        CryptMethod::AesV3
                    } else {
                        CryptMethod::Rc4
                    };
                };
                if let Some(l) = self.get_i64(filter, b"Length") {
                    *length_bits = if l <= 32 { l * 8 } else { l };
                }
                match self.get_name(filter, b"CFM") {
                    Some(b"V2") => CryptMethod::Rc4,
                    Some(b"AESV2") => CryptMethod::AesV2,
                    Some(b"AESV3") => CryptMethod::AesV3,
                    Some(b"None") => CryptMethod::Identity,
                    _ if v >= 5 => CryptMethod::AesV3,
                    _ => CryptMethod::Rc4,
                }
            };
            stream_method = method(self.get_name(enc, b"StmF"), &mut length_bits);
            string_method = method(self.get_name(enc, b"StrF"), &mut length_bits);
        }
        let id0 = self
            .get_array(trailer, b"ID")
            .and_then(|a| a.first().copied())
            .and_then(|o| self.resolve(o).as_string())
            .unwrap_or(b"");
        let params = EncryptParams {
            filter,
            v,
            r,
            length_bits,
            o: self.get_string(enc, b"O").unwrap_or(b""),
            u: self.get_string(enc, b"U").unwrap_or(b""),
            oe: self.get_string(enc, b"OE"),
            ue: self.get_string(enc, b"UE"),
            perms: self.get_string(enc, b"Perms"),
            p: int(b"P", -1),
            encrypt_metadata: self
                .get_in(enc, b"EncryptMetadata")
                .as_bool()
                .unwrap_or(true),
            stream_method,
            string_method,
            id0,
        };
        match Decryptor::open(&params, password.as_bytes()) {
            Ok(d) => {
                self.crypt = Some(d);
                // Objects read so far (the catalog during repair) were parsed without decryption.
                let keep = self.encrypt_ref.map(|r| r.num);
                self.cache.borrow_mut().retain(|num, _| Some(*num) == keep);
                self.issues.borrow_mut().retain(|num, _| Some(*num) == keep);
                self.objstms.borrow_mut().clear();
                Ok(())
            }
            Err(CryptError::WrongPassword) => Err(PdfError::new(
                Code::Encrypted,
                if password.is_empty() {
                    "the document is encrypted and needs a password"
                } else {
                    "the password does not open this document"
                },
            )),
            Err(e) => Err(PdfError::new(Code::UnsupportedEncryption, e.to_string())),
        }
    }
}

/// A per-object error, worded for the object that now reads as `null`.
fn read_as_null(e: PdfError) -> PdfError {
    PdfError::new(e.code, format!("{}; it reads as null", e.message))
}

fn too_many_objects(limits: &Limits) -> PdfError {
    PdfError::new(
        Code::TooManyObjects,
        format!("the document has more than {} objects", limits.max_objects),
    )
}

/// "1.10" > "1.9": compare versions numerically.
fn version_key(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}
