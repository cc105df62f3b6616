//! Git pins: the commit each `include: {git: URL, rev: REV}` of a cluster
//! was resolved to, so later runs use the same code until the user asks
//! to update (`nubo reconfigure --update-recipes`).

use rusqlite::params;
use serde::Serialize;

use super::{Result, StateStore, Timestamp, cluster_id};

/// One git reference of a cluster and the commit it stands for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GitPin {
    pub url: String,
    /// The revision as written (branch, tag, commit); `None`: the
    /// repository's default branch.
    pub rev: Option<String>,
    /// The full commit id.
    pub commit: String,
}

pub(crate) fn list(conn: &rusqlite::Connection, cid: i64) -> Result<Vec<GitPin>> {
    let mut stmt = conn.prepare(
        "SELECT url, rev, commit_id FROM git_pins WHERE cluster_id = ?1 ORDER BY url, rev",
    )?;
    let rows = stmt.query_map([cid], |r| {
        let rev: String = r.get(1)?;
        Ok(GitPin {
            url: r.get(0)?,
            rev: (!rev.is_empty()).then_some(rev),
            commit: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

impl StateStore {
    /// The cluster's git pins, by URL and revision.
    pub fn git_pins(&self, cluster: &str) -> Result<Vec<GitPin>> {
        self.read(|tx| list(tx, cluster_id(tx, cluster)?))
    }

    /// Replaces the cluster's git pins with `pins`, in one transaction.
    pub fn set_git_pins(&self, cluster: &str, pins: &[GitPin]) -> Result<()> {
        self.write(|tx| {
            let cid = cluster_id(tx, cluster)?;
            tx.execute("DELETE FROM git_pins WHERE cluster_id = ?1", [cid])?;
            let now = Timestamp::now();
            for p in pins {
                tx.execute(
                    "INSERT INTO git_pins (cluster_id, url, rev, commit_id, resolved_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (cluster_id, url, rev) DO UPDATE SET commit_id = excluded.commit_id",
                    params![cid, p.url, p.rev.as_deref().unwrap_or(""), p.commit, now],
                )?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NewCluster;

    fn pin(url: &str, rev: Option<&str>, commit: &str) -> GitPin {
        GitPin {
            url: url.into(),
            rev: rev.map(Into::into),
            commit: commit.into(),
        }
    }

    #[test]
    fn pins_are_replaced_whole_and_go_with_their_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        for name in ["a", "b"] {
            store
                .create_cluster(&NewCluster {
                    name: name.into(),
                    description: String::new(),
                    templates: vec![],
                    variables: serde_json::json!({}),
                })
                .unwrap();
        }
        assert_eq!(store.git_pins("a").unwrap(), []);
        let first = [pin("u2", None, "c2"), pin("u1", Some("main"), "c1")];
        store.set_git_pins("a", &first).unwrap();
        store
            .set_git_pins("b", &[pin("u1", Some("main"), "cb")])
            .unwrap();
        assert_eq!(
            store.git_pins("a").unwrap(),
            [pin("u1", Some("main"), "c1"), pin("u2", None, "c2")],
            "sorted by URL; no revision read back as None"
        );
        store
            .set_git_pins("a", &[pin("u1", Some("main"), "c3")])
            .unwrap();
        assert_eq!(
            store.git_pins("a").unwrap(),
            [pin("u1", Some("main"), "c3")]
        );
        assert_eq!(
            store.git_pins("b").unwrap(),
            [pin("u1", Some("main"), "cb")]
        );
        let detail = store.cluster_detail("a").unwrap().unwrap();
        assert_eq!(detail.git_pins, [pin("u1", Some("main"), "c3")]);
        store.delete_cluster("a").unwrap();
        assert!(store.git_pins("a").is_err(), "the cluster is gone");
        store
            .create_cluster(&NewCluster {
                name: "a".into(),
                description: String::new(),
                templates: vec![],
                variables: serde_json::json!({}),
            })
            .unwrap();
        assert_eq!(
            store.git_pins("a").unwrap(),
            [],
            "no pin outlives its cluster"
        );
    }
}
