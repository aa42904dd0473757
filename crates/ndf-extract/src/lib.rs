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
    /// Extract the pages of a document of at least [`PARALLEL_MIN_PAGES`] pages on two
    /// threads: a helper thread opens the document a second time and takes pages ahead of the
    /// one asked for. Output is identical either way. Off by default: a process that already
    /// runs one document per core (the service's worker pool, a parallel batch) would only
    /// oversubscribe them.
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

/// Fewest selected pages for which [`Options::parallel_pages`] starts a helper thread. Two: on
/// the dev corpus, starting at two pages gave the shortest batch (0.60 s against 0.65 s when
/// starting at eight) for the same CPU time; opening a document a second time costs little
/// next to a page.
pub const PARALLEL_MIN_PAGES: usize = 2;

/// Pages the helper thread may finish ahead of the one asked for: the pages held in memory
/// beyond the running-text window.
const PARALLEL_LOOKAHEAD: usize = 8;

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
    worker: Worker,
    options: &'a Options,
    metadata: Metadata,
    selected: Vec<usize>,
    next: usize,
    marker: Option<RunningTextMarker>,
    ready: std::collections::VecDeque<Page>,
    diagnostics: Vec<Diagnostic>,
    timings: std::collections::VecDeque<(u32, PageTimings)>,
    /// The pages shared with the helper thread, when one runs.
    helper: Option<std::sync::Arc<Shared>>,
}

/// What one thread keeps between the pages it extracts: the font cache and page buffers.
#[derive(Default)]
struct Worker {
    fonts: FontCache,
    /// Laid-out pages' character buffers, reused by the next pages (warm memory, no regrowth).
    spare_pages: Vec<ndf_model::TextPage>,
}

/// Spare page buffers kept per thread.
const MAX_SPARE_PAGES: usize = 2;
/// A page buffer holding more characters than this is freed rather than kept (a giant page
/// must not pin its memory for the rest of the document).
const MAX_SPARE_CHARS: usize = 1 << 16;

impl Worker {
    /// Interpret page `index` of `pdf` and lay it out. A panic fails that page alone.
    fn extract_page(&mut self, pdf: &Pdf<'_>, options: &Options, index: usize) -> Extracted {
        let number = index as u32 + 1;
        let started_unix_nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut timings = PageTimings {
            started_unix_nanos,
            ..PageTimings::default()
        };
        if let Some(e) = pdf.budget().tripped() {
            // A document-wide limit was crossed on an earlier page: the rest are empty.
            return (failed_page(number, e.code, &e.message), timings);
        }
        let page_options = PageOptions {
            annotations: options.annotations,
        };
        let spare = self.spare_pages.pop().unwrap_or_default();
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
            return (engine_failed_page(number), timings);
        };
        let started = std::time::Instant::now();
        let page = catch_unwind(AssertUnwindSafe(|| {
            ndf_layout::layout_page(&text_page, &options.layout)
        }))
        .unwrap_or_else(|_| engine_failed_page(number));
        timings.layout = started.elapsed();
        if self.spare_pages.len() < MAX_SPARE_PAGES && text_page.chars.capacity() <= MAX_SPARE_CHARS
        {
            self.spare_pages.push(text_page);
        }
        (page, timings)
    }
}

/// A laid-out page and where its time went.
type Extracted = (Page, PageTimings);

/// The pages of one document between the consumer's thread and the helper thread. Either
/// thread claims the next page not yet claimed, never more than [`PARALLEL_LOOKAHEAD`] ahead
/// of the page the consumer waits for, so finished pages held here stay bounded.
#[derive(Default)]
struct Shared {
    state: std::sync::Mutex<SharedState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct SharedState {
    /// Position (in the selected pages) of the next page nobody has claimed.
    next_claim: usize,
    /// Position of the page the consumer asks for now.
    wanted: usize,
    /// Pages the helper finished, by position.
    finished: std::collections::BTreeMap<usize, Extracted>,
    /// Document-level diagnostics the helper's own opening of the document found while
    /// extracting pages.
    diagnostics: Vec<Diagnostic>,
    /// The consumer is done: the helper stops after its current page.
    stop: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, SharedState> {
        // A panic while holding the lock cannot leave the state half-changed (each critical
        // section is a few plain assignments), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn wait<'g>(
        &self,
        guard: std::sync::MutexGuard<'g, SharedState>,
    ) -> std::sync::MutexGuard<'g, SharedState> {
        self.changed
            .wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// [`Shared::wait`] for at most `timeout`; `true` when it ran out.
    fn wait_timeout<'g>(
        &self,
        guard: std::sync::MutexGuard<'g, SharedState>,
        timeout: std::time::Duration,
    ) -> (std::sync::MutexGuard<'g, SharedState>, bool) {
        match self.changed.wait_timeout(guard, timeout) {
            Ok((guard, result)) => (guard, result.timed_out()),
            Err(poisoned) => {
                let (guard, result) = poisoned.into_inner();
                (guard, result.timed_out())
            }
        }
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// The helper thread: open the document again (sharing the budget's account) and extract
/// pages the consumer has not reached yet, until none are left or the consumer stops.
fn helper_thread(
    data: &[u8],
    options: &Options,
    selected: &[usize],
    budget: ndf_pdf::Budget,
    shared: &Shared,
) {
    let arena = Bump::new();
    let opened = catch_unwind(AssertUnwindSafe(|| {
        Pdf::open_with_budget(data, &arena, &open_options(options), budget)
    }));
    // Without a second opening the consumer's thread simply does every page itself.
    let Ok(Ok(pdf)) = opened else { return };
    // What opening reported, the first opening reported too.
    let mut diagnostics_seen = pdf.diagnostic_count();
    let mut worker = Worker::default();
    loop {
        let position = {
            let mut state = shared.lock();
            loop {
                if state.stop || state.next_claim >= selected.len() {
                    return;
                }
                if state.next_claim < state.wanted.saturating_add(PARALLEL_LOOKAHEAD) {
                    break;
                }
                state = shared.wait(state);
            }
            state.next_claim += 1;
            state.next_claim - 1
        };
        let Some(&index) = selected.get(position) else {
            return;
        };
        let extracted = worker.extract_page(&pdf, options, index);
        let found = pdf.diagnostics_since(diagnostics_seen);
        diagnostics_seen += found.len();
        let mut state = shared.lock();
        // Unless the consumer took this page over and has moved past it.
        if position >= state.wanted {
            state.finished.insert(position, extracted);
        }
        for d in found {
            if state.diagnostics.len() < MAX_HELPER_DIAGNOSTICS && !state.diagnostics.contains(&d) {
                state.diagnostics.push(d);
            }
        }
        drop(state);
        shared.changed.notify_all();
    }
}

/// Document-level diagnostics taken over from the helper thread's opening, at most.
const MAX_HELPER_DIAGNOSTICS: usize = 256;

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
        if !(options.parallel_pages && ex.selected.len() >= PARALLEL_MIN_PAGES) {
            return Ok(f(&mut ex));
        }
        let shared = std::sync::Arc::new(Shared::default());
        let budget = ex.pdf.budget().sibling();
        let selected = ex.selected.clone();
        Ok(std::thread::scope(|scope| {
            let helper_shared = std::sync::Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name("ndf-pages".into())
                .spawn_scoped(scope, move || {
                    // Pages are caught one by one inside; this catches the rest, so the scope
                    // never re-raises a helper's panic. A page the helper held is then taken
                    // over by the consumer after its short wait.
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        helper_thread(data, options, &selected, budget, &helper_shared);
                    }));
                });
            // Without a thread (the system refused one) this thread does every page.
            if spawned.is_ok() {
                ex.helper = Some(std::sync::Arc::clone(&shared));
            }
            let result = f(&mut ex);
            // The helper ends after the page it is on, before the scope joins it.
            shared.stop();
            result
        }))
    }

    fn open(
        data: &'a [u8],
        arena: &'a Bump,
        options: &'a Options,
    ) -> Result<Extraction<'a>, ExtractError> {
        let pdf = Pdf::open(data, arena, &open_options(options))?;
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
            worker: Worker::default(),
            options,
            metadata,
            selected,
            next: 0,
            marker: (window > 0).then(|| RunningTextMarker::new(window)),
            ready: std::collections::VecDeque::new(),
            diagnostics: Vec::new(),
            timings: std::collections::VecDeque::new(),
            helper: None,
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
        if let Some(shared) = &self.helper {
            // Problems the helper's opening met on its pages, unless this one met them too.
            for found in &shared.lock().diagnostics {
                if !d.contains(found) {
                    d.push(found.clone());
                }
            }
        }
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
            let Some((page, timings)) = self.next_extracted() else {
                // Flush what the running-text marker still holds.
                if let Some(marker) = self.marker.take() {
                    self.ready.extend(marker.finish());
                    continue;
                }
                return None;
            };
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

    /// The next selected page, extracted here or taken from the helper thread.
    fn next_extracted(&mut self) -> Option<Extracted> {
        let position = self.next;
        let &index = self.selected.get(position)?;
        self.next += 1;
        let Some(shared) = self.helper.clone() else {
            return Some(self.worker.extract_page(&self.pdf, self.options, index));
        };
        let mut state = shared.lock();
        state.wanted = position;
        // Pages this thread took over from the helper (below) may have come in late: drop them.
        while let Some(entry) = state.finished.first_entry()
            && *entry.key() < position
        {
            entry.remove();
        }
        // The helper may claim further now.
        shared.changed.notify_all();
        loop {
            if let Some(done) = state.finished.remove(&position) {
                return Some(done);
            }
            let claim = state.next_claim;
            if claim < self.selected.len() && claim < position.saturating_add(PARALLEL_LOOKAHEAD) {
                // Rather than wait, take the next unclaimed page (the wanted one if nobody has).
                state.next_claim += 1;
                drop(state);
                let claimed = self.selected.get(claim).copied().unwrap_or(index);
                let done = self.worker.extract_page(&self.pdf, self.options, claimed);
                if claim == position {
                    return Some(done);
                }
                state = shared.lock();
                state.finished.insert(claim, done);
                continue;
            }
            // The wanted page is the helper's and there is nothing else to do: wait for it, but
            // not long. On a busy machine the helper may get no CPU for a while; then extracting
            // the page here as well beats waiting (the helper's copy is dropped).
            let (guard, timed_out) = shared.wait_timeout(state, TAKEOVER_WAIT);
            state = guard;
            if timed_out && !state.finished.contains_key(&position) {
                drop(state);
                return Some(self.worker.extract_page(&self.pdf, self.options, index));
            }
        }
    }
}

/// How long the consumer waits for a page the helper is on before extracting it itself.
const TAKEOVER_WAIT: std::time::Duration = std::time::Duration::from_millis(5);

/// How the document is opened for `options` (by the consumer's thread and the helper's).
fn open_options(options: &Options) -> OpenOptions {
    OpenOptions {
        limits: options.limits.clone(),
        password: options.password.clone(),
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
