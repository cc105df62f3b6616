//! [`ServeError`]: every way a request fails, and the status code and body
//! the Infrastructure Manager answers with for it.

use axum::http::StatusCode;

use super::negotiate::Format;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// No or unusable Authorization header: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The infrastructure is another user's: 403.
    #[error("Access to this infrastructure not granted.")]
    Forbidden,
    /// A property that this infrastructure does not have (IM: 403).
    #[error("{0}")]
    NotAvailable(String),
    /// No such infrastructure (or VM, or property): 404.
    #[error("{0}")]
    NotFound(String),
    /// A malformed request: bad RADL (each problem at `body:line:column`),
    /// a bad parameter, a body that is not UTF-8: 400.
    #[error("{0}")]
    BadRequest(String),
    /// The infrastructure is busy or in a state that forbids the call: 409.
    #[error("{0}")]
    Conflict(String),
    /// A Content-Type or Accept this server does not speak: 415.
    #[error("{0}")]
    Unsupported(String),
    /// A part of IM's API that nubo does not serve yet: 501.
    #[error("{0}")]
    NotImplemented(String),
    /// Something failed on the server's side: 500.
    #[error("{0}")]
    Internal(String),
}

impl ServeError {
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServeError::Forbidden | ServeError::NotAvailable(_) => StatusCode::FORBIDDEN,
            ServeError::NotFound(_) => StatusCode::NOT_FOUND,
            ServeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ServeError::Conflict(_) => StatusCode::CONFLICT,
            ServeError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ServeError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn unknown_infrastructure() -> ServeError {
        ServeError::NotFound("Invalid infrastructure ID or access not granted.".into())
    }

    /// The answer: `{"message", "code"}` for a JSON client, else the
    /// message as plain text.
    pub fn respond(&self, format: Format) -> axum::response::Response {
        let status = self.status();
        let message = self.to_string();
        match format {
            Format::Json => super::negotiate::json(
                status,
                serde_json::json!({"message": message, "code": status.as_u16()}),
            ),
            Format::Text => super::negotiate::text(status, message),
        }
    }
}

/// An operation's error that is the server's fault, not the request's.
pub fn internal(e: impl std::fmt::Display) -> ServeError {
    ServeError::Internal(e.to_string())
}
