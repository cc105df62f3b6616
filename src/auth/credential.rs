//! [`AuthFile`], [`Credential`] and [`Secretish`]: an auth file once read.

use std::fmt;

use indexmap::IndexMap;

use crate::state::Secret;

/// A credential's `type`: `Local` (nubo's own) and those of the
/// Infrastructure Manager's connectors and services. IM compares types
/// case-sensitively, and so does nubo: `FromStr` takes the exact text,
/// `Display` writes it back. The variants are spelled as the auth file
/// spells them.
#[allow(clippy::upper_case_acronyms)]
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
pub enum ProviderKind {
    Local,
    InfrastructureManager,
    VMRC,
    AppDBIS,
    OpenNebula,
    OpenStack,
    EC2,
    Azure,
    AzureClassic,
    GCE,
    Docker,
    Kubernetes,
    KubeVirt,
    OCCI,
    LibCloud,
    LibVirt,
    CloudStack,
    Linode,
    Orange,
    EGI,
    FogBow,
    Lambda,
    OSCAR,
    #[strum(serialize = "vSphere")]
    VSphere,
    Hetzner,
    UpCloud,
    DeployedNode,
    Dummy,
}

impl ProviderKind {
    /// Every kind, in the order messages list them.
    pub const ALL: &[ProviderKind] = <ProviderKind as strum::VariantArray>::VARIANTS;

    /// The name as the auth file writes it.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The kind whose name differs from `text` only in case.
    pub fn ignoring_case(text: &str) -> Option<ProviderKind> {
        Self::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(text))
    }

    /// `kinds` joined with `, `, as messages list them.
    pub fn list(kinds: &[ProviderKind]) -> String {
        kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A kind and its name as the auth file writes it, for callers that still
/// name a kind by its text (the cloud providers' `Provider::kind`).
impl PartialEq<&str> for ProviderKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

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
    /// `type`.
    pub kind: ProviderKind,
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
    /// provider reports about it. `kind` is a [`ProviderKind`] (or, from
    /// callers not moved to it yet, its name).
    pub fn check_kind<K>(&self, kind: K) -> Result<(), String>
    where
        ProviderKind: PartialEq<K>,
        K: fmt::Display,
    {
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
    pub fn of_kind(&self, kind: ProviderKind) -> impl Iterator<Item = &Credential> {
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
    fn every_kind_reads_back_exactly() {
        assert_eq!(ProviderKind::ALL.len(), 28);
        for &k in ProviderKind::ALL {
            assert_eq!(k.to_string().parse::<ProviderKind>(), Ok(k));
            assert_eq!(
                ProviderKind::ignoring_case(&k.as_str().to_uppercase()),
                Some(k)
            );
        }
        assert_eq!("EC2".parse::<ProviderKind>(), Ok(ProviderKind::EC2));
        assert_eq!("vSphere".parse::<ProviderKind>(), Ok(ProviderKind::VSphere));
        assert!(
            "ec2".parse::<ProviderKind>().is_err(),
            "case-sensitive, as IM"
        );
        assert!("Ec2 ".parse::<ProviderKind>().is_err());
        assert_eq!(
            ProviderKind::ignoring_case("opennebula"),
            Some(ProviderKind::OpenNebula)
        );
        assert_eq!(ProviderKind::ignoring_case("Nebula"), None);
        assert_eq!(
            ProviderKind::list(&[ProviderKind::Local, ProviderKind::EC2]),
            "Local, EC2"
        );
    }

    #[test]
    fn check_kind_names_both_types() {
        let c = Credential {
            id: Some("one".into()),
            kind: ProviderKind::OpenNebula,
            fields: IndexMap::new(),
            line: 1,
        };
        assert_eq!(c.check_kind(ProviderKind::OpenNebula), Ok(()));
        assert_eq!(c.check_kind("OpenNebula"), Ok(()));
        assert_eq!(
            c.check_kind(ProviderKind::OpenStack),
            Err("has type `OpenNebula`, not `OpenStack`".to_string())
        );
        assert_eq!(c.describe(), "`one` (OpenNebula, line 1)");
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
            kind: ProviderKind::OpenNebula,
            fields: [("password".to_string(), s)].into_iter().collect(),
            line: 1,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let p = Secretish::for_key("username", "alice".into());
        assert_eq!(format!("{p} {p:?}"), "alice \"alice\"");
    }
}
