//! Secrets: auth file contents, generated SSH private keys. They live in
//! their own table of the private (0600) database and are read back as
//! [`Secret`], which never shows its value in `Debug`, has no `Display`
//! and no `Serialize`, so it cannot end up in a log line or in `show`.

use std::fmt;

use rusqlite::{OptionalExtension, params};

use super::{Result, StateStore, Timestamp, cluster_id};

/// A secret value. `Debug` prints `Secret(***)`; [`expose`](Self::expose)
/// is the one way to the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value. Call it only where the value is used (written to a
    /// private file, handed to a provider), never to print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl StateStore {
    /// Stores (or replaces) the cluster's secret `name`. Fsynced: a
    /// credential is not lost with the power.
    pub fn put_secret(&self, cluster: &str, name: &str, value: &Secret) -> Result<()> {
        self.write_durable(|tx| {
            let cid = cluster_id(tx, cluster)?;
            tx.execute(
                "INSERT INTO secrets (cluster_id, name, value, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (cluster_id, name)
                 DO UPDATE SET value = excluded.value, created_at = excluded.created_at",
                params![cid, name, value.expose(), Timestamp::now()],
            )?;
            Ok(())
        })
    }

    /// The cluster's secret `name`, if stored.
    pub fn secret(&self, cluster: &str, name: &str) -> Result<Option<Secret>> {
        self.read(|tx| {
            let cid = cluster_id(tx, cluster)?;
            Ok(tx
                .query_row(
                    "SELECT value FROM secrets WHERE cluster_id = ?1 AND name = ?2",
                    params![cid, name],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
                .map(Secret))
        })
    }

    /// The names of the cluster's secrets, sorted.
    pub fn secret_names(&self, cluster: &str) -> Result<Vec<String>> {
        self.read(|tx| {
            let cid = cluster_id(tx, cluster)?;
            let mut stmt =
                tx.prepare("SELECT name FROM secrets WHERE cluster_id = ?1 ORDER BY name")?;
            let rows = stmt.query_map([cid], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }

    /// Deletes the cluster's secret `name`; returns whether it existed.
    pub fn delete_secret(&self, cluster: &str, name: &str) -> Result<bool> {
        self.write(|tx| {
            let cid = cluster_id(tx, cluster)?;
            Ok(tx.execute(
                "DELETE FROM secrets WHERE cluster_id = ?1 AND name = ?2",
                params![cid, name],
            )? > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let s = Secret::new("-----BEGIN OPENSSH PRIVATE KEY----- hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s:#?}"), "Secret(***)");
        assert_eq!(
            format!("{:?}", Some(vec![s.clone()])),
            "Some([Secret(***)])"
        );
        assert!(s.expose().contains("hunter2"));
    }
}
