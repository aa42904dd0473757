//! Fonts and text interpretation.
//!
//! [`extract_page`] runs a page's content streams, Form XObjects and annotation appearances
//! through the PDF text and graphics state and returns every glyph as a positioned Unicode
//! character ([`ndf_model::TextPage`]), in content order. Fonts are loaded once per document
//! into a [`FontCache`].
//!
//! No IO; all limits come from the document's budget.

mod font;
mod interp;
mod text_string;

pub use interp::{FontCache, PageOptions, extract_page, extract_page_reusing};
pub use text_string::decode_text_string;
