//! The content-stream interpreter: runs a page's content (and its Form XObjects and annotation
//! appearances) through the text and graphics state and emits positioned characters.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

use ndf_model::{CharFlags, Code, Diagnostic, Matrix, Rect, TextChar, TextPage};
use ndf_pdf::content::{ContentParser, Operand, Operation, name_bytes, string_bytes};
use ndf_pdf::{Dict, ObjRef, Object, PageObject, Pdf, PdfError, Stream};

use crate::font::{Font, fallback_font, load_font};
use crate::text_string::decode_text_string;

/// Options for text interpretation.
#[derive(Debug, Clone)]
pub struct PageOptions {
    /// Run annotation appearance streams (form field values, stamps, free text).
    pub annotations: bool,
}

impl Default for PageOptions {
    fn default() -> Self {
        Self { annotations: true }
    }
}

/// Most fonts kept loaded per document; beyond this, fonts are loaded per use.
const MAX_CACHED_FONTS: usize = 2048;
/// Deepest `q` nesting kept; deeper saves are counted but not stored.
const MAX_GSTATE_DEPTH: usize = 1024;
/// Deepest marked-content nesting tracked.
const MAX_MARKED_DEPTH: usize = 1024;

/// Hashes the font pointers of `Interp::font_ids`, looked up at every `Tf`: one multiply
/// instead of SipHash (the keys are addresses, not attacker-chosen data).
#[derive(Default)]
struct PtrHasher(u64);

impl Hasher for PtrHasher {
    fn finish(&self) -> u64 {
        // The well-mixed high bits of the product go to both ends: the table uses the low
        // bits for the bucket and the top 7 for the tag.
        self.0.rotate_left(32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Identity of a font resource within a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FontKey {
    Ref(u32),
    Direct(usize),
}

/// Fonts loaded for one document, shared by its pages. Bounded in count.
#[derive(Debug, Default)]
pub struct FontCache {
    fonts: HashMap<FontKey, Rc<Font>>,
    fallback: Option<Rc<Font>>,
    /// Time spent loading fonts, for the per-stage timings of the service.
    load_time: std::time::Duration,
}

impl FontCache {
    /// An empty cache (one per document).
    pub fn new() -> Self {
        Self::default()
    }

    fn get<'a>(&mut self, pdf: &Pdf<'a>, obj: Object<'a>) -> Option<Rc<Font>> {
        let key = match obj {
            Object::Ref(r) => FontKey::Ref(r.num),
            Object::Dict(d) => FontKey::Direct(d.0.as_ptr() as usize),
            _ => return None,
        };
        if let Some(f) = self.fonts.get(&key) {
            return Some(f.clone());
        }
        let dict = pdf.resolve(obj).as_dict()?;
        let started = std::time::Instant::now();
        let font = Rc::new(load_font(pdf, dict));
        self.load_time += started.elapsed();
        if self.has_room() {
            self.fonts.insert(key, font.clone());
        }
        Some(font)
    }

    /// Whether a font loaded now would be kept (the cache is bounded).
    fn has_room(&self) -> bool {
        self.fonts.len() < MAX_CACHED_FONTS
    }

    /// Total time spent loading fonts into this cache so far.
    pub fn load_time(&self) -> std::time::Duration {
        self.load_time
    }

    fn fallback(&mut self) -> Rc<Font> {
        self.fallback
            .get_or_insert_with(|| Rc::new(fallback_font()))
            .clone()
    }
}

#[derive(Clone)]
struct GState {
    ctm: Matrix,
    font: Option<Rc<Font>>,
    font_index: u16,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    h_scale: f64,
    leading: f64,
    rise: f64,
    render_mode: u8,
}

impl Default for GState {
    fn default() -> Self {
        Self {
            ctm: Matrix::IDENTITY,
            font: None,
            font_index: 0,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            h_scale: 1.0,
            leading: 0.0,
            rise: 0.0,
            render_mode: 0,
        }
    }
}

/// A font resource `name` of `resources` and the font the document cache gave for it.
struct FontMemo<'a> {
    resources: Dict<'a>,
    name: Box<[u8]>,
    font: Rc<Font>,
}

/// Most fonts remembered per page by `Interp::set_font`; beyond this, fonts are looked up.
const MAX_FONT_MEMO: usize = 64;

struct Marked {
    mcid: Option<u32>,
    actual_text: Option<String>,
    hidden: bool,
    first_char: usize,
}

/// Interprets one page.
struct Interp<'p, 'a> {
    pdf: &'p Pdf<'a>,
    fonts: &'p mut FontCache,
    page: TextPage,
    page_xform: Matrix,
    visible: Rect,
    gs: GState,
    stack: Vec<GState>,
    dropped_saves: usize,
    tm: Matrix,
    tlm: Matrix,
    marked: Vec<Marked>,
    dropped_marks: usize,
    hidden_depth: usize,
    forms: Vec<ObjRef>,
    ops: u64,
    max_ops: u64,
    max_chars: usize,
    font_ids: HashMap<*const Font, u16, BuildHasherDefault<PtrHasher>>,
    reported_fonts: Vec<*const Font>,
    flags: CharFlags,
    stop: Option<PdfError>,
    /// Characters left out because they lie outside the visible page (as viewers and pdftotext do).
    clipped: u32,
    ocg_off: Vec<ObjRef>,
    /// Fonts already selected by `Tf` on this page, so repeated selections skip the resource
    /// lookup and the document cache's hashing (bounded by [`MAX_FONT_MEMO`]).
    font_memo: Vec<FontMemo<'a>>,
    /// `Pdf::was_repaired` when `font_memo` was filled.
    font_memo_repaired: bool,
    /// Objects whose issue (`Pdf::object_issue`) this page already reported.
    reported_issues: Vec<u32>,
}

/// Most objects with issues reported per page.
const MAX_REPORTED_ISSUES: usize = 64;

/// Interpret page `index` of `pdf` into positioned characters.
pub fn extract_page<'a>(
    pdf: &Pdf<'a>,
    index: usize,
    fonts: &mut FontCache,
    options: &PageOptions,
) -> TextPage {
    extract_page_reusing(pdf, index, fonts, options, TextPage::default())
}

/// [`extract_page`] into the buffers of a page that is no longer needed (its contents are
/// discarded, its capacity reused), so consecutive pages do not allocate afresh.
pub fn extract_page_reusing<'a>(
    pdf: &Pdf<'a>,
    index: usize,
    fonts: &mut FontCache,
    options: &PageOptions,
    spare: TextPage,
) -> TextPage {
    let number = index as u32 + 1;
    let TextPage {
        mut text,
        mut chars,
        fonts: mut page_fonts,
        mut diagnostics,
        ..
    } = spare;
    text.clear();
    chars.clear();
    page_fonts.clear();
    diagnostics.clear();
    let Some(page) = pdf.page(index) else {
        let mut p = TextPage {
            number,
            text,
            chars,
            fonts: page_fonts,
            diagnostics,
            ..TextPage::default()
        };
        p.diagnostics
            .push(Diagnostic::error(Code::PageFailed, "the page does not exist").on_page(number));
        return p;
    };
    let limits = pdf.budget().limits();
    let (page_xform, width, height) = page_transform(&page);
    let mut it = Interp {
        pdf,
        fonts,
        page: TextPage {
            number,
            width: width as f32,
            height: height as f32,
            rotation: page.rotate,
            text,
            chars,
            fonts: page_fonts,
            diagnostics,
        },
        page_xform,
        visible: Rect {
            x0: 0.0,
            y0: 0.0,
            x1: width as f32,
            y1: height as f32,
        },
        gs: GState::default(),
        stack: Vec::new(),
        dropped_saves: 0,
        tm: Matrix::IDENTITY,
        tlm: Matrix::IDENTITY,
        marked: Vec::new(),
        dropped_marks: 0,
        hidden_depth: 0,
        forms: Vec::new(),
        ops: 0,
        max_ops: limits.max_operators_per_page,
        max_chars: limits.max_chars_per_page as usize,
        font_ids: HashMap::default(),
        reported_fonts: Vec::new(),
        flags: CharFlags::default(),
        stop: None,
        clipped: 0,
        ocg_off: optional_content_off(pdf),
        font_memo: Vec::new(),
        font_memo_repaired: pdf.was_repaired(),
        reported_issues: Vec::new(),
    };
    // The page's own objects: an object that could not be read (a limit or damage of that
    // object) fails what depends on it, and the page says so.
    for r in [page.id, page.resources_ref].into_iter().flatten() {
        it.check_issue(Some(Object::Ref(r)));
    }
    let mut content = Vec::new();
    for s in pdf.page_contents(&page) {
        match pdf.decode_stream(s) {
            Ok(d) => {
                if d.damaged {
                    it.diag(Diagnostic::warning(
                        Code::StreamDamaged,
                        "a content stream is damaged; its readable part is used",
                    ));
                }
                content.extend_from_slice(&d.data);
                content.push(b'\n');
            }
            Err(e) => {
                let fatal = e.code.is_limit() && pdf.budget().tripped().is_some();
                it.diag(Diagnostic::error(
                    e.code,
                    format!("a content stream could not be decoded: {}", e.message),
                ));
                if fatal {
                    it.stop = Some(e);
                    break;
                }
            }
        }
    }
    if it.stop.is_none() {
        it.run(&content, page.resources);
    }
    if it.stop.is_none() && options.annotations {
        it.annotations(&page);
    }
    let unmapped = it
        .page
        .chars
        .iter()
        .filter(|c| c.flags.contains(CharFlags::UNMAPPED))
        .count();
    if unmapped > 0 {
        it.diag(Diagnostic::warning(
            Code::FontUnmapped,
            format!(
                "{unmapped} glyphs have no Unicode mapping in their font; their text is a guess"
            ),
        ));
    }
    if let Some(e) = it.stop.take() {
        it.diag(Diagnostic::error(
            e.code,
            format!("page interpretation stopped: {}", e.message),
        ));
    }
    it.page
}

/// The transform from default user space to the visible page (crop box, rotated, top-left
/// origin, y down), and the visible width and height.
fn page_transform(page: &PageObject<'_>) -> (Matrix, f64, f64) {
    let [x0, y0, x1, y1] = page.crop_box;
    let u = page.user_unit;
    let (w, h) = ((x1 - x0) * u, (y1 - y0) * u);
    let m = match page.rotate {
        90 => Matrix::new(0.0, 1.0, 1.0, 0.0, -y0, -x0),
        180 => Matrix::new(-1.0, 0.0, 0.0, 1.0, x1, -y0),
        270 => Matrix::new(0.0, -1.0, -1.0, 0.0, y1, x1),
        _ => Matrix::new(1.0, 0.0, 0.0, -1.0, -x0, y1),
    };
    let m = m.then(&Matrix::new(u, 0.0, 0.0, u, 0.0, 0.0));
    if page.rotate == 90 || page.rotate == 270 {
        (m, h, w)
    } else {
        (m, w, h)
    }
}

/// `x.hypot(y)`, without the library call when one side is zero (unrotated text): hypot(x, ±0)
/// is exactly |x| for finite x.
#[inline]
fn hypot(x: f64, y: f64) -> f64 {
    if y == 0.0 && x.is_finite() {
        x.abs()
    } else if x == 0.0 && y.is_finite() {
        y.abs()
    } else {
        x.hypot(y)
    }
}

/// Optional content groups switched off in the default configuration.
fn optional_content_off(pdf: &Pdf<'_>) -> Vec<ObjRef> {
    let Some(catalog) = pdf.catalog() else {
        return Vec::new();
    };
    let Some(ocp) = pdf.get_dict(catalog, b"OCProperties") else {
        return Vec::new();
    };
    let Some(d) = pdf.get_dict(ocp, b"D") else {
        return Vec::new();
    };
    pdf.get_array(d, b"OFF").map_or_else(Vec::new, |a| {
        a.iter().filter_map(|o| o.as_ref()).take(10_000).collect()
    })
}

impl<'p, 'a> Interp<'p, 'a> {
    fn diag(&mut self, d: Diagnostic) {
        if self.page.diagnostics.len() < 64 {
            let n = self.page.number;
            self.page.diagnostics.push(d.on_page(n));
        }
    }

    /// Report on the page, once, an object it uses that could not be read whole.
    fn check_issue(&mut self, obj: Option<Object<'a>>) {
        let Some(Object::Ref(r)) = obj else { return };
        if self.reported_issues.contains(&r.num) {
            return;
        }
        let Some(issue) = self.pdf.object_issue(r) else {
            return;
        };
        if self.reported_issues.len() >= MAX_REPORTED_ISSUES {
            return;
        }
        self.reported_issues.push(r.num);
        let message = format!(
            "object {} used by this page: {}",
            r.num, issue.error.message
        );
        self.diag(if issue.whole {
            Diagnostic::error(issue.error.code, message)
        } else {
            Diagnostic::warning(issue.error.code, message)
        });
    }

    fn run(&mut self, content: &[u8], resources: Dict<'a>) {
        let mut parser = ContentParser::new(content);
        while let Some(op) = parser.next_op() {
            self.ops += 1;
            if self.ops > self.max_ops {
                self.stop = Some(PdfError::new(
                    Code::TooManyOperators,
                    format!("the page executes more than {} operators", self.max_ops),
                ));
                return;
            }
            if let Err(e) = self.pdf.budget().tick() {
                self.stop = Some(e);
                return;
            }
            self.op(&op, resources);
            if self.stop.is_some() {
                return;
            }
        }
        if parser.malformed > 0 {
            self.diag(Diagnostic::warning(
                Code::ContentMalformed,
                "a content stream contains malformed syntax that was skipped",
            ));
        }
    }

    fn op(&mut self, op: &Operation<'_, '_>, resources: Dict<'a>) {
        match op.op {
            b"q" => {
                if self.stack.len() < MAX_GSTATE_DEPTH {
                    self.stack.push(self.gs.clone());
                } else {
                    self.dropped_saves += 1;
                }
            }
            b"Q" => {
                if self.dropped_saves > 0 {
                    self.dropped_saves -= 1;
                } else if let Some(g) = self.stack.pop() {
                    self.gs = g;
                }
            }
            b"cm" => {
                if let Some([a, b, c, d, e, f]) = op.numbers::<6>() {
                    let m = Matrix::new(a, b, c, d, e, f);
                    if m.is_finite() {
                        self.gs.ctm = m.then(&self.gs.ctm);
                    }
                }
            }
            b"BT" => {
                self.tm = Matrix::IDENTITY;
                self.tlm = Matrix::IDENTITY;
            }
            b"ET" => {}
            b"Tf" => {
                if let Some(size) = op.arg_from_end(0).and_then(|o| o.as_f64())
                    && let Some(Operand::Name(name)) = op.arg_from_end(1)
                {
                    self.gs.size = size;
                    self.set_font(&name_bytes(name), resources);
                }
            }
            b"Tc" => self.set_num(op, |g, v| g.char_spacing = v),
            b"Tw" => self.set_num(op, |g, v| g.word_spacing = v),
            b"Tz" => self.set_num(op, |g, v| g.h_scale = v / 100.0),
            b"TL" => self.set_num(op, |g, v| g.leading = v),
            b"Ts" => self.set_num(op, |g, v| g.rise = v),
            b"Tr" => {
                if let Some(v) = op.arg_from_end(0).and_then(|o| o.as_i64()) {
                    self.gs.render_mode = v.clamp(0, 7) as u8;
                }
            }
            b"Td" => {
                if let Some([tx, ty]) = op.numbers::<2>() {
                    self.next_line(tx, ty);
                }
            }
            b"TD" => {
                if let Some([tx, ty]) = op.numbers::<2>() {
                    self.gs.leading = -ty;
                    self.next_line(tx, ty);
                }
            }
            b"Tm" => {
                if let Some([a, b, c, d, e, f]) = op.numbers::<6>() {
                    let m = Matrix::new(a, b, c, d, e, f);
                    if m.is_finite() {
                        self.tm = m;
                        self.tlm = m;
                    }
                }
            }
            b"T*" => self.next_line(0.0, -self.gs.leading),
            b"Tj" => {
                if let Some(s) = op.arg_from_end(0).and_then(string_bytes) {
                    self.show(&s);
                }
            }
            b"'" => {
                self.next_line(0.0, -self.gs.leading);
                if let Some(s) = op.arg_from_end(0).and_then(string_bytes) {
                    self.show(&s);
                }
            }
            b"\"" => {
                if let Some([aw, ac]) = op.operands.len().checked_sub(3).and_then(|i| {
                    Some([
                        op.operands.get(i)?.as_f64()?,
                        op.operands.get(i + 1)?.as_f64()?,
                    ])
                }) {
                    self.gs.word_spacing = aw;
                    self.gs.char_spacing = ac;
                }
                self.next_line(0.0, -self.gs.leading);
                if let Some(s) = op.arg_from_end(0).and_then(string_bytes) {
                    self.show(&s);
                }
            }
            b"TJ" => {
                if let Some(arr @ Operand::Array { .. }) = op.arg_from_end(0) {
                    for item in op.array(arr) {
                        match item {
                            Operand::Int(_) | Operand::Real(_) => {
                                let n = item.as_f64().unwrap_or(0.0);
                                self.adjust(n);
                            }
                            _ => {
                                if let Some(s) = string_bytes(*item) {
                                    self.show(&s);
                                }
                            }
                        }
                        if self.stop.is_some() {
                            return;
                        }
                    }
                }
            }
            b"Do" => {
                if let Some(Operand::Name(name)) = op.arg_from_end(0) {
                    self.do_xobject(&name_bytes(name), resources);
                }
            }
            b"gs" => {
                if let Some(Operand::Name(name)) = op.arg_from_end(0) {
                    self.ext_gstate(&name_bytes(name), resources);
                }
            }
            b"BMC" => self.begin_marked(None, false, None),
            b"BDC" => self.bdc(op, resources),
            b"EMC" => self.end_marked(),
            _ => {}
        }
    }

    fn set_num(&mut self, op: &Operation<'_, '_>, f: impl FnOnce(&mut GState, f64)) {
        if let Some(v) = op.arg_from_end(0).and_then(|o| o.as_f64()) {
            f(&mut self.gs, v);
        }
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        let m = Matrix::translate(tx, ty).then(&self.tlm);
        if m.is_finite() {
            self.tlm = m;
            self.tm = m;
        }
    }

    /// A TJ number: move back by n/1000 text-space units (scaled by size and, for horizontal
    /// text, by the horizontal scaling).
    fn adjust(&mut self, n: f64) {
        let vertical = self.gs.font.as_ref().is_some_and(|f| f.vertical);
        let d = -n / 1000.0 * self.gs.size;
        let m = if vertical {
            Matrix::translate(0.0, d).then(&self.tm)
        } else {
            Matrix::translate(d * self.gs.h_scale, 0.0).then(&self.tm)
        };
        if m.is_finite() {
            self.tm = m;
        }
    }

    fn set_font(&mut self, name: &[u8], resources: Dict<'a>) {
        // A repair re-parses objects (new addresses, new direct font dictionaries): what was
        // remembered before it no longer says what the lookup below would find.
        let repaired = self.pdf.was_repaired();
        if repaired != self.font_memo_repaired {
            self.font_memo.clear();
            self.font_memo_repaired = repaired;
        }
        if let Some(m) = self
            .font_memo
            .iter()
            .find(|m| std::ptr::eq(m.resources.0, resources.0) && *m.name == *name)
        {
            self.gs.font = Some(m.font.clone());
            self.register_font();
            return;
        }
        let font_dict = resources.get(b"Font");
        let obj = font_dict
            .and_then(|o| self.pdf.resolve(o).as_dict())
            .and_then(|fonts| fonts.get(name));
        // Only fonts the document cache keeps are remembered: a full cache loads afresh.
        let kept = self.fonts.has_room();
        self.gs.font = match obj {
            Some(o) => self.fonts.get(self.pdf, o),
            None => None,
        };
        if kept
            && self.font_memo.len() < MAX_FONT_MEMO
            && let Some(font) = &self.gs.font
        {
            self.font_memo.push(FontMemo {
                resources,
                name: name.into(),
                font: font.clone(),
            });
        }
        self.check_issue(font_dict);
        self.check_issue(obj);
        if self.gs.font.is_none() {
            self.diag(Diagnostic::warning(
                Code::FontDamaged,
                "a font used by the page is missing; Helvetica assumed",
            ));
        }
        self.register_font();
    }

    fn register_font(&mut self) {
        let font = match &self.gs.font {
            Some(f) => f.clone(),
            None => {
                let f = self.fonts.fallback();
                self.gs.font = Some(f.clone());
                f
            }
        };
        let key = Rc::as_ptr(&font);
        if let Some(&i) = self.font_ids.get(&key) {
            self.gs.font_index = i;
            return;
        }
        let i = self.page.fonts.len().min(u16::MAX as usize) as u16;
        if self.page.fonts.len() < u16::MAX as usize {
            self.page.fonts.push(font.info.clone());
        }
        self.font_ids.insert(key, i);
        self.gs.font_index = i;
        if !self.reported_fonts.contains(&key) {
            self.reported_fonts.push(key);
            for d in font.diagnostics.clone() {
                self.diag(d);
            }
        }
    }

    fn ext_gstate(&mut self, name: &[u8], resources: Dict<'a>) {
        let Some(gs) = self
            .pdf
            .get_dict(resources, b"ExtGState")
            .and_then(|d| self.pdf.get_dict(d, name))
        else {
            return;
        };
        if let Some(arr) = self.pdf.get_array(gs, b"Font")
            && let (Some(f), Some(size)) = (
                arr.first(),
                arr.get(1).and_then(|o| self.pdf.resolve(*o).as_f64()),
            )
        {
            self.gs.font = self.fonts.get(self.pdf, *f);
            self.gs.size = size;
            self.register_font();
        }
    }

    fn show(&mut self, bytes: &[u8]) {
        if self.hidden_depth > 0 {
            // Hidden optional content: advance the text position only.
            self.advance_only(bytes);
            return;
        }
        if self.gs.font.is_none() {
            self.register_font();
        }
        let Some(font) = self.gs.font.clone() else {
            return;
        };
        let g = &self.gs;
        let base = self.tm.then(&g.ctm).then(&self.page_xform);
        if !base.is_finite() {
            return;
        }
        let fs = g.size;
        let th = g.h_scale;
        let vertical = font.vertical;
        let mut flags = self.flags;
        if g.render_mode == 3 || g.render_mode == 7 {
            flags.insert(CharFlags::INVISIBLE);
        }
        if vertical {
            flags.insert(CharFlags::VERTICAL);
        }
        // Effective size: how tall an em is on the page.
        let size = (fs * font.em * hypot(base.m[2], base.m[3])).abs();
        // The glyph baseline (text-space x axis), also for vertical writing: layout turns it a
        // quarter clockwise to get the top-to-bottom flow of vertical lines.
        let (dx, dy) = base.apply_vector(1.0, 0.0);
        let norm = hypot(dx, dy);
        let dir = if norm > 0.0 {
            ((dx / norm) as f32, (dy / norm) as f32)
        } else {
            (1.0, 0.0)
        };

        let mcid = self.marked.iter().rev().find_map(|m| m.mcid);
        let visible = self.visible;
        let max_chars = self.max_chars;
        let font_index = g.font_index;
        let (char_spacing, word_spacing, rise) = (g.char_spacing, g.word_spacing, g.rise);
        let chars = &mut self.page.chars;
        let clipped = &mut self.clipped;
        let mut full = false;
        let mut pos = 0.0f64;
        let (ascent, descent) = (font.ascent * font.em, font.descent * font.em);
        let [a, b, c, d, e, f] = base.m;
        // Products of the base matrix with the fixed y of horizontal glyph boxes and origins.
        let (y_desc, y_asc) = (rise + descent * fs, rise + ascent * fs);
        let (c_desc, c_asc, d_desc, d_asc) = (c * y_desc, c * y_asc, d * y_desc, d * y_asc);
        let (c_rise, d_rise) = (c * rise, d * rise);
        // Each glyph's text goes straight to the page text and is taken back when the glyph is
        // dropped (off the page, not finite, over the character limit): one copy per glyph.
        let text = &mut self.page.text;
        let mut rest = bytes;
        // Each step consumes at least one byte.
        loop {
            let start = text.len();
            let Some(glyph) = font.next_glyph(&mut rest, text) else {
                break;
            };
            let spacing = char_spacing
                + if glyph.is_space_code {
                    word_spacing
                } else {
                    0.0
                };
            let at = pos;
            let (ox, oy, x_min, y_min, x_max, y_max, adx, ady);
            if vertical {
                // Vertical writing: glyphs hang from the baseline position, centred.
                let w = glyph.width * fs;
                let adv = -glyph.vertical_advance * fs + spacing;
                pos += adv;
                if full || chars.len() >= max_chars {
                    full = true;
                    text.truncate(start);
                    continue;
                }
                let y0 = -at;
                let corners = [(-w / 2.0, y0 - adv), (w / 2.0, y0)];
                (ox, oy) = base.apply(0.0, y0);
                let (mut x0, mut y0_, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
                for (cx, cy) in [
                    corners[0],
                    (corners[0].0, corners[1].1),
                    (corners[1].0, corners[0].1),
                    corners[1],
                ] {
                    let (x, y) = base.apply(cx, cy);
                    x0 = x0.min(x);
                    y0_ = y0_.min(y);
                    x1 = x1.max(x);
                    y1 = y1.max(y);
                }
                (x_min, y_min, x_max, y_max) = (x0, y0_, x1, y1);
                // The glyph's own advance, without character and word spacing (those move the
                // next glyph and show up as gaps, which is what layout measures).
                let glyph_advance = -glyph.vertical_advance * fs;
                (adx, ady) = base.apply_vector(0.0, -glyph_advance);
            } else {
                let w = glyph.width * fs * th;
                let adv = (glyph.width * fs + spacing) * th;
                pos += adv;
                if full || chars.len() >= max_chars {
                    full = true;
                    text.truncate(start);
                    continue;
                }
                // `base.apply` of the origin and the box corners, sharing the products (same
                // operations in the same order, so the same bits).
                let x1 = at + w;
                let (ax0, bx0, ax1, bx1) = (a * at, b * at, a * x1, b * x1);
                (ox, oy) = (ax0 + c_rise + e, bx0 + d_rise + f);
                let xs = [
                    ax0 + c_desc + e,
                    ax0 + c_asc + e,
                    ax1 + c_desc + e,
                    ax1 + c_asc + e,
                ];
                let ys = [
                    bx0 + d_desc + f,
                    bx0 + d_asc + f,
                    bx1 + d_desc + f,
                    bx1 + d_asc + f,
                ];
                x_min = xs.iter().fold(f64::MAX, |m, &v| m.min(v));
                x_max = xs.iter().fold(f64::MIN, |m, &v| m.max(v));
                y_min = ys.iter().fold(f64::MAX, |m, &v| m.min(v));
                y_max = ys.iter().fold(f64::MIN, |m, &v| m.max(v));
                // The glyph's own advance, without character and word spacing (those move the
                // next glyph and show up as gaps, which is what layout measures).
                (adx, ady) = base.apply_vector(w, 0.0);
            }
            let bbox = Rect {
                x0: x_min as f32,
                y0: y_min as f32,
                x1: x_max as f32,
                y1: y_max as f32,
            };
            if !bbox.is_finite() {
                text.truncate(start);
                continue;
            }
            let origin = (ox as f32, oy as f32);
            let advance = hypot(adx, ady) as f32;
            // poppler's rule: a character counts when its origin, extended by its advance,
            // touches the page (glyph boxes of tall fonts may stick out of small pages).
            let (ox, oy) = origin;
            let (ax, ay) = (dir.0 * advance, dir.1 * advance);
            if ox.max(ox + ax) < visible.x0 - 1.0
                || ox.min(ox + ax) > visible.x1 + 1.0
                || oy.max(oy + ay) < visible.y0 - 1.0
                || oy.min(oy + ay) > visible.y1 + 1.0
            {
                *clipped += 1;
                text.truncate(start);
                continue;
            }
            let mut char_flags = flags;
            if glyph.unmapped {
                char_flags.insert(CharFlags::UNMAPPED);
            }
            // As `TextPage::push_char`: a character's text is capped to fit its u16 length.
            let mut end = text.len().min(start + u16::MAX as usize);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            if end < text.len() {
                text.truncate(end);
            }
            chars.push(TextChar {
                text_start: start as u32,
                text_len: (end - start) as u16,
                font: font_index,
                bbox,
                origin,
                advance,
                size: size as f32,
                dir,
                flags: char_flags,
                mcid,
            });
        }
        if full {
            self.stop = Some(PdfError::new(
                Code::TooManyChars,
                format!("the page has more than {} characters", self.max_chars),
            ));
        }
        // Move the text matrix past the string.
        let m = if vertical {
            Matrix::translate(0.0, -pos)
        } else {
            Matrix::translate(pos, 0.0)
        };
        let tm = m.then(&self.tm);
        if tm.is_finite() {
            self.tm = tm;
        }
    }

    /// Move the text position as `show` would, without emitting characters.
    fn advance_only(&mut self, bytes: &[u8]) {
        let Some(font) = self.gs.font.clone() else {
            return;
        };
        let g = &self.gs;
        let mut pos = 0.0;
        let mut scratch = String::new();
        let mut rest = bytes;
        // Each step consumes at least one byte.
        while let Some(glyph) = font.next_glyph(&mut rest, &mut scratch) {
            scratch.clear();
            let spacing = g.char_spacing
                + if glyph.is_space_code {
                    g.word_spacing
                } else {
                    0.0
                };
            pos += if font.vertical {
                -glyph.vertical_advance * g.size + spacing
            } else {
                (glyph.width * g.size + spacing) * g.h_scale
            };
        }
        let m = if font.vertical {
            Matrix::translate(0.0, -pos)
        } else {
            Matrix::translate(pos, 0.0)
        };
        let tm = m.then(&self.tm);
        if tm.is_finite() {
            self.tm = tm;
        }
    }

    fn do_xobject(&mut self, name: &[u8], resources: Dict<'a>) {
        let xobjects = resources.get(b"XObject");
        let Some(obj) = xobjects
            .and_then(|o| self.pdf.resolve(o).as_dict())
            .and_then(|d| d.get(name))
        else {
            self.check_issue(xobjects);
            return;
        };
        let stream = self.pdf.resolve(obj).as_stream();
        self.check_issue(xobjects);
        self.check_issue(Some(obj));
        let Some(stream) = stream else {
            return;
        };
        if !stream.dict.is_type(b"Subtype", b"Form") {
            return;
        }
        if self.oc_hidden(stream.dict.get(b"OC")) {
            return;
        }
        self.run_form(stream, obj.as_ref(), resources, None);
    }

    /// Run a Form XObject (or annotation appearance) with `extra` applied before its matrix.
    fn run_form(
        &mut self,
        stream: &Stream<'a>,
        id: Option<ObjRef>,
        parent_resources: Dict<'a>,
        extra: Option<Matrix>,
    ) {
        let limit = self.pdf.budget().limits().max_xobject_depth as usize;
        if self.forms.len() >= limit {
            self.diag(Diagnostic::warning(
                Code::NestingTooDeep,
                format!("Form XObjects nest deeper than {limit}; the rest is skipped"),
            ));
            return;
        }
        if let Some(id) = id
            && self.forms.contains(&id)
        {
            self.diag(Diagnostic::warning(
                Code::ContentMalformed,
                "a Form XObject draws itself; the cycle is cut",
            ));
            return;
        }
        let decoded = match self.pdf.decode_stream(stream) {
            Ok(d) => d,
            Err(e) => {
                let fatal = self.pdf.budget().tripped().is_some();
                self.diag(Diagnostic::error(
                    e.code,
                    format!("a Form XObject could not be decoded: {}", e.message),
                ));
                if fatal {
                    self.stop = Some(e);
                }
                return;
            }
        };
        let resources = self
            .pdf
            .get_dict(stream.dict, b"Resources")
            .unwrap_or(parent_resources);
        let matrix = stream
            .dict
            .get(b"Matrix")
            .and_then(|m| self.pdf.matrix(m))
            .unwrap_or(Matrix::IDENTITY);
        let saved_gs = self.gs.clone();
        let saved_stack = self.stack.len();
        let (saved_tm, saved_tlm) = (self.tm, self.tlm);
        let mut m = matrix;
        if let Some(x) = extra {
            m = m.then(&x);
        }
        self.gs.ctm = m.then(&self.gs.ctm);
        if let Some(id) = id {
            self.forms.push(id);
        } else {
            // Direct (inline) forms cannot form cycles by reference, but still count for depth.
            self.forms.push(ObjRef::new(u32::MAX, 0));
        }
        self.run(&decoded.data, resources);
        self.forms.pop();
        self.stack.truncate(saved_stack);
        self.gs = saved_gs;
        self.tm = saved_tm;
        self.tlm = saved_tlm;
    }

    fn bdc(&mut self, op: &Operation<'_, '_>, resources: Dict<'a>) {
        let tag = match op.operands.first() {
            Some(Operand::Name(n)) => name_bytes(n).into_owned(),
            _ => Vec::new(),
        };
        let props = op.arg_from_end(0);
        let mut mcid = None;
        let mut actual_text = None;
        let mut hidden = false;
        match props {
            Some(d @ Operand::Dict { .. }) => {
                mcid = op
                    .dict_get(d, b"MCID")
                    .and_then(|o| o.as_i64())
                    .and_then(|v| u32::try_from(v).ok());
                actual_text = op
                    .dict_get(d, b"ActualText")
                    .and_then(string_bytes)
                    .map(|b| decode_text_string(&b));
            }
            Some(Operand::Name(n)) => {
                let name = name_bytes(n);
                let prop = self
                    .pdf
                    .get_dict(resources, b"Properties")
                    .and_then(|p| p.get(&name));
                if tag == b"OC" {
                    hidden = self.oc_hidden(prop);
                } else if let Some(d) = prop.and_then(|p| self.pdf.resolve(p).as_dict()) {
                    mcid = self
                        .pdf
                        .get_i64(d, b"MCID")
                        .and_then(|v| u32::try_from(v).ok());
                    actual_text = self
                        .pdf
                        .get_string(d, b"ActualText")
                        .map(decode_text_string);
                }
            }
            _ => {}
        }
        self.begin_marked(mcid, hidden, actual_text);
    }

    /// True when `oc` (an OCG or OCMD reference) is switched off.
    fn oc_hidden(&self, oc: Option<Object<'a>>) -> bool {
        let Some(oc) = oc else { return false };
        if self.ocg_off.is_empty() {
            return false;
        }
        if let Some(r) = oc.as_ref()
            && self.ocg_off.contains(&r)
        {
            return true;
        }
        // An OCMD: hidden when every listed group is off (the default /AnyOn policy).
        let Some(d) = self.pdf.resolve(oc).as_dict() else {
            return false;
        };
        if !d.is_type(b"Type", b"OCMD") {
            return false;
        }
        let groups: Vec<ObjRef> = match d.get(b"OCGs") {
            Some(Object::Ref(r)) => vec![r],
            Some(o) => self
                .pdf
                .resolve(o)
                .as_array()
                .map_or_else(Vec::new, |a| a.iter().filter_map(|x| x.as_ref()).collect()),
            None => Vec::new(),
        };
        !groups.is_empty() && groups.iter().all(|g| self.ocg_off.contains(g))
    }

    fn begin_marked(&mut self, mcid: Option<u32>, hidden: bool, actual_text: Option<String>) {
        if self.marked.len() >= MAX_MARKED_DEPTH {
            self.dropped_marks += 1;
            return;
        }
        if hidden {
            self.hidden_depth += 1;
        }
        self.marked.push(Marked {
            mcid,
            actual_text,
            hidden,
            first_char: self.page.chars.len(),
        });
    }

    fn end_marked(&mut self) {
        if self.dropped_marks > 0 {
            self.dropped_marks -= 1;
            return;
        }
        let Some(m) = self.marked.pop() else { return };
        if m.hidden {
            self.hidden_depth = self.hidden_depth.saturating_sub(1);
        }
        let Some(actual) = m.actual_text else { return };
        // Replace the glyphs drawn inside the sequence by the actual text.
        let first = m.first_char.min(self.page.chars.len());
        if first == self.page.chars.len() {
            return;
        }
        let replaced: Vec<TextChar> = self.page.chars.drain(first..).collect();
        let text_start = replaced
            .first()
            .map_or(self.page.text.len(), |c| c.text_start as usize);
        self.page
            .text
            .truncate(text_start.min(self.page.text.len()));
        let mut c = replaced[0].clone();
        for r in &replaced[1..] {
            c.bbox = c.bbox.union(&r.bbox);
            c.advance += r.advance;
        }
        c.flags.insert(CharFlags::ACTUAL_TEXT);
        c.flags.0 &= !CharFlags::UNMAPPED.0;
        self.page.push_char(&actual, c);
    }

    fn annotations(&mut self, page: &PageObject<'a>) {
        let Some(annots) = self.pdf.get_array(page.dict, b"Annots") else {
            return;
        };
        for a in annots.iter().take(10_000) {
            if self.stop.is_some() {
                return;
            }
            let Some(annot) = self.pdf.resolve(*a).as_dict() else {
                continue;
            };
            let flags = self.pdf.get_i64(annot, b"F").unwrap_or(0);
            // Hidden (2) and NoView (32) annotations are not drawn; Popups are drawn by viewers
            // only when opened.
            if flags & (2 | 32) != 0 || annot.is_type(b"Subtype", b"Popup") {
                continue;
            }
            if self.oc_hidden(annot.get(b"OC")) {
                continue;
            }
            let Some(ap) = self.pdf.get_dict(annot, b"AP") else {
                continue;
            };
            let normal = self.pdf.get_in(ap, b"N");
            let appearance = match normal {
                Object::Stream(s) => Some((s, ap.get(b"N").and_then(|o| o.as_ref()))),
                Object::Dict(states) => {
                    let state = self.pdf.get_name(annot, b"AS");
                    state.and_then(|st| {
                        let o = states.get(st)?;
                        Some((self.pdf.resolve(o).as_stream()?, o.as_ref()))
                    })
                }
                _ => None,
            };
            let Some((stream, id)) = appearance else {
                continue;
            };
            let Some(rect) = annot.get(b"Rect").and_then(|r| self.pdf.rect(r)) else {
                continue;
            };
            let bbox = stream
                .dict
                .get(b"BBox")
                .and_then(|b| self.pdf.rect(b))
                .unwrap_or(rect);
            let form_matrix = stream
                .dict
                .get(b"Matrix")
                .and_then(|m| self.pdf.matrix(m))
                .unwrap_or(Matrix::IDENTITY);
            // ISO 32000 §12.5.5: map the transformed appearance box onto the annotation rect.
            let corners = [
                (bbox[0], bbox[1]),
                (bbox[2], bbox[1]),
                (bbox[0], bbox[3]),
                (bbox[2], bbox[3]),
            ];
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for (x, y) in corners {
                let (tx, ty) = form_matrix.apply(x, y);
                x0 = x0.min(tx);
                y0 = y0.min(ty);
                x1 = x1.max(tx);
                y1 = y1.max(ty);
            }
            let (w, h) = (x1 - x0, y1 - y0);
            if !(w > 0.0 && h > 0.0) {
                continue;
            }
            let sx = (rect[2] - rect[0]) / w;
            let sy = (rect[3] - rect[1]) / h;
            let a_matrix = Matrix::new(1.0, 0.0, 0.0, 1.0, -x0, -y0)
                .then(&Matrix::new(sx, 0.0, 0.0, sy, rect[0], rect[1]));
            let saved_flags = self.flags;
            self.flags.insert(CharFlags::ANNOTATION);
            let saved_gs = std::mem::take(&mut self.gs);
            self.run_form(stream, id, page.resources, Some(a_matrix));
            self.gs = saved_gs;
            self.flags = saved_flags;
        }
    }
}
