//! Content negotiation as the Infrastructure Manager does it: which body
//! a request carries (by `Content-Type`) and which answer it wants (by
//! `Accept`), and IM's JSON wrapping of answers.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::error::ServeError;

/// How an answer is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain` or `text/uri-list`.
    Text,
    /// `application/json`, wrapped as `{field: value}`.
    Json,
}

/// An endpoint's default answer when the client accepts anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    Text,
    /// JSON only (`state`, `outputs`, `data`).
    JsonOnly,
}

/// Walks `Accept` in order: `application/json` or `application/*` is
/// JSON; `*/*`, `text/*`, `text/plain` or `text/uri-list` is the
/// endpoint's default; no `Accept` is the default; anything else is 415.
pub fn accept(headers: &HeaderMap, default: Default) -> Result<Format, ServeError> {
    let dflt = match default {
        Default::Text => Format::Text,
        Default::JsonOnly => Format::Json,
    };
    let Some(value) = headers.get(header::ACCEPT) else {
        return Ok(dflt);
    };
    let value = value
        .to_str()
        .map_err(|_| ServeError::Unsupported("the Accept header is not ASCII".into()))?;
    if value.trim().is_empty() {
        return Ok(dflt);
    }
    for item in value.split(',') {
        let media = item
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/json" | "application/*" => return Ok(Format::Json),
            "*/*" => return Ok(dflt),
            "text/*" | "text/plain" | "text/uri-list" if default == Default::Text => {
                return Ok(Format::Text);
            }
            _ => {}
        }
    }
    Err(ServeError::Unsupported(format!(
        "Unsupported Accept Media Types: {value}{}",
        if default == Default::JsonOnly {
            " (this resource is JSON only: accept application/json)"
        } else {
            ""
        }
    )))
}

/// What a request body is, by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Radl,
    RadlJson,
    Tosca,
}

/// None, `text/plain`, `text/*`, `*/*`: RADL; `application/json`: RADL
/// JSON; `text/yaml`, `text/x-yaml`, `application/yaml`: TOSCA; anything
/// else is 415.
pub fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ServeError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyKind::Radl);
    };
    let text = value.to_str().unwrap_or("");
    let media = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "" | "text/plain" | "text/*" | "*/*" | "application/x-www-form-urlencoded" => {
            Ok(BodyKind::Radl)
        }
        "application/json" => Ok(BodyKind::RadlJson),
        "text/yaml" | "text/x-yaml" | "application/yaml" => Ok(BodyKind::Tosca),
        _ => Err(ServeError::Unsupported(format!(
            "Unsupported Media Type {text}: send RADL (text/plain or no Content-Type)"
        ))),
    }
}

/// The body as UTF-8 text.
pub fn utf8(body: &[u8]) -> Result<&str, ServeError> {
    std::str::from_utf8(body)
        .map_err(|e| ServeError::BadRequest(format!("the body is not UTF-8 text: {e}")))
}

pub fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

pub fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// A list of URIs: one a line, or `{"uri-list": [{"uri": ...}]}`.
pub fn uri_list(format: Format, uris: &[String]) -> Response {
    match format {
        Format::Text => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/uri-list")],
            uris.join("\n"),
        )
            .into_response(),
        Format::Json => json(
            StatusCode::OK,
            serde_json::json!({"uri-list": uris.iter().map(|u| serde_json::json!({"uri": u})).collect::<Vec<_>>()}),
        ),
    }
}

/// One value: the text itself, or `{field: value}`.
pub fn field(format: Format, name: &str, value: serde_json::Value) -> Response {
    match format {
        Format::Json => json(StatusCode::OK, serde_json::json!({ name: value })),
        Format::Text => text(
            StatusCode::OK,
            match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_is_walked_in_order() {
        assert_eq!(
            accept(&HeaderMap::new(), Default::Text).unwrap(),
            Format::Text
        );
        assert_eq!(
            accept(&with(header::ACCEPT, "text/*"), Default::Text).unwrap(),
            Format::Text
        );
        assert_eq!(
            accept(
                &with(header::ACCEPT, "text/html, application/json;q=0.9"),
                Default::Text
            )
            .unwrap(),
            Format::Json
        );
        assert_eq!(
            accept(&with(header::ACCEPT, "*/*"), Default::JsonOnly).unwrap(),
            Format::Json
        );
        assert!(matches!(
            accept(&with(header::ACCEPT, "text/*"), Default::JsonOnly),
            Err(ServeError::Unsupported(_))
        ));
        assert!(matches!(
            accept(&with(header::ACCEPT, "image/png"), Default::Text),
            Err(ServeError::Unsupported(_))
        ));
    }

    #[test]
    fn body_kinds() {
        assert_eq!(body_kind(&HeaderMap::new()).unwrap(), BodyKind::Radl);
        assert_eq!(
            body_kind(&with(header::CONTENT_TYPE, "text/yaml")).unwrap(),
            BodyKind::Tosca
        );
        assert_eq!(
            body_kind(&with(
                header::CONTENT_TYPE,
                "application/json; charset=utf-8"
            ))
            .unwrap(),
            BodyKind::RadlJson
        );
        assert!(body_kind(&with(header::CONTENT_TYPE, "image/png")).is_err());
    }
}
