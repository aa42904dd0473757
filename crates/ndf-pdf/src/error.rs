use ndf_model::Code;

/// An error of the PDF layer: a stable [`Code`] and a message that never contains document text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct PdfError {
    /// Stable code.
    pub code: Code,
    /// Human-readable detail.
    pub message: String,
}

impl PdfError {
    /// An error with a code and a message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Result alias of the PDF layer.
pub type Result<T, E = PdfError> = std::result::Result<T, E>;
