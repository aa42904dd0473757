//! The output model: what `ndf extract --format json` prints, described by
//! `schema/document.schema.json` and docs/output-format.md.

use serde::{Deserialize, Serialize};

use crate::{Diagnostic, Rect};

/// Version of the JSON output schema. Bump the minor for additive changes, the major for
/// anything that can break a reader.
pub const SCHEMA_VERSION: &str = "1.0";

/// One extracted document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Document {
    /// [`SCHEMA_VERSION`] of the producer.
    pub schema_version: String,
    /// Document-level metadata.
    pub metadata: Metadata,
    /// Extracted pages, in page order (only the requested ones).
    pub pages: Vec<Page>,
    /// Document-level diagnostics (per-page ones sit on their page).
    pub diagnostics: Vec<Diagnostic>,
}

/// Document metadata from the trailer, the Info dictionary and XMP.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Metadata {
    /// Number of pages in the document (not only the extracted ones).
    pub page_count: u32,
    /// PDF version from the header, or the catalog's `/Version` when newer, e.g. `"1.7"`.
    pub pdf_version: String,
    /// Title (XMP `dc:title` wins over Info `/Title`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    /// Author (XMP `dc:creator` or Info `/Author`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author: Option<String>,
    /// Subject.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub subject: Option<String>,
    /// Keywords.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub keywords: Option<String>,
    /// The application that created the original document.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub creator: Option<String>,
    /// The application that produced the PDF.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub producer: Option<String>,
    /// Creation date, RFC 3339 (e.g. `2021-03-04T10:20:30+01:00`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created: Option<String>,
    /// Modification date, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub modified: Option<String>,
    /// Natural language of the document (catalog `/Lang`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub language: Option<String>,
    /// The document is encrypted (it may still have opened with the empty password).
    pub encrypted: bool,
    /// Cipher, e.g. `"RC4-40"`, `"RC4-128"`, `"AES-128"`, `"AES-256"`, when encrypted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub encryption: Option<String>,
    /// The catalog declares a structure tree (`/MarkInfo /Marked true` or `/StructTreeRoot`).
    pub tagged: bool,
    /// The file is linearized ("fast web view").
    pub linearized: bool,
}

/// One page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Page {
    /// 1-based page number.
    pub number: u32,
    /// Visible width in points (crop box, after rotation).
    pub width: f32,
    /// Visible height in points (crop box, after rotation).
    pub height: f32,
    /// The page's rotation in degrees: 0, 90, 180 or 270.
    #[cfg_attr(feature = "schema", schemars(extend("enum" = [0, 90, 180, 270])))]
    pub rotation: u16,
    /// Text blocks in reading order.
    pub blocks: Vec<Block>,
    /// Problems met on this page; an error here means the page is incomplete or empty.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub diagnostics: Vec<Diagnostic>,
}

/// What a block is on its page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BlockRole {
    /// Ordinary page content.
    #[default]
    Body,
    /// A running header: repeated near the top of several pages.
    Header,
    /// A running footer: repeated near the bottom of several pages (page numbers included).
    Footer,
}

/// Direction of a line's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum WritingDirection {
    /// Horizontal, left to right.
    #[default]
    Ltr,
    /// Horizontal, right to left (Arabic, Hebrew).
    Rtl,
    /// Vertical, top to bottom (CJK vertical writing).
    Ttb,
}

/// A block: a paragraph-like group of lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Block {
    /// Bounding box.
    pub bbox: Rect,
    /// Body, running header or running footer.
    pub role: BlockRole,
    /// Lines in reading order.
    pub lines: Vec<Line>,
}

/// A line of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Line {
    /// Bounding box.
    pub bbox: Rect,
    /// Writing direction.
    pub dir: WritingDirection,
    /// Rotation of the baseline in degrees, counter-clockwise (0 for ordinary text).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub angle: f32,
    /// The line ends with a hyphen that joins the word continued on the next line; the plain
    /// text and Markdown renderings remove it.
    #[serde(skip_serializing_if = "is_false", default)]
    pub hyphenated: bool,
    /// Runs of uniform font.
    pub spans: Vec<Span>,
}

/// A run of characters sharing font, size and flags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Span {
    /// Bounding box.
    pub bbox: Rect,
    /// Text, including spaces between words.
    pub text: String,
    /// Font name without subset prefix.
    pub font: String,
    /// Font size in points.
    pub size: f32,
    /// Bold.
    #[serde(skip_serializing_if = "is_false", default)]
    pub bold: bool,
    /// Italic.
    #[serde(skip_serializing_if = "is_false", default)]
    pub italic: bool,
    /// Fixed pitch.
    #[serde(skip_serializing_if = "is_false", default)]
    pub monospace: bool,
    /// Invisible text (rendering mode 3, e.g. an OCR layer): present in the output, not drawn.
    #[serde(skip_serializing_if = "is_false", default)]
    pub invisible: bool,
    /// Drawn by an annotation (form field value, stamp, free-text note).
    #[serde(skip_serializing_if = "is_false", default)]
    pub annotation: bool,
    /// Marked-content id linking the span to the structure tree.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mcid: Option<u32>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}
