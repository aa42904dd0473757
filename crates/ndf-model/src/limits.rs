use serde::{Deserialize, Serialize};

/// Every resource bound the engine enforces. Each has a safe default; crossing one yields a typed
/// error (for the document) or a per-page diagnostic, never a hang or an out-of-memory.
///
/// Only document-wide budgets fail a whole document: `max_file_bytes`, `max_document_bytes`,
/// `deadline_ms`, `max_pages`, and `max_objects` when a repair scan finds more objects than it
/// allows. A limit crossed by one object fails that object alone (it reads as `null`, or loses
/// only its too deeply nested values, with a diagnostic on the document and on the pages that
/// use it); a per-page limit fails that page alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest input file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Most objects a document may have. Cross-reference entries numbered at or above it are
    /// ignored (those objects read as `null`, with a diagnostic); a repair scan that finds more
    /// object headers than this fails the document.
    pub max_objects: u32,
    /// Deepest nesting of arrays and dictionaries inside one object; deeper values read as
    /// `null` (the rest of the object is kept). Also the deepest page tree: deeper branches are
    /// left out.
    pub max_nesting: u32,
    /// Largest decoded size of one stream (and the most memory one object may materialise), in
    /// bytes; over it, that stream or object fails alone.
    pub max_stream_bytes: u64,
    /// Largest total of decoded stream bytes for one document (decompression-bomb guard).
    pub max_document_bytes: u64,
    /// Most content-stream operators executed for one page (Form XObjects included).
    pub max_operators_per_page: u64,
    /// Most characters kept for one page.
    pub max_chars_per_page: u32,
    /// Deepest nesting of Form XObjects (and Type3 glyph procedures).
    pub max_xobject_depth: u32,
    /// Most pages a document may have.
    pub max_pages: u32,
    /// Wall-clock budget for one document, in milliseconds (0 = none).
    pub deadline_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 512 << 20,
            max_objects: 4_000_000,
            max_nesting: 256,
            max_stream_bytes: 64 << 20,
            max_document_bytes: 768 << 20,
            max_operators_per_page: 5_000_000,
            max_chars_per_page: 1_000_000,
            max_xobject_depth: 16,
            max_pages: 100_000,
            deadline_ms: 30_000,
        }
    }
}
