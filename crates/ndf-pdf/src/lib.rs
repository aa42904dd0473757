//! Lenient, lazy, zero-copy PDF syntax.
//!
//! - [`Pdf::open`] reads the header, the trailer and the cross-reference data (tables, streams,
//!   hybrid files, incremental updates with the newest section winning), rebuilds the xref by
//!   scanning when it is missing or wrong, authenticates encrypted files, and walks the page
//!   tree. It does not read page contents, fonts or any other object until asked.
//! - Objects are `Copy` handles borrowing from the input and from an arena the caller owns;
//!   each object is parsed at most once (cached by number).
//! - Every loop over input is bounded; every resource is accounted in a [`Budget`] built from
//!   [`ndf_model::Limits`].
//!
//! No IO: callers pass the file's bytes.

mod budget;
pub mod content;
mod document;
mod error;
pub mod lexer;
pub mod object;
mod page;
mod parser;
mod repair;
mod xref;

pub use budget::Budget;
pub use bumpalo::Bump;
pub use document::{DecodedStream, ObjectIssue, OpenOptions, Pdf};
pub use error::{PdfError, Result};
pub use ndf_filters::Filter;
pub use object::{Dict, Name, ObjRef, Object, Stream};
pub use page::PageObject;
