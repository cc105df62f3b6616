//! The `Authorization` header as the Infrastructure Manager reads it: who
//! calls (the IM credentials) and with which clouds (the other lines).
//!
//! Forms: `Basic b64(user:pass)`, `Bearer TOKEN`, or IM auth lines
//! separated by the two characters `\n` (the three characters `\\n` are a
//! newline inside a value), each `key = value; ...` with the trailing `;`
//! and no space that ec3 and im_client send, or the JSON list form. A
//! `type = InfrastructureManager` line with `username` and `password` (or
//! `token`) is required. The lines are read by [`crate::auth::parse`], as
//! an auth file is; `file(...)` values are refused (a client must not make
//! the server read its files). No message quotes a value.

use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::ServeError;
use crate::auth::{self, AuthFile, Credential, ProviderKind};

/// Who calls: a digest of the IM credentials (never the credentials
/// themselves), compared to an infrastructure's owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner(pub String);

/// A request's caller and the cloud credentials it brought.
#[derive(Debug)]
pub struct Caller {
    pub owner: Owner,
    /// The IM user name (`token` for a token), for `authorization`.
    pub name: String,
    /// The auth lines other than the IM's own, as an auth file would hold
    /// them (none with Basic or Bearer).
    pub clouds: AuthFile,
}

fn digest(parts: &[&str]) -> Owner {
    let mut h = Sha256::new();
    h.update(b"nubo-im-owner");
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    let out = h.finalize();
    Owner(out.iter().map(|b| format!("{b:02x}")).collect())
}

fn unauthorized(m: impl Into<String>) -> ServeError {
    ServeError::Unauthorized(m.into())
}

/// Reads the header's value (`None`: no header).
pub fn caller(header: Option<&str>) -> Result<Caller, ServeError> {
    let Some(value) = header.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(unauthorized("No authentication data provided"));
    };
    if let Some(b64) = value.strip_prefix("Basic ") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| unauthorized("Basic authorization is not valid base64"))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| unauthorized("Basic authorization is not UTF-8"))?;
        let (user, pass) = text
            .split_once(':')
            .ok_or_else(|| unauthorized("Basic authorization must be `username:password`"))?;
        return Ok(Caller {
            owner: digest(&["user", user, pass]),
            name: user.to_string(),
            clouds: AuthFile::default(),
        });
    }
    if let Some(token) = value.strip_prefix("Bearer ") {
        let token = token.trim();
        if token.is_empty() {
            return Err(unauthorized("the Bearer token is empty"));
        }
        return Ok(Caller {
            owner: digest(&["token", token]),
            name: "token".into(),
            clouds: AuthFile::default(),
        });
    }
    let text = lines(value);
    if text.contains("file(") {
        return Err(unauthorized(
            "file(...) values are not accepted in the Authorization header: put the value itself",
        ));
    }
    let parsed = auth::parse(
        "Authorization header",
        &text,
        std::path::Path::new("/nonexistent"),
    )
    .map_err(|errors| {
        unauthorized(
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    let im = parsed
        .of_kind(ProviderKind::InfrastructureManager)
        .next()
        .ok_or_else(|| {
            unauthorized(
                "No credentials provided for the InfrastructureManager: add a line `type = InfrastructureManager; username = ...; password = ...`",
            )
        })?;
    let (owner, name) = owner_of(im)?;
    let clouds = AuthFile {
        entries: parsed
            .entries
            .into_iter()
            .filter(|c| {
                !matches!(
                    c.kind,
                    ProviderKind::InfrastructureManager | ProviderKind::VMRC
                )
            })
            .collect(),
    };
    Ok(Caller {
        owner,
        name,
        clouds,
    })
}

fn owner_of(im: &Credential) -> Result<(Owner, String), ServeError> {
    if let Some(token) = im.nonblank("token") {
        return Ok((digest(&["token", token]), "token".into()));
    }
    match (im.value("username"), im.value("password")) {
        (Some(u), Some(p)) if !u.trim().is_empty() => {
            Ok((digest(&["user", u.trim(), p]), u.trim().to_string()))
        }
        _ => Err(unauthorized(format!(
            "the InfrastructureManager credential ({}) needs `username` and `password`, or `token`",
            im.describe()
        ))),
    }
}

/// The new owner a `POST .../authorization` body names: the JSON of one
/// IM auth line (`{"username", "password"}` or `{"token"}`, as im_client
/// sends it), and its user name.
pub fn grant_of(body: &str) -> Result<(Owner, String), ServeError> {
    let bad = |why: &str| {
        ServeError::BadRequest(format!(
            "Invalid new infrastructure data provided: {why}: send {{\"username\": ..., \"password\": ...}} or {{\"token\": ...}}"
        ))
    };
    let v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| bad(&format!("not JSON ({e})")))?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let text = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::trim);
    if let Some(t) = obj.get("type").and_then(|x| x.as_str())
        && t != "InfrastructureManager"
    {
        return Err(bad(&format!("its type is {t}, not InfrastructureManager")));
    }
    if let Some(token) = text("token").filter(|t| !t.is_empty()) {
        return Ok((digest(&["token", token]), "token".into()));
    }
    match (
        text("username"),
        obj.get("password").and_then(|x| x.as_str()),
    ) {
        (Some(u), Some(p)) if !u.is_empty() => Ok((digest(&["user", u, p]), u.to_string())),
        _ => Err(bad("no username and password, nor token")),
    }
}

/// The header's auth lines as an auth file's text: split at the two
/// characters `\n`; the three characters `\\n` stay a newline inside a
/// value (the auth file's own escape, `\n`).
fn lines(value: &str) -> String {
    const KEEP: &str = "\u{1}";
    let protected = value.replace("\\\\n", KEEP);
    protected
        .split("\\n")
        .map(|l| l.replace(KEEP, "\\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(h: Option<&str>) -> String {
        match caller(h) {
            Err(ServeError::Unauthorized(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ec3_and_im_client_lines() {
        let h = "type = InfrastructureManager;username = u;password = p;\\nid = d;type = Dummy;\\n";
        let c = caller(Some(h)).unwrap();
        assert_eq!(c.clouds.entries.len(), 1);
        assert_eq!(c.clouds.entries[0].kind, ProviderKind::Dummy);
        let other = caller(Some(
            "type = InfrastructureManager; username = u; password = q\\nid = d; type = Dummy",
        ))
        .unwrap();
        assert_ne!(c.owner, other.owner);
        let same = caller(Some(
            "type = InfrastructureManager; username = u; password = p",
        ))
        .unwrap();
        assert_eq!(c.owner, same.owner);
        assert!(!format!("{c:?}").contains("password = p"));
    }

    #[test]
    fn escaped_newline_stays_in_a_value() {
        let h = "type = InfrastructureManager; username = u; password = p\\nid = o; type = OpenNebula; host = h:2633; username = a; password = x\\\\ny";
        let c = caller(Some(h)).unwrap();
        assert_eq!(c.clouds.entries[0].value("password"), Some("x\ny"));
    }

    #[test]
    fn json_basic_and_bearer() {
        let j = caller(Some(
            r#"[{"type": "InfrastructureManager", "username": "u", "password": "p"}, {"id": "d", "type": "Dummy"}]"#,
        ))
        .unwrap();
        let l = caller(Some(
            "type = InfrastructureManager; username = u; password = p",
        ))
        .unwrap();
        assert_eq!(j.owner, l.owner);
        assert_eq!(j.clouds.entries.len(), 1);
        let b = caller(Some("Basic dTpw")).unwrap(); // u:p
        assert_eq!(b.owner, l.owner);
        let t = caller(Some("Bearer abc")).unwrap();
        assert_ne!(t.owner, l.owner);
    }

    #[test]
    fn refusals_are_clear() {
        assert_eq!(err(None), "No authentication data provided");
        assert!(
            err(Some("id = d; type = Dummy"))
                .starts_with("No credentials provided for the InfrastructureManager")
        );
        assert!(
            err(Some("type = InfrastructureManager; username = u"))
                .contains("needs `username` and `password`")
        );
        let m = err(Some(
            "type = InfrastructureManager; username = u; password = p\\nid = d; type Dummy",
        ));
        assert!(m.starts_with("Authorization header:2:"), "{m}");
        assert!(
            err(Some(
                "type = InfrastructureManager; username = u; password = file(/etc/shadow)"
            ))
            .contains("file(...)")
        );
        assert!(err(Some("Basic !!!")).contains("base64"));
        let secret = err(Some(
            "type = InfrastructureManager; username = u; password = 'hunter2",
        ));
        assert!(!secret.contains("hunter2"), "{secret}");
    }
}
