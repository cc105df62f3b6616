//! [`AuthFile`], [`Credential`] and [`Secretish`]: an auth file once read.

use std::fmt;

use indexmap::IndexMap;

use crate::state::Secret;

/// The `type`s nubo knows: `Local` (nubo's own) and those of the
/// Infrastructure Manager's connectors and services. IM compares types
/// case-sensitively, and so does nubo.
pub const KNOWN_KINDS: &[&str] = &[
    "Local",
    "InfrastructureManager",
    "VMRC",
    "AppDBIS",
    "OpenNebula",
    "OpenStack",
    "EC2",
    "Azure",
    "AzureClassic",
    "GCE",
    "Docker",
    "Kubernetes",
    "KubeVirt",
    "OCCI",
    "LibCloud",
    "LibVirt",
    "CloudStack",
    "Linode",
    "Orange",
    "EGI",
    "FogBow",
    "Lambda",
    "OSCAR",
    "vSphere",
    "Hetzner",
    "UpCloud",
    "DeployedNode",
    "Dummy",
];

/// Whether a key's value is a secret: passwords, tokens, secret and private
/// keys, proxies (which hold a private key).
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.contains("token")
        || k.contains("private")
        || k == "key"
        || k == "proxy"
        || k == "api_key"
        || k == "apikey"
        || (k.ends_with("_key") && k != "public_key")
}

/// A value from the auth file. A secret one never shows in `Debug` or
/// `Display` (it prints `***`); [`Secretish::expose`] is the way to it.
#[derive(Clone, PartialEq, Eq)]
pub enum Secretish {
    Plain(String),
    Secret(Secret),
}

impl Secretish {
    /// Wraps `value` as a secret when `key` names one ([`is_secret_key`]).
    pub fn for_key(key: &str, value: String) -> Self {
        if is_secret_key(key) {
            Secretish::Secret(Secret::new(value))
        } else {
            Secretish::Plain(value)
        }
    }

    /// The value. Use it where it is needed (a session string, a request
    /// header), never to print it.
    pub fn expose(&self) -> &str {
        match self {
            Secretish::Plain(s) => s,
            Secretish::Secret(s) => s.expose(),
        }
    }

    pub fn is_secret(&self) -> bool {
        matches!(self, Secretish::Secret(_))
    }
}

impl fmt::Debug for Secretish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secretish::Plain(s) => fmt::Debug::fmt(s, f),
            Secretish::Secret(s) => fmt::Debug::fmt(s, f),
        }
    }
}

impl fmt::Display for Secretish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secretish::Plain(s) => f.write_str(s),
            Secretish::Secret(_) => f.write_str("***"),
        }
    }
}

/// One credential: a line of the auth file (or an object of its JSON form).
#[derive(Clone, Debug, PartialEq)]
pub struct Credential {
    /// `id`, which `deploy SYSTEM N ID` and nubo's provider selection refer
    /// to; IM allows credentials without one (`type = InfrastructureManager`).
    pub id: Option<String>,
    /// `type`, one of [`KNOWN_KINDS`].
    pub kind: String,
    /// Every other key, in the order written.
    pub fields: IndexMap<String, Secretish>,
    /// The line it starts on, for messages.
    pub line: usize,
}

impl Credential {
    pub fn get(&self, key: &str) -> Option<&Secretish> {
        self.fields.get(key)
    }

    /// The value of `key`, exposed (see [`Secretish::expose`]).
    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(Secretish::expose)
    }

    /// A value that is set and not blank, without surrounding whitespace.
    pub fn nonblank(&self, key: &str) -> Option<&str> {
        self.value(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// That this credential has type `kind`; otherwise the message a
    /// provider reports about it.
    pub fn check_kind(&self, kind: &str) -> Result<(), String> {
        if self.kind == kind {
            Ok(())
        } else {
            Err(format!("has type `{}`, not `{kind}`", self.kind))
        }
    }

    /// How messages name it: `` `one` (OpenNebula, line 3) ``.
    pub fn describe(&self) -> String {
        match &self.id {
            Some(id) => format!("`{id}` ({}, line {})", self.kind, self.line),
            None => format!("{} (line {})", self.kind, self.line),
        }
    }
}

/// An auth file: its credentials in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthFile {
    pub entries: Vec<Credential>,
}

impl AuthFile {
    /// The credential with this `id`.
    pub fn by_id(&self, id: &str) -> Option<&Credential> {
        self.entries.iter().find(|c| c.id.as_deref() == Some(id))
    }

    /// The credentials of this `type`, in file order.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Credential> + 'a {
        self.entries.iter().filter(move |c| c.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "token",
            "proxy",
            "private_key",
            "secret_key",
            "client_secret",
            "key",
            "access_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in [
            "id",
            "type",
            "host",
            "username",
            "tenant",
            "public_key",
            "auth_version",
            "service_region",
            "image_url",
        ] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let s = Secretish::for_key("password", "hunter2".into());
        assert!(s.is_secret());
        assert_eq!(s.expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        let c = Credential {
            id: Some("one".into()),
            kind: "OpenNebula".into(),
            fields: [("password".to_string(), s)].into_iter().collect(),
            line: 1,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let p = Secretish::for_key("username", "alice".into());
        assert_eq!(format!("{p} {p:?}"), "alice \"alice\"");
    }
}
