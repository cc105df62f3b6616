//! [`OstError`]: what can go wrong talking to OpenStack, and how each case
//! maps to the provider contract's [`ProviderError`].

use crate::provider::ProviderError;
use crate::provider::cloud::clip;

/// The OpenStack service a call went to, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Identity,
    Compute,
    Network,
    Image,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Identity => "identity (Keystone)",
            Service::Compute => "compute (Nova)",
            Service::Network => "network (Neutron)",
            Service::Image => "image (Glance)",
        }
    }

    /// The service type in Keystone's catalog.
    pub fn catalog_type(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Compute => "compute",
            Service::Network => "network",
            Service::Image => "image",
        }
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OstError {
    /// The credential lacks something or has something unusable.
    #[error("OpenStack credential {credential}: {message}")]
    Credential { credential: String, message: String },

    /// No answer: refused connection, timeout, reset.
    #[error("cannot reach OpenStack {} at {url}: {message}", service.name())]
    Transport {
        service: Service,
        url: String,
        message: String,
        timeout: bool,
    },

    /// An HTTP status other than 2xx, with the message of the error body.
    #[error("OpenStack {}: {method} {path} answered {status}{}", service.name(), if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        service: Service,
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// An answer nubo cannot read.
    #[error("malformed answer from OpenStack {} to {what}: {message}", service.name())]
    Malformed {
        service: Service,
        what: String,
        message: String,
    },

    /// Keystone's catalog has no endpoint nubo can use.
    #[error("{0}")]
    Catalog(String),

    /// The system asks for something this provider cannot give.
    #[error("{0}")]
    Request(String),
}

impl OstError {
    pub fn status(&self) -> Option<u16> {
        match self {
            OstError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    fn message(&self) -> &str {
        match self {
            OstError::Http { message, .. } => message,
            _ => "",
        }
    }

    /// Whether the error is about a quota or an exhausted limit.
    pub fn is_quota(&self) -> bool {
        matches!(self.status(), Some(403 | 409 | 413)) && mentions_quota(self.message())
    }
}

/// Whether an error message is about a quota: Nova answers "Quota exceeded
/// for instances: ..." (403, or 413 in an `overLimit` body, which also
/// answers rate limiting: the words decide), "Maximum number of ... exceeded",
/// Neutron an `OverQuota` error (409), and an exhausted pool "No more IP
/// addresses available".
pub(super) fn mentions_quota(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("quota")
        || m.contains("maximum number of")
        || m.contains("limit exceeded")
        || m.contains("exceeded the limit")
        || m.contains("no more ip addresses")
}

/// The message of an OpenStack error body: Nova's `{"itemNotFound":
/// {"message": ...}}`, Neutron's `{"NeutronError": {"type", "message"}}`,
/// Keystone's `{"error": {"message": ...}}`, else the text (Glance answers
/// plain text or HTML), cut short. Request bodies are never echoed.
pub fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text) {
        let mut found = Vec::new();
        for (key, v) in &map {
            match v {
                serde_json::Value::Object(inner) => {
                    let message = inner.get("message").and_then(|m| m.as_str());
                    let kind = inner.get("type").and_then(|t| t.as_str());
                    match (kind, message) {
                        (Some(t), Some(m)) => found.push(format!("{t}: {}", plain(m))),
                        (None, Some(m)) => found.push(format!("{key}: {}", plain(m))),
                        _ => {}
                    }
                }
                // Glance's JSON errors carry its HTML page's text:
                // `"No image found with ID 7<br /><br />\n\n\n"`.
                serde_json::Value::String(m) if key == "message" || key == "error" => {
                    found.push(plain(m))
                }
                _ => {}
            }
        }
        if !found.is_empty() {
            return clip(&found.join("; "));
        }
    }
    // Plain text or HTML.
    clip(&plain(&text))
}

/// Text without HTML tags, its blanks squeezed.
fn plain(text: &str) -> String {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                plain.push(' ');
            }
            _ if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl From<OstError> for ProviderError {
    fn from(e: OstError) -> Self {
        let text = e.to_string();
        if e.is_quota() {
            return ProviderError::Quota(text);
        }
        match &e {
            OstError::Transport { .. } => ProviderError::Transient(text),
            OstError::Http {
                service, status, ..
            } => match status {
                401 => ProviderError::Auth(text),
                403 => ProviderError::Auth(text),
                // Keystone refusing a scope or a user is about credentials.
                400 | 404 if *service == Service::Identity => ProviderError::Auth(text),
                404 => ProviderError::NotFound(text),
                // A state conflict (a task in progress): it passes.
                409 => ProviderError::Transient(text),
                // Rate limiting without quota wording.
                413 => ProviderError::Transient(text),
                408 | 429 | 500..=599 => ProviderError::Transient(text),
                _ => ProviderError::Final(text),
            },
            OstError::Malformed { .. }
            | OstError::Credential { .. }
            | OstError::Catalog(_)
            | OstError::Request(_) => ProviderError::Final(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(service: Service, status: u16, body: &str) -> ProviderError {
        OstError::Http {
            service,
            method: "POST".into(),
            path: "/servers".into(),
            status,
            message: error_message(body.as_bytes()),
        }
        .into()
    }

    #[test]
    fn classification() {
        let c = Service::Compute;
        assert!(matches!(
            http(
                c,
                401,
                r#"{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}"#
            ),
            ProviderError::Auth(_)
        ));
        let q = http(
            c,
            403,
            r#"{"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"}}"#,
        );
        assert!(matches!(q, ProviderError::Quota(_)), "{q:?}");
        assert!(!q.is_transient());
        assert!(matches!(
            http(
                c,
                413,
                r#"{"overLimit": {"code": 413, "message": "Maximum number of ports exceeded", "retryAfter": "0"}}"#
            ),
            ProviderError::Quota(_)
        ));
        assert!(http(c, 413, r#"{"overLimit": {"code": 413, "message": "This request was rate-limited.", "retryAfter": "2"}}"#).is_transient());
        assert!(matches!(
            http(
                Service::Network,
                409,
                r#"{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['floatingip'].", "detail": ""}}"#
            ),
            ProviderError::Quota(_)
        ));
        assert!(matches!(
            http(
                c,
                403,
                r#"{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:servers:create to be performed."}}"#
            ),
            ProviderError::Auth(_)
        ));
        assert!(matches!(
            http(
                c,
                404,
                r#"{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}"#
            ),
            ProviderError::NotFound(_)
        ));
        assert!(http(c, 409, r#"{"conflictingRequest": {"code": 409, "message": "Cannot 'os-stop' instance x while it is in task_state powering-off"}}"#).is_transient());
        for s in [500, 502, 503, 504, 429] {
            assert!(
                http(c, s, "<html><body>oops</body></html>").is_transient(),
                "{s}"
            );
        }
        assert!(matches!(
            http(
                c,
                400,
                r#"{"badRequest": {"code": 400, "message": "Invalid flavorRef provided."}}"#
            ),
            ProviderError::Final(_)
        ));
        assert!(matches!(
            http(
                Service::Identity,
                404,
                r#"{"error": {"code": 404, "message": "Could not find project: p."}}"#
            ),
            ProviderError::Auth(_)
        ));
        let t = OstError::Transport {
            service: c,
            url: "http://127.0.0.1:1".into(),
            message: "timed out".into(),
            timeout: true,
        };
        assert!(ProviderError::from(t).is_transient());
    }

    #[test]
    fn messages_from_bodies() {
        assert_eq!(
            error_message(
                br#"{"itemNotFound": {"code": 404, "message": "Flavor 9 could not be found."}}"#
            ),
            "itemNotFound: Flavor 9 could not be found."
        );
        assert_eq!(
            error_message(br#"{"NeutronError": {"type": "SecurityGroupInUse", "message": "Security Group 1 in use.", "detail": ""}}"#),
            "SecurityGroupInUse: Security Group 1 in use."
        );
        assert_eq!(
            error_message(b"<html>\n <head><title>404 Not Found</title></head>\n <body>No image found with ID 7</body></html>"),
            "404 Not Found No image found with ID 7"
        );
        // Real Glance asked for JSON: the HTML page's text as `message`.
        assert_eq!(
            error_message(
                br#"{"message": "No image found with ID 7<br /><br />\n\n\n", "code": "404 Not Found", "title": "Not Found"}"#
            ),
            "No image found with ID 7"
        );
        assert!(error_message("é".repeat(400).as_bytes()).ends_with("..."));
        let e = OstError::Http {
            service: Service::Compute,
            method: "GET".into(),
            path: "/servers/x".into(),
            status: 404,
            message: "itemNotFound: gone".into(),
        };
        assert_eq!(
            e.to_string(),
            "OpenStack compute (Nova): GET /servers/x answered 404: itemNotFound: gone"
        );
    }
}
