//! The extraction facade: PDF bytes in; pages, text, Markdown and metadata out.
//!
//! - [`extract`] returns a whole [`Document`].
//! - [`Extraction`] streams pages one at a time (bounded memory for any page count), for the
//!   CLI and the service.
//! - A page that fails (malformed content, a limit, even a bug that panics) fails alone: it is
//!   returned empty with an error diagnostic and the other pages are still extracted.
//!
//! No IO: callers pass the file's bytes.

mod metadata;
mod pages;

use std::panic::{AssertUnwindSafe, catch_unwind};

pub use ndf_layout::{LayoutOptions, MarkdownRenderer, render_text};
pub use ndf_model::{
    Block, BlockRole, Code, Diagnostic, Document, Limits, Line, Metadata, Page, SCHEMA_VERSION,
    Severity, Span,
};
pub use pages::PageSelection;

use ndf_layout::RunningTextMarker;
use ndf_pdf::{Bump, OpenOptions, Pdf};
use ndf_text::{FontCache, PageOptions};

/// An extraction failure for the whole document: a stable code and a message without document
/// content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ExtractError {
    /// Stable code.
    pub code: Code,
    /// Human-readable detail.
    pub message: String,
}

impl ExtractError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ndf_pdf::PdfError> for ExtractError {
    fn from(e: ndf_pdf::PdfError) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}

/// What to extract and under which limits.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resource limits.
    pub limits: Limits,
    /// Password for encrypted documents (empty: the empty user password).
    pub password: String,
    /// Pages to extract (all when `None`).
    pub pages: Option<PageSelection>,
    /// Layout options.
    pub layout: LayoutOptions,
    /// Include text drawn by annotation appearances (form field values, stamps).
    pub annotations: bool,
    /// How many pages running-header/footer detection looks ahead (the pages held in memory).
    pub running_text_window: usize,
    /// Lay out each page on a second thread while the next page is interpreted, so one
    /// document uses two cores. Off by default: a process that already runs one document per
    /// core (the service's worker pool, a parallel batch) would only oversubscribe them.
    pub parallel_pages: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            password: String::new(),
            pages: None,
            layout: LayoutOptions::default(),
            annotations: true,
            running_text_window: 4,
            parallel_pages: false,
        }
    }
}

/// Extract a whole document.
pub fn extract(data: &[u8], options: &Options) -> Result<Document, ExtractError> {
    Extraction::run(data, options, |ex| {
        let mut pages = Vec::new();
        while let Some(p) = ex.next_page() {
            pages.push(p);
        }
        Document {
            schema_version: SCHEMA_VERSION.to_owned(),
            metadata: ex.metadata().clone(),
            pages,
            diagnostics: ex.diagnostics(),
        }
    })
}

/// A document being extracted page by page.
pub struct Extraction<'a> {
    pdf: Pdf<'a>,
    fonts: FontCache,
    options: &'a Options,
    metadata: Metadata,
    selected: Vec<usize>,
    next: usize,
    marker: Option<RunningTextMarker>,
    ready: std::collections::VecDeque<Page>,
    diagnostics: Vec<Diagnostic>,
    timings: std::collections::VecDeque<(u32, PageTimings)>,
    /// Pages interpreted and not yet handed out, in page order (with the layout thread).
    in_flight: std::collections::VecDeque<InFlight>,
    layout_thread: Option<LayoutThread>,
    /// Laid-out pages' character buffers, reused by the next pages (warm memory, no regrowth).
    spare_pages: Vec<ndf_model::TextPage>,
}

/// Spare page buffers kept: one per page in flight plus the one being interpreted.
const MAX_SPARE_PAGES: usize = PIPELINE_DEPTH + 1;
/// A page buffer holding more characters than this is freed rather than kept (a giant page
/// must not pin its memory for the rest of the document).
const MAX_SPARE_CHARS: usize = 1 << 16;

fn keep_spare(spares: &mut Vec<ndf_model::TextPage>, page: ndf_model::TextPage) {
    if spares.len() < MAX_SPARE_PAGES && page.chars.capacity() <= MAX_SPARE_CHARS {
        spares.push(page);
    }
}

/// Pages sent to the layout thread ahead of the one asked for: one being laid out while the
/// next is interpreted. More buys nothing with one layout thread and holds more pages.
const PIPELINE_DEPTH: usize = 2;

/// A page between interpretation and layout.
enum InFlight {
    /// Already final (failed, or a document-wide limit tripped earlier).
    Done(Page, PageTimings),
    /// Sent to the layout thread, which answers in the order pages were sent.
    Sent(u32, PageTimings),
}

/// The channel ends of the layout thread, which lives inside [`Extraction::run`]'s scope.
struct LayoutThread {
    pages: std::sync::mpsc::Sender<ndf_model::TextPage>,
    laid_out: std::sync::mpsc::Receiver<LaidOut>,
}

/// What the layout thread returns: the page (None: layout failed), the time it took and the
/// page's character buffers for reuse.
type LaidOut = (Option<Page>, std::time::Duration, ndf_model::TextPage);

/// Lays out pages until the sending side hangs up. A panic in layout fails that page alone.
fn layout_thread(
    options: &LayoutOptions,
    pages: &std::sync::mpsc::Receiver<ndf_model::TextPage>,
    laid_out: &std::sync::mpsc::Sender<LaidOut>,
) {
    while let Ok(text_page) = pages.recv() {
        let (page, took) = lay_out(&text_page, options);
        if laid_out.send((page, took, text_page)).is_err() {
            return;
        }
    }
}

/// Lay one page out, timed; a panic in layout fails that page alone (`None`).
fn lay_out(
    text_page: &ndf_model::TextPage,
    options: &LayoutOptions,
) -> (Option<Page>, std::time::Duration) {
    let started = std::time::Instant::now();
    let page = catch_unwind(AssertUnwindSafe(|| {
        ndf_layout::layout_page(text_page, options)
    }))
    .ok();
    (page, started.elapsed())
}

/// Where one page's time went, for the service's traces and stage metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PageTimings {
    /// When work on the page began, in nanoseconds since the Unix epoch.
    pub started_unix_nanos: u64,
    /// Loading fonts the page uses for the first time.
    pub fonts: std::time::Duration,
    /// Interpreting the content stream, font loading excluded.
    pub interpret: std::time::Duration,
    /// Words, lines, blocks and reading order.
    pub layout: std::time::Duration,
}

/// Timings kept for pages not yet asked for; more than the running-text window ever holds back.
const MAX_KEPT_TIMINGS: usize = 256;

impl std::fmt::Debug for Extraction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extraction")
            .field("pages", &self.selected.len())
            .field("next", &self.next)
            .finish()
    }
}

impl<'a> Extraction<'a> {
    /// Open `data` and hand the extraction to `f`. Panics inside the engine while opening are
    /// caught and reported as [`Code::Internal`].
    pub fn run<R>(
        data: &[u8],
        options: &Options,
        f: impl FnOnce(&mut Extraction<'_>) -> R,
    ) -> Result<R, ExtractError> {
        let arena = Bump::new();
        let open = catch_unwind(AssertUnwindSafe(|| Extraction::open(data, &arena, options)));
        let mut ex = match open {
            Ok(r) => r?,
            Err(_) => {
                return Err(ExtractError::new(
                    Code::Internal,
                    "the engine failed while opening the document",
                ));
            }
        };
        if !(options.parallel_pages && ex.selected.len() > 1) {
            return Ok(f(&mut ex));
        }
        let layout = &options.layout;
        Ok(std::thread::scope(|scope| {
            let (page_tx, page_rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("ndf-layout".into())
                .spawn_scoped(scope, move || layout_thread(layout, &page_rx, &done_tx));
            // Without a thread (the system refused one) pages are laid out inline.
            if spawned.is_ok() {
                ex.layout_thread = Some(LayoutThread {
                    pages: page_tx,
                    laid_out: done_rx,
                });
            }
            let result = f(&mut ex);
            // Hang up so the layout thread ends before the scope joins it.
            ex.layout_thread = None;
            result
        }))
    }

    fn open(
        data: &'a [u8],
        arena: &'a Bump,
        options: &'a Options,
    ) -> Result<Extraction<'a>, ExtractError> {
        let pdf = Pdf::open(
            data,
            arena,
            &OpenOptions {
                limits: options.limits.clone(),
                password: options.password.clone(),
            },
        )?;
        let count = pdf.page_count();
        let selected: Vec<usize> = match &options.pages {
            Some(sel) => {
                let pages = sel.resolve(count);
                if pages.is_empty() && count > 0 {
                    return Err(ExtractError::new(
                        Code::InvalidArgument,
                        format!("the page selection matches none of the document's {count} pages"),
                    ));
                }
                pages
            }
            None => (0..count).collect(),
        };
        let metadata = metadata::read(&pdf);
        let window = options.running_text_window;
        Ok(Extraction {
            pdf,
            fonts: FontCache::new(),
            options,
            metadata,
            selected,
            next: 0,
            marker: (window > 0).then(|| RunningTextMarker::new(window)),
            ready: std::collections::VecDeque::new(),
            diagnostics: Vec::new(),
            timings: std::collections::VecDeque::new(),
            in_flight: std::collections::VecDeque::new(),
            layout_thread: None,
            spare_pages: Vec::new(),
        })
    }

    /// Document metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Number of pages that will be returned.
    pub fn selected_count(&self) -> usize {
        self.selected.len()
    }

    /// Document-level diagnostics so far (repairs, suppressed messages, fatal limits).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut d = self.pdf.diagnostics();
        d.extend(self.diagnostics.iter().cloned());
        d
    }

    /// Stage timings of a page already returned by [`Extraction::next_page`] (each page once).
    pub fn take_timings(&mut self, number: u32) -> Option<PageTimings> {
        let at = self.timings.iter().position(|(n, _)| *n == number)?;
        self.timings.remove(at).map(|(_, t)| t)
    }

    /// The next page in order, with its blocks, lines and spans; `None` after the last.
    pub fn next_page(&mut self) -> Option<Page> {
        loop {
            if let Some(p) = self.ready.pop_front() {
                return Some(p);
            }
            // Keep the layout thread fed: interpret ahead while it lays out.
            let depth = if self.layout_thread.is_some() {
                PIPELINE_DEPTH
            } else {
                1
            };
            while self.in_flight.len() < depth
                && let Some(&index) = self.selected.get(self.next)
            {
                self.next += 1;
                let page = self.interpret(index);
                self.in_flight.push_back(page);
            }
            let Some(page) = self.in_flight.pop_front() else {
                // Flush what the running-text marker still holds.
                if let Some(marker) = self.marker.take() {
                    self.ready.extend(marker.finish());
                    continue;
                }
                return None;
            };
            let (page, timings) = self.finish(page);
            if self.timings.len() >= MAX_KEPT_TIMINGS {
                self.timings.pop_front();
            }
            self.timings.push_back((page.number, timings));
            match &mut self.marker {
                Some(marker) => self.ready.extend(marker.push(page)),
                None => self.ready.push_back(page),
            }
        }
    }

    /// The laid-out page of an in-flight one (waiting for the layout thread if need be).
    fn finish(&mut self, page: InFlight) -> (Page, PageTimings) {
        match page {
            InFlight::Done(page, timings) => (page, timings),
            InFlight::Sent(number, mut timings) => {
                let received = self.layout_thread.as_ref().map(|t| t.laid_out.recv());
                match received {
                    Some(Ok((Some(page), took, text_page))) => {
                        keep_spare(&mut self.spare_pages, text_page);
                        timings.layout = took;
                        (page, timings)
                    }
                    Some(Ok((None, _, _))) => (engine_failed_page(number), timings),
                    // The layout thread is gone (it cannot be: it outlives the channel).
                    Some(Err(_)) | None => (
                        failed_page(number, Code::Internal, "the layout thread stopped"),
                        timings,
                    ),
                }
            }
        }
    }

    /// Interpret one page and lay it out, or hand it to the layout thread.
    fn interpret(&mut self, index: usize) -> InFlight {
        let number = index as u32 + 1;
        let started_unix_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut timings = PageTimings {
            started_unix_nanos,
            ..PageTimings::default()
        };
        if let Some(e) = self.pdf.budget().tripped() {
            // A document-wide limit was crossed on an earlier page: the rest are empty.
            return InFlight::Done(failed_page(number, e.code, &e.message), timings);
        }
        let page_options = PageOptions {
            annotations: self.options.annotations,
        };
        let spare = self.spare_pages.pop().unwrap_or_default();
        let pdf = &self.pdf;
        let fonts = &mut self.fonts;
        let fonts_before = fonts.load_time();
        let interpreted = catch_unwind(AssertUnwindSafe(|| {
            let started = std::time::Instant::now();
            let text_page = ndf_text::extract_page_reusing(pdf, index, fonts, &page_options, spare);
            timings.fonts = fonts.load_time().saturating_sub(fonts_before);
            timings.interpret = started.elapsed().saturating_sub(timings.fonts);
            text_page
        }));
        let Ok(text_page) = interpreted else {
            // The font cache may hold a half-built entry; start it afresh.
            self.fonts = FontCache::new();
            return InFlight::Done(engine_failed_page(number), timings);
        };
        let text_page = match &self.layout_thread {
            Some(thread) => match thread.pages.send(text_page) {
                Ok(()) => return InFlight::Sent(number, timings),
                // The thread is gone: lay the page out here.
                Err(std::sync::mpsc::SendError(text_page)) => text_page,
            },
            None => text_page,
        };
        let (page, took) = lay_out(&text_page, &self.options.layout);
        timings.layout = took;
        let page = page.unwrap_or_else(|| engine_failed_page(number));
        keep_spare(&mut self.spare_pages, text_page);
        InFlight::Done(page, timings)
    }
}

/// A page whose interpretation or layout panicked.
fn engine_failed_page(number: u32) -> Page {
    failed_page(
        number,
        Code::Internal,
        "the engine failed on this page; the other pages are unaffected",
    )
}

fn failed_page(number: u32, code: Code, message: &str) -> Page {
    Page {
        number,
        width: 0.0,
        height: 0.0,
        rotation: 0,
        blocks: Vec::new(),
        diagnostics: vec![Diagnostic::error(code, message).on_page(number)],
    }
}

/// Plain text of a whole document: pages in order, each followed by a form feed.
pub fn document_text(doc: &Document) -> String {
    let mut out = String::new();
    for p in &doc.pages {
        render_text(p, &mut out);
    }
    out
}

/// Markdown of a whole document.
pub fn document_markdown(doc: &Document) -> String {
    let mut out = String::new();
    let mut r = MarkdownRenderer::new();
    for p in &doc.pages {
        r.render_page(p, &mut out);
    }
    out
}
