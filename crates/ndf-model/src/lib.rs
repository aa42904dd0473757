//! NeuralDocFlow's shared vocabulary.
//!
//! Everything the other crates agree on lives here and nowhere else:
//! - [`Code`]: the stable error and diagnostic codes (the strings are API; never rename one),
//! - [`Limits`]: every resource bound of the engine with its safe default,
//! - [`TextPage`] / [`TextChar`]: positioned characters, the hand-off from text interpretation
//!   (`ndf-text`) to layout (`ndf-layout`),
//! - [`Document`] and its children: the versioned output model serialised as JSON.
//!
//! With the `schema` feature, [`document_schema`] returns the JSON Schema of [`Document`].
//!
//! This crate does no IO, no async and no parsing.

mod chars;
mod code;
mod document;
mod geometry;
mod limits;
#[cfg(feature = "schema")]
mod schema;

pub use chars::{CharFlags, FontInfo, TextChar, TextPage};
pub use code::{Code, Diagnostic, Severity};
pub use document::{
    Block, BlockRole, Document, Line, Metadata, Page, SCHEMA_VERSION, Span, WritingDirection,
};
pub use geometry::{Matrix, Rect};
pub use limits::Limits;
#[cfg(feature = "schema")]
pub use schema::{SCHEMA_ID, document_schema, document_schema_json};
