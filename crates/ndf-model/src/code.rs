use serde::{Deserialize, Serialize};

/// A stable, machine-readable code for every error and diagnostic the engine reports.
///
/// The `snake_case` string of each variant is part of the public API (JSON output, CLI, HTTP
/// problem documents): variants may be added, never renamed or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Code {
    /// The input is not a PDF file (no header and no recoverable PDF structure).
    NotPdf,
    /// The file's structure is damaged beyond repair (no catalog or page tree found).
    Malformed,
    /// The document is encrypted and the given (or empty) password does not open it.
    Encrypted,
    /// The document uses a security handler or cipher this engine does not implement.
    UnsupportedEncryption,
    /// The input file is larger than `Limits::max_file_bytes`.
    FileTooLarge,
    /// The document declares or contains more objects than `Limits::max_objects`.
    TooManyObjects,
    /// Arrays/dictionaries, page tree or Form XObjects nest deeper than allowed.
    NestingTooDeep,
    /// One decoded stream would exceed `Limits::max_stream_bytes`.
    StreamTooLarge,
    /// All decoded streams together would exceed `Limits::max_document_bytes` (bomb guard).
    DocumentTooLarge,
    /// A page's content executes more operators than `Limits::max_operators_per_page`.
    TooManyOperators,
    /// A page produced more characters than `Limits::max_chars_per_page`.
    TooManyChars,
    /// The document has more pages than `Limits::max_pages`.
    TooManyPages,
    /// The per-document deadline (`Limits::deadline_ms`) passed.
    DeadlineExceeded,
    /// A page could not be interpreted; the other pages are still returned.
    PageFailed,
    /// A content stream contained invalid syntax that was skipped.
    ContentMalformed,
    /// A stream's data could not be fully decoded (damaged compressed data); what was decoded is used.
    StreamDamaged,
    /// An object referenced by the document is missing or unreadable.
    ObjectMissing,
    /// The cross-reference data was damaged and rebuilt by scanning the file.
    XrefRepaired,
    /// A font's glyphs could not all be mapped to Unicode.
    FontUnmapped,
    /// A font could not be loaded; its text is extracted with fallbacks.
    FontDamaged,
    /// An argument from the caller is invalid (page range, option value).
    InvalidArgument,
    /// The input could not be read.
    Io,
    /// A bug: the engine failed internally (a caught panic). The input is not necessarily bad.
    Internal,
}

impl Code {
    /// Every code, in declaration order (for documentation and exhaustive tests).
    pub const ALL: &'static [Code] = &[
        Code::NotPdf,
        Code::Malformed,
        Code::Encrypted,
        Code::UnsupportedEncryption,
        Code::FileTooLarge,
        Code::TooManyObjects,
        Code::NestingTooDeep,
        Code::StreamTooLarge,
        Code::DocumentTooLarge,
        Code::TooManyOperators,
        Code::TooManyChars,
        Code::TooManyPages,
        Code::DeadlineExceeded,
        Code::PageFailed,
        Code::ContentMalformed,
        Code::StreamDamaged,
        Code::ObjectMissing,
        Code::XrefRepaired,
        Code::FontUnmapped,
        Code::FontDamaged,
        Code::InvalidArgument,
        Code::Io,
        Code::Internal,
    ];

    /// The stable string form, e.g. `"encrypted"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::NotPdf => "not_pdf",
            Code::Malformed => "malformed",
            Code::Encrypted => "encrypted",
            Code::UnsupportedEncryption => "unsupported_encryption",
            Code::FileTooLarge => "file_too_large",
            Code::TooManyObjects => "too_many_objects",
            Code::NestingTooDeep => "nesting_too_deep",
            Code::StreamTooLarge => "stream_too_large",
            Code::DocumentTooLarge => "document_too_large",
            Code::TooManyOperators => "too_many_operators",
            Code::TooManyChars => "too_many_chars",
            Code::TooManyPages => "too_many_pages",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::PageFailed => "page_failed",
            Code::ContentMalformed => "content_malformed",
            Code::StreamDamaged => "stream_damaged",
            Code::ObjectMissing => "object_missing",
            Code::XrefRepaired => "xref_repaired",
            Code::FontUnmapped => "font_unmapped",
            Code::FontDamaged => "font_damaged",
            Code::InvalidArgument => "invalid_argument",
            Code::Io => "io",
            Code::Internal => "internal",
        }
    }

    /// True for codes that stop work because a configured limit was crossed.
    pub const fn is_limit(self) -> bool {
        matches!(
            self,
            Code::FileTooLarge
                | Code::TooManyObjects
                | Code::NestingTooDeep
                | Code::StreamTooLarge
                | Code::DocumentTooLarge
                | Code::TooManyOperators
                | Code::TooManyChars
                | Code::TooManyPages
                | Code::DeadlineExceeded
        )
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Something was repaired or approximated; the output is still complete.
    Warning,
    /// Part of the output (a page, a stream) is missing.
    Error,
}

/// A problem found while reading a document that did not stop the whole extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// Warning or error.
    pub severity: Severity,
    /// Human-readable explanation. Never contains document text.
    pub message: String,
    /// 1-based page number the diagnostic belongs to, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub page: Option<u32>,
}

impl Diagnostic {
    /// A warning with the given code and message.
    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Warning,
            message: message.into(),
            page: None,
        }
    }

    /// An error with the given code and message.
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            severity: Severity::Error,
            message: message.into(),
            page: None,
        }
    }

    /// The same diagnostic attached to a page.
    #[must_use]
    pub fn on_page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_string_matches_as_str_for_every_code() {
        for code in Code::ALL {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: Code = serde_json::from_str(&json).unwrap();
            assert_eq!(back, *code);
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "duplicate code {code}");
        }
    }
}
