//! Configuration steps: one row per (node, configure, step number), with
//! the hash of the recipe it ran, its status, exit status, times and log.
//!
//! The log is appended a chunk at a time as output streams in (each
//! append is one commit; callers batch lines), so a crash keeps the output
//! up to the last append.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Result, StateError, StateStore, Timestamp, cluster_id, text_enum};

text_enum! {
    /// Where a configuration step is.
    pub enum StepStatus {
        /// Planned, not started.
        Pending = "pending",
        Running = "running",
        /// Finished successfully.
        Ok = "ok",
        Failed = "failed",
        /// Not run: a step it depends on failed, or its guard said so.
        Skipped = "skipped",
    }
}

/// Which step: node, configure name and step number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct StepKey {
    pub node: String,
    pub configure: String,
    pub step: u32,
}

impl StepKey {
    pub fn new(node: impl Into<String>, configure: impl Into<String>, step: u32) -> Self {
        StepKey {
            node: node.into(),
            configure: configure.into(),
            step,
        }
    }
}

/// A configuration step as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub key: StepKey,
    /// The hash of the recipe text this step runs: a changed recipe makes
    /// the step pending again.
    pub recipe_hash: String,
    pub status: StepStatus,
    pub exit_status: Option<i32>,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// The output so far.
    pub log: String,
}

const SELECT: &str = "SELECT s.node, s.configure, s.step, s.recipe_hash, s.status,
        s.exit_status, s.started_at, s.ended_at,
        coalesce((SELECT group_concat(l.text, '' ORDER BY l.id)
                  FROM step_log l WHERE l.step_id = s.id), '')
    FROM steps s";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Step> {
    Ok(Step {
        key: StepKey {
            node: row.get(0)?,
            configure: row.get(1)?,
            step: row.get(2)?,
        },
        recipe_hash: row.get(3)?,
        status: row.get(4)?,
        exit_status: row.get(5)?,
        started_at: row.get(6)?,
        ended_at: row.get(7)?,
        log: row.get(8)?,
    })
}

/// The cluster's steps: by node, then in the order they were first put.
pub(crate) fn list(conn: &Connection, cid: i64) -> Result<Vec<Step>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE s.cluster_id = ?1 ORDER BY s.node, s.id"
    ))?;
    let rows = stmt.query_map([cid], from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn get(conn: &Connection, cid: i64, key: &StepKey) -> Result<Option<Step>> {
    Ok(conn
        .query_row(
            &format!(
                "{SELECT} WHERE s.cluster_id = ?1 AND s.node = ?2 AND s.configure = ?3 AND s.step = ?4"
            ),
            params![cid, key.node, key.configure, key.step],
            from_row,
        )
        .optional()?)
}

/// The row id of a step.
fn row_id(conn: &Connection, cluster: &str, key: &StepKey) -> Result<i64> {
    let cid = cluster_id(conn, cluster)?;
    conn.query_row(
        "SELECT id FROM steps WHERE cluster_id = ?1 AND node = ?2 AND configure = ?3 AND step = ?4",
        params![cid, key.node, key.configure, key.step],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| StateError::StepNotFound {
        cluster: cluster.to_string(),
        node: key.node.clone(),
        configure: key.configure.clone(),
        step: key.step,
    })
}

fn get_existing(conn: &Connection, cluster: &str, key: &StepKey) -> Result<Step> {
    let cid = cluster_id(conn, cluster)?;
    get(conn, cid, key)?.ok_or_else(|| StateError::StepNotFound {
        cluster: cluster.to_string(),
        node: key.node.clone(),
        configure: key.configure.clone(),
        step: key.step,
    })
}

impl StateStore {
    /// Records a step to run with the recipe hashed as `recipe_hash`. A new
    /// step is `pending`. An existing step with the same hash is left as it
    /// is (so a rerun can skip what is `ok`); with another hash it is reset
    /// to `pending` and its log cleared.
    pub fn put_step(&self, cluster: &str, key: &StepKey, recipe_hash: &str) -> Result<Step> {
        self.write(|tx| {
            let cid = cluster_id(tx, cluster)?;
            match get(tx, cid, key)? {
                Some(step) if step.recipe_hash == recipe_hash => return Ok(step),
                Some(_) => {
                    let id = row_id(tx, cluster, key)?;
                    tx.execute("DELETE FROM step_log WHERE step_id = ?1", [id])?;
                    tx.execute(
                        "UPDATE steps SET recipe_hash = ?1, status = ?2, exit_status = NULL,
                             started_at = NULL, ended_at = NULL
                         WHERE id = ?3",
                        params![recipe_hash, StepStatus::Pending, id],
                    )?;
                }
                None => {
                    tx.execute(
                        "INSERT INTO steps (cluster_id, node, configure, step, recipe_hash, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            cid,
                            key.node,
                            key.configure,
                            key.step,
                            recipe_hash,
                            StepStatus::Pending
                        ],
                    )?;
                }
            }
            get_existing(tx, cluster, key)
        })
    }

    /// Marks a step `running` from now, clearing the log and exit status of
    /// an earlier run.
    pub fn start_step(&self, cluster: &str, key: &StepKey) -> Result<()> {
        self.write(|tx| {
            let id = row_id(tx, cluster, key)?;
            tx.execute("DELETE FROM step_log WHERE step_id = ?1", [id])?;
            tx.execute(
                "UPDATE steps SET status = ?1, started_at = ?2, ended_at = NULL,
                     exit_status = NULL
                 WHERE id = ?3",
                params![StepStatus::Running, Timestamp::now(), id],
            )?;
            Ok(())
        })
    }

    /// Appends output to a step's log.
    pub fn append_step_log(&self, cluster: &str, key: &StepKey, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let id = row_id(tx, cluster, key)?;
            tx.execute(
                "INSERT INTO step_log (step_id, text) VALUES (?1, ?2)",
                params![id, text],
            )?;
            Ok(())
        })
    }

    /// Ends a step with `status` (`ok`, `failed` or `skipped`) and the exit
    /// status of its command, if it ran one.
    pub fn finish_step(
        &self,
        cluster: &str,
        key: &StepKey,
        status: StepStatus,
        exit_status: Option<i32>,
    ) -> Result<()> {
        self.write(|tx| {
            let id = row_id(tx, cluster, key)?;
            tx.execute(
                "UPDATE steps SET status = ?1, exit_status = ?2, ended_at = ?3 WHERE id = ?4",
                params![status, exit_status, Timestamp::now(), id],
            )?;
            Ok(())
        })
    }

    /// The step, with its log, if recorded.
    pub fn step(&self, cluster: &str, key: &StepKey) -> Result<Option<Step>> {
        self.read(|tx| get(tx, cluster_id(tx, cluster)?, key))
    }

    /// The cluster's steps with their logs: by node, then in the order
    /// they were first put.
    pub fn steps(&self, cluster: &str) -> Result<Vec<Step>> {
        self.read(|tx| list(tx, cluster_id(tx, cluster)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::NewCluster;

    #[test]
    fn log_chunks_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store
            .create_cluster(&NewCluster {
                name: "c".into(),
                description: String::new(),
                templates: vec![],
                variables: serde_json::Value::Null,
            })
            .unwrap();
        let key = StepKey::new("n", "conf", 0);
        store.put_step("c", &key, "h").unwrap();
        store.start_step("c", &key).unwrap();
        let mut expected = String::new();
        for i in 0..50 {
            let chunk = format!("{i},");
            store.append_step_log("c", &key, &chunk).unwrap();
            expected.push_str(&chunk);
        }
        assert_eq!(store.step("c", &key).unwrap().unwrap().log, expected);
        // Another step's log is its own.
        let other = StepKey::new("n", "conf", 1);
        store.put_step("c", &other, "h").unwrap();
        store.append_step_log("c", &other, "x").unwrap();
        assert_eq!(store.step("c", &other).unwrap().unwrap().log, "x");
        assert_eq!(store.step("c", &key).unwrap().unwrap().log, expected);
    }
}
