//! [`OneError`]: what can go wrong talking to OpenNebula, and how each
//! case maps to the provider contract's [`ProviderError`].

use crate::provider::ProviderError;

/// OpenNebula's error codes, the third value of a failed call's answer
/// (XML-RPC API reference, "common structure" of responses).
pub mod code {
    pub const AUTHENTICATION: i64 = 0x0100;
    pub const AUTHORIZATION: i64 = 0x0200;
    pub const NO_EXISTS: i64 = 0x0400;
    pub const ACTION: i64 = 0x0800;
    pub const XML_RPC_API: i64 = 0x1000;
    pub const INTERNAL: i64 = 0x2000;
    pub const ALLOCATE: i64 = 0x4000;
    pub const LOCKED: i64 = 0x8000;

    /// The code's name, for messages.
    pub fn name(code: i64) -> &'static str {
        match code {
            AUTHENTICATION => "AUTHENTICATION",
            AUTHORIZATION => "AUTHORIZATION",
            NO_EXISTS => "NO_EXISTS",
            ACTION => "ACTION",
            XML_RPC_API => "XML_RPC_API",
            INTERNAL => "INTERNAL",
            ALLOCATE => "ALLOCATE",
            LOCKED => "LOCKED",
            _ => "unknown code",
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OneError {
    /// The credential lacks something or has something unusable.
    #[error("OpenNebula credential {credential}: {message}")]
    Credential { credential: String, message: String },

    /// No answer: refused connection, timeout, reset.
    #[error("cannot reach OpenNebula at {endpoint}: {message}")]
    Transport {
        endpoint: String,
        message: String,
        timeout: bool,
    },

    /// An HTTP status other than 200.
    #[error("OpenNebula at {endpoint} answered HTTP {status}")]
    Http { endpoint: String, status: u16 },

    /// An XML-RPC `<fault>` (the server did not run the method).
    #[error("{method}: XML-RPC fault {code}: {message}")]
    Fault {
        method: String,
        code: i64,
        message: String,
    },

    /// The method ran and failed: `[false, message, code]`.
    #[error("{method}: {message} ({})", code::name(*code))]
    Failure {
        method: String,
        code: i64,
        message: String,
    },

    /// An answer nubo cannot read.
    #[error("malformed answer from OpenNebula{}: {message}", method.as_deref().map(|m| format!(" to {m}")).unwrap_or_default())]
    Malformed {
        method: Option<String>,
        message: String,
    },

    /// The system asks for something this provider cannot express.
    #[error("{0}")]
    Request(String),
}

impl OneError {
    pub(crate) fn malformed(method: &str, message: impl Into<String>) -> Self {
        OneError::Malformed {
            method: Some(method.to_string()),
            message: message.into(),
        }
    }

    /// OpenNebula's error code, for a failed call.
    pub fn code(&self) -> Option<i64> {
        match self {
            OneError::Failure { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.code() == Some(code::NO_EXISTS)
    }
}

/// Whether an OpenNebula message is about a quota: its quota checks answer
/// "... limit of N reached for VMS quota ..." (with an AUTHORIZATION
/// code), so the message decides before the code does.
fn mentions_quota(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("quota") || m.contains("limit")
}

impl From<OneError> for ProviderError {
    fn from(e: OneError) -> Self {
        let text = e.to_string();
        match &e {
            OneError::Transport { .. } => ProviderError::Transient(text),
            OneError::Http { status, .. } => match status {
                401 | 403 => ProviderError::Auth(text),
                408 | 429 | 500..=599 => ProviderError::Transient(text),
                _ => ProviderError::Final(text),
            },
            OneError::Failure { code, message, .. } => {
                if mentions_quota(message) {
                    return ProviderError::Quota(text);
                }
                match *code {
                    code::AUTHENTICATION | code::AUTHORIZATION => ProviderError::Auth(text),
                    code::NO_EXISTS => ProviderError::NotFound(text),
                    // INTERNAL also answers a template that does not parse,
                    // which no retry mends.
                    code::INTERNAL if message.to_ascii_lowercase().contains("parse") => {
                        ProviderError::Final(text)
                    }
                    code::INTERNAL | code::LOCKED => ProviderError::Transient(text),
                    _ => ProviderError::Final(text),
                }
            }
            OneError::Fault { message, .. } if mentions_quota(message) => {
                ProviderError::Quota(text)
            }
            OneError::Fault { .. }
            | OneError::Malformed { .. }
            | OneError::Credential { .. }
            | OneError::Request(_) => ProviderError::Final(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(c: i64, message: &str) -> ProviderError {
        OneError::Failure {
            method: "one.vm.allocate".into(),
            code: c,
            message: message.into(),
        }
        .into()
    }

    #[test]
    fn classification() {
        assert!(matches!(
            failure(
                code::AUTHENTICATION,
                "User couldn't be authenticated, aborting call."
            ),
            ProviderError::Auth(_)
        ));
        assert!(matches!(
            failure(
                code::AUTHORIZATION,
                "User [3] : user [3] limit of 2 reached for VMS quota in user"
            ),
            ProviderError::Quota(_)
        ));
        assert!(matches!(
            failure(code::NO_EXISTS, "Error getting virtual machine [9]."),
            ProviderError::NotFound(_)
        ));
        assert!(matches!(
            failure(code::ACTION, "Wrong state"),
            ProviderError::Final(_)
        ));
        assert!(failure(code::LOCKED, "locked").is_transient());
        assert!(failure(code::INTERNAL, "Error loading from the DB").is_transient());
        assert!(!failure(code::INTERNAL, "Parse error: syntax error").is_transient());
        let transport = OneError::Transport {
            endpoint: "http://127.0.0.1:1/RPC2".into(),
            message: "connection refused".into(),
            timeout: false,
        };
        assert!(ProviderError::from(transport).is_transient());
        for (status, transient) in [(500, true), (503, true), (429, true), (404, false)] {
            let e: ProviderError = OneError::Http {
                endpoint: "e".into(),
                status,
            }
            .into();
            assert_eq!(e.is_transient(), transient, "{status}");
        }
        let e: ProviderError = OneError::Http {
            endpoint: "e".into(),
            status: 401,
        }
        .into();
        assert!(matches!(e, ProviderError::Auth(_)));
        let q = failure(code::AUTHORIZATION, "quota exceeded");
        assert!(!q.is_transient());
    }

    #[test]
    fn messages_name_the_method_and_code() {
        let e = OneError::Failure {
            method: "one.vm.info".into(),
            code: code::NO_EXISTS,
            message: "Error getting virtual machine [9].".into(),
        };
        assert_eq!(
            e.to_string(),
            "one.vm.info: Error getting virtual machine [9]. (NO_EXISTS)"
        );
    }
}
