//! The auth file: which clouds nubo may use, and with which credentials.
//!
//! nubo reads the Infrastructure Manager's format. One credential a line:
//!
//! ```text
//! # comments and blank lines are skipped
//! id = local; type = Local
//! id = one; type = OpenNebula; host = one.example.org:2633; username = alice; password = 'pa;ss'
//! id = ost; type = OpenStack; host = https://keystone:5000; username = bob; password = file(ost.pass); tenant = demo
//! ```
//!
//! `key = value` pairs are separated by `;`; values may be quoted ('...'
//! or "..."); `file(PATH)` stands for a file's contents (relative to the
//! auth file's directory). `id` names the credential, `type` says which
//! provider it is for ([`ProviderKind`]); other keys (`host`, `username`,
//! `password`, `tenant`, `domain`, `auth_version`, `service_region`,
//! `token`, `proxy`, `image_url`, `network_url`, ...) are the provider's.
//! IM's JSON form, a list of objects with the same keys, is read too (when
//! the text starts with `[`). See `lines.rs` for where nubo is stricter
//! than IM.
//!
//! Secret values (passwords, tokens, secret and private keys, proxies) are
//! held as [`Secretish::Secret`], so they never print; error messages
//! never quote values.

mod credential;
mod entries;
mod error;
mod json;
mod lines;

use std::path::Path;

pub use credential::{AuthFile, Credential, ProviderKind, Secretish, is_secret_key};
pub use error::{AuthError, Location};

/// Parses an auth file's text. `path` names the file in messages;
/// `base_dir` is where relative `file(...)` paths start. Returns every
/// problem, not just the first.
pub fn parse(path: &str, text: &str, base_dir: &Path) -> Result<AuthFile, Vec<AuthError>> {
    let mut errors = Vec::new();
    let start = text.trim_start();
    let raw = if start.starts_with('[') || start.starts_with('{') {
        json::parse(path, text, &mut errors)
    } else {
        lines::parse(path, text, base_dir, &mut errors)
    };
    let entries = entries::build(raw, &mut errors);
    errors.sort_by_key(|e| e.location().map(|l| (l.line, l.column)));
    if errors.is_empty() {
        Ok(AuthFile { entries })
    } else {
        Err(errors)
    }
}

impl AuthFile {
    /// Reads and parses the auth file at `path`. Warns (in the log) when
    /// others may read it.
    pub fn read(path: &Path) -> Result<AuthFile, Vec<AuthError>> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| {
            vec![AuthError::Read {
                path: shown.clone(),
                source,
            }]
        })?;
        warn_if_shared(path);
        let base = path.parent().unwrap_or(Path::new("."));
        parse(&shown, &text, base)
    }
}

fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "the auth file can be read by other users; `chmod 600` it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> AuthFile {
        parse("auth.dat", text, Path::new("/nonexistent")).unwrap_or_else(|e| {
            panic!(
                "{}",
                e.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        })
    }

    fn errors(text: &str) -> Vec<String> {
        parse("auth.dat", text, Path::new("/nonexistent"))
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn local_line_selects_the_local_provider() {
        let a = ok("id = local; type = Local\n");
        assert_eq!(a.entries.len(), 1);
        let c = a.by_id("local").unwrap();
        assert_eq!(c.kind, ProviderKind::Local);
        assert!(c.fields.is_empty());
        assert_eq!(c.line, 1);
        assert_eq!(a.of_kind(ProviderKind::Local).count(), 1);
    }

    #[test]
    fn im_examples() {
        let a = ok(r#"
# IM's documented examples
id = one; type = OpenNebula; host = oneserver:2633; username = user; password = pass
type = InfrastructureManager; username = user; password = 'pass;test'
type = VMRC; host = http://server:8080/vmrc; username = user; password = "pass';test"
id = ec2; type = EC2; username = ACCESS_KEY; password = SECRET_KEY
id = oshost; type = OpenStack; host = oshost:8773; username = ACCESS_KEY; key = SECRET_KEY
"#);
        assert_eq!(a.entries.len(), 5);
        let one = a.by_id("one").unwrap();
        assert_eq!(one.line, 3);
        assert_eq!(one.value("host"), Some("oneserver:2633"));
        assert_eq!(one.value("password"), Some("pass"));
        assert!(one.get("password").unwrap().is_secret());
        assert!(!one.get("username").unwrap().is_secret());
        let im = a
            .of_kind(ProviderKind::InfrastructureManager)
            .next()
            .unwrap();
        assert_eq!(im.id, None);
        assert_eq!(im.value("password"), Some("pass;test"));
        let vmrc = a.of_kind(ProviderKind::VMRC).next().unwrap();
        assert_eq!(vmrc.value("password"), Some("pass';test"));
        assert!(a.by_id("oshost").unwrap().get("key").unwrap().is_secret());
        assert_eq!(a.of_kind(ProviderKind::Azure).count(), 0);
        assert!(a.by_id("nope").is_none());
    }

    #[test]
    fn keys_keep_their_order_and_values_their_inner_spaces() {
        let a = ok("id=x;type=OpenStack;host=h;tenant=' a b ';domain = \"d\" ;");
        let c = a.by_id("x").unwrap();
        assert_eq!(
            c.fields.keys().collect::<Vec<_>>(),
            ["host", "tenant", "domain"]
        );
        assert_eq!(c.value("tenant"), Some(" a b "));
        assert_eq!(c.value("domain"), Some("d"));
    }

    #[test]
    fn equals_and_escaped_newlines_in_values() {
        let a = ok("id = t; type = EC2; token = abc==; proxy = a\\nb; password = 'x = y'");
        let c = a.by_id("t").unwrap();
        assert_eq!(c.value("token"), Some("abc=="));
        assert_eq!(c.value("proxy"), Some("a\nb"));
        assert_eq!(c.value("password"), Some("x = y"));
    }

    #[test]
    fn quoted_empty_value_is_allowed() {
        let a = ok("id = i; type = InfrastructureManager; password = ''");
        assert_eq!(a.by_id("i").unwrap().value("password"), Some(""));
    }

    #[test]
    fn file_values_are_read_relative_to_the_auth_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pass"), "s3cret\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/proxy.pem"), "-----BEGIN\nX\n").unwrap();
        let text = "id = one; type = OpenNebula; username = u; password = file(pass); proxy = file( sub/proxy.pem )\n";
        std::fs::write(dir.path().join("auth.dat"), text).unwrap();
        let a = AuthFile::read(&dir.path().join("auth.dat")).unwrap();
        let c = a.by_id("one").unwrap();
        assert_eq!(c.value("password"), Some("s3cret"));
        assert_eq!(c.value("proxy"), Some("-----BEGIN\nX"));
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            errors("id = a; type = Local\n\n  id = b; type Local"),
            ["auth.dat:3:11: expected `key = value`, found no `=`"]
        );
        assert_eq!(
            errors("id = a; type = Local; password = 'abc"),
            [
                "auth.dat:1:34: unterminated ' quote: expected a closing ' before the end of the line"
            ]
        );
        assert_eq!(
            errors("id = a; username = u"),
            ["auth.dat:1:1: this credential has no `type` (expected e.g. `type = OpenNebula`)"]
        );
        assert_eq!(
            errors("id = a; type = Local\nid = a; type = Local"),
            ["auth.dat:2:6: duplicate id `a` (first used on line 1)"]
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let e = errors(
            "id = a; type = Openstack\nid = b; = x; type = Local\nid = c; type = Nope; host",
        );
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].contains("did you mean `OpenStack`"), "{}", e[0]);
        assert!(e[1].starts_with("auth.dat:2:9: expected a key"), "{}", e[1]);
        assert!(e[2].contains("expected one of: Local,"), "{}", e[2]);
        assert!(
            e[3].starts_with("auth.dat:3:22: expected `key = value`"),
            "{}",
            e[3]
        );
    }

    #[test]
    fn messages_never_show_secrets() {
        let e = errors(
            "id = a; type = Local; password = 'hunter2\nid = b; type = Local; password = hunter2; password = hunter3",
        );
        assert_eq!(e.len(), 2);
        for m in e {
            assert!(!m.contains("hunter"), "{m}");
        }
    }

    #[test]
    fn json_form() {
        let a = ok(r#"[
  {"id": "one", "type": "OpenNebula", "host": "h:2633", "username": "u", "password": "p"},
  {"type": "InfrastructureManager", "username": "u", "password": "p", "port": 8899}
]"#);
        assert_eq!(a.entries.len(), 2);
        let one = a.by_id("one").unwrap();
        assert_eq!(one.line, 2);
        assert!(one.get("password").unwrap().is_secret());
        assert_eq!(a.entries[1].value("port"), Some("8899"));
    }

    #[test]
    fn json_errors_are_located() {
        assert_eq!(
            errors("[\n  {\"id\": \"a\"},\n  {\"type\": \"Local\", \"host\": [1]}\n]"),
            [
                "auth.dat:2:3: this credential has no `type` (expected e.g. `type = OpenNebula`)",
                "auth.dat:3:29: `host` takes a string (or a number or boolean), found a list",
            ]
        );
        let e = errors("[\n  {\"id\": \"a\", }\n]");
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("auth.dat:2:"), "{}", e[0]);
        assert!(e[0].contains("invalid JSON"), "{}", e[0]);
        assert_eq!(
            errors("{\"id\": \"a\"}")[0],
            "auth.dat:1:1: expected a list of credentials, `[{\"id\": ..., \"type\": ...}, ...]`, found an object"
        );
    }

    #[test]
    fn unreadable_auth_file() {
        let e = AuthFile::read(Path::new("/nonexistent/auth.dat")).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].location().is_none());
        assert!(
            e[0].to_string()
                .starts_with("cannot read auth file /nonexistent/auth.dat")
        );
    }
}
