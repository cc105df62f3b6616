//! Reading a cloud's auth-file line: its type checked, its values set and
//! not blank, and every refusal in the cloud's own error, naming the line.

use crate::auth::Credential;

/// One auth-file line as a cloud provider reads it.
pub(crate) struct Fields<'a, E> {
    credential: &'a Credential,
    bad: fn(credential: String, message: String) -> E,
}

impl<'a, E> Fields<'a, E> {
    /// The line, if it has type `kind`. `bad` makes the cloud's error
    /// from the line's description and what is wrong with it.
    pub fn open(
        credential: &'a Credential,
        kind: &str,
        bad: fn(credential: String, message: String) -> E,
    ) -> Result<Self, E> {
        let fields = Fields { credential, bad };
        credential.check_kind(kind).map_err(|m| fields.bad(m))?;
        Ok(fields)
    }

    /// The error for this line.
    pub fn bad(&self, message: String) -> E {
        (self.bad)(self.credential.describe(), message)
    }

    /// `key`'s value, when set and not blank (trimmed).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.credential.nonblank(key)
    }

    /// `key`'s value, which must be there.
    pub fn need(&self, key: &str) -> Result<&'a str, E> {
        self.need_as(key, "")
    }

    /// `key`'s value, which must be there; `meaning` follows the key in
    /// the message: `` needs `username` (the access key id) ``.
    pub fn need_as(&self, key: &str, meaning: &str) -> Result<&'a str, E> {
        self.get(key).ok_or_else(|| {
            let meaning = if meaning.is_empty() {
                String::new()
            } else {
                format!(" ({meaning})")
            };
            self.bad(format!("needs `{key}`{meaning}"))
        })
    }

    /// The line's id, else `default`.
    pub fn id(&self, default: &str) -> String {
        self.credential
            .id
            .clone()
            .unwrap_or_else(|| default.to_string())
    }
}
