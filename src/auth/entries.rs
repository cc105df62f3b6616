//! From the pairs either form yields to [`Credential`]s: the checks both
//! forms share (a `type` that nubo knows, ids used once, keys given once).

use std::collections::HashMap;

use indexmap::IndexMap;

use super::credential::{Credential, ProviderKind, Secretish};
use super::error::{AuthError, Location};

/// A `key = value` as read, with where it was.
pub(crate) struct RawPair {
    pub key: String,
    pub key_at: Location,
    pub value: String,
    pub value_at: Location,
}

/// A credential as read: where it starts and its pairs in order.
pub(crate) struct RawEntry {
    pub at: Location,
    pub pairs: Vec<RawPair>,
    /// Some pair could not be read (and was reported): a missing `type`
    /// may be that pair, so it is not reported again.
    pub broken: bool,
}

/// Checks the entries and builds the credentials; every problem is pushed
/// to `errors`.
pub(crate) fn build(raw: Vec<RawEntry>, errors: &mut Vec<AuthError>) -> Vec<Credential> {
    let mut out = Vec::new();
    let mut ids: HashMap<String, usize> = HashMap::new();
    for entry in raw {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut ok = true;
        for p in &entry.pairs {
            if let Some(first_column) = seen.insert(&p.key, p.key_at.column) {
                errors.push(AuthError::DuplicateKey {
                    at: p.key_at.clone(),
                    key: p.key.clone(),
                    first_column,
                });
                ok = false;
            }
        }
        let find = |k: &str| entry.pairs.iter().find(|p| p.key == k);
        let kind = match find("type") {
            None => {
                if !entry.broken {
                    errors.push(AuthError::MissingType {
                        at: entry.at.clone(),
                    });
                }
                ok = false;
                None
            }
            Some(p) if p.value.is_empty() => {
                errors.push(AuthError::EmptyValue {
                    at: p.value_at.clone(),
                    key: "type".into(),
                });
                ok = false;
                None
            }
            Some(p) => match p.value.parse::<ProviderKind>() {
                Ok(kind) => Some(kind),
                Err(_) => {
                    errors.push(AuthError::UnknownType {
                        at: p.value_at.clone(),
                        kind: p.value.clone(),
                        hint: kind_hint(&p.value),
                    });
                    ok = false;
                    None
                }
            },
        };
        let id = match find("id") {
            None => None,
            Some(p) if p.value.is_empty() => {
                errors.push(AuthError::EmptyValue {
                    at: p.value_at.clone(),
                    key: "id".into(),
                });
                ok = false;
                None
            }
            Some(p) => {
                if let Some(&first_line) = ids.get(&p.value) {
                    errors.push(AuthError::DuplicateId {
                        at: p.value_at.clone(),
                        id: p.value.clone(),
                        first_line,
                    });
                    ok = false;
                } else {
                    ids.insert(p.value.clone(), p.value_at.line);
                }
                Some(p.value.clone())
            }
        };
        let (Some(kind), true) = (kind, ok) else {
            continue;
        };
        let fields: IndexMap<String, Secretish> = entry
            .pairs
            .into_iter()
            .filter(|p| p.key != "id" && p.key != "type")
            .map(|p| {
                let v = Secretish::for_key(&p.key, p.value);
                (p.key, v)
            })
            .collect();
        out.push(Credential {
            id,
            kind,
            fields,
            line: entry.at.line,
        });
    }
    out
}

/// What to say about an unknown type: the known one it differs from only
/// in case, else the list.
fn kind_hint(kind: &str) -> String {
    if kind.contains('#') {
        return "`#` starts a comment only at the start of a line".into();
    }
    match ProviderKind::ignoring_case(kind) {
        Some(k) => format!("did you mean `{k}`? (types are case-sensitive)"),
        None => format!("expected one of: {}", ProviderKind::list(ProviderKind::ALL)),
    }
}
