//! The elasticity daemon's records: each elastic node's state, the
//! decisions with their reasons, and the last reading of the job queue.
//! A round's nodes and decisions are written in one transaction, before the
//! daemon acts on them, so a restarted daemon resumes from them.

use super::{Result, StateStore, Timestamp, cluster_id, json_col, json_text};
use crate::elastic::{ElasticNode, RecordedAction};
use rusqlite::OptionalExtension;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DecisionRecord {
    pub at: Timestamp,
    pub node: String,
    pub action: RecordedAction,
    pub reason: String,
}

impl ToSql for RecordedAction {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for RecordedAction {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse().map_err(|_| {
            FromSqlError::Other(format!("unknown elastic decision action {text:?}").into())
        })
    }
}

/// The last queue reading.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct QueueRecord {
    pub at: Timestamp,
    pub snapshot: serde_json::Value,
    pub pid: i64,
}

/// Decisions kept per cluster; older ones are dropped.
const KEEP_DECISIONS: i64 = 10_000;

impl StateStore {
    /// The cluster's elastic nodes, by name.
    pub fn elastic_nodes(&self, cluster: &str) -> Result<Vec<ElasticNode>> {
        self.read(|tx| {
            let cid = cluster_id(tx, cluster)?;
            let mut stmt =
                tx.prepare("SELECT data FROM elastic_nodes WHERE cluster_id = ?1 ORDER BY node")?;
            let rows = stmt.query_map([cid], |r| json_col::<ElasticNode>(r, 0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Records a round: every node's state, the round's decisions and,
    /// if given, the queue reading. Nodes not in `nodes` are forgotten.
    pub fn record_elastic_round(
        &self,
        cluster: &str,
        nodes: &[ElasticNode],
        decisions: &[DecisionRecord],
        queue: Option<&QueueRecord>,
    ) -> Result<()> {
        self.write(|tx| {
            let cid = cluster_id(tx, cluster)?;
            tx.execute("DELETE FROM elastic_nodes WHERE cluster_id = ?1", [cid])?;
            for n in nodes {
                tx.execute(
                    "INSERT INTO elastic_nodes (cluster_id, node, data) VALUES (?1, ?2, ?3)",
                    rusqlite::params![cid, n.name, json_text(n)],
                )?;
            }
            for d in decisions {
                tx.execute(
                    "INSERT INTO elastic_decisions (cluster_id, at, node, action, reason) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![cid, d.at, d.node, d.action, d.reason],
                )?;
            }
            if !decisions.is_empty() {
                tx.execute(
                    "DELETE FROM elastic_decisions WHERE cluster_id = ?1 AND id <= \
                     (SELECT MAX(id) FROM elastic_decisions WHERE cluster_id = ?1) - ?2",
                    rusqlite::params![cid, KEEP_DECISIONS],
                )?;
            }
            if let Some(q) = queue {
                tx.execute(
                    "INSERT INTO elastic_status (cluster_id, at, snapshot, pid) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT (cluster_id) DO UPDATE SET at = ?2, snapshot = ?3, pid = ?4",
                    rusqlite::params![cid, q.at, json_text(&q.snapshot), q.pid],
                )?;
            }
            Ok(())
        })
    }

    /// The last `limit` decisions, oldest first.
    pub fn elastic_decisions(&self, cluster: &str, limit: u32) -> Result<Vec<DecisionRecord>> {
        self.read(|tx| {
            let cid = cluster_id(tx, cluster)?;
            let mut stmt = tx.prepare(
                "SELECT at, node, action, reason FROM elastic_decisions WHERE cluster_id = ?1 \
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(rusqlite::params![cid, limit], |r| {
                Ok(DecisionRecord {
                    at: r.get(0)?,
                    node: r.get(1)?,
                    action: r.get(2)?,
                    reason: r.get(3)?,
                })
            })?;
            let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            out.reverse();
            Ok(out)
        })
    }

    /// The last queue reading.
    pub fn elastic_queue(&self, cluster: &str) -> Result<Option<QueueRecord>> {
        self.read(|tx| {
            let cid = cluster_id(tx, cluster)?;
            Ok(tx
                .query_row(
                    "SELECT at, snapshot, pid FROM elastic_status WHERE cluster_id = ?1",
                    [cid],
                    |r| {
                        Ok(QueueRecord {
                            at: r.get(0)?,
                            snapshot: json_col(r, 1)?,
                            pid: r.get(2)?,
                        })
                    },
                )
                .optional()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elastic::NodeState;
    use crate::state::NewCluster;

    #[test]
    fn a_round_replaces_nodes_and_appends_decisions() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::open(dir.path()).unwrap();
        s.create_cluster(&NewCluster {
            name: "c".into(),
            description: String::new(),
            templates: vec![],
            variables: serde_json::json!({}),
        })
        .unwrap();
        let n = ElasticNode::new("wn-1", "wn", 1, NodeState::PoweringOn, 5);
        let d = DecisionRecord {
            at: Timestamp(5),
            node: "wn-1".into(),
            action: RecordedAction::PowerOn,
            reason: "job 1".into(),
        };
        s.record_elastic_round(
            "c",
            std::slice::from_ref(&n),
            std::slice::from_ref(&d),
            None,
        )
        .unwrap();
        s.record_elastic_round(
            "c",
            std::slice::from_ref(&n),
            &[],
            Some(&QueueRecord {
                at: Timestamp(6),
                snapshot: serde_json::json!({"pending": []}),
                pid: 1,
            }),
        )
        .unwrap();
        assert_eq!(s.elastic_nodes("c").unwrap(), [n]);
        assert_eq!(s.elastic_decisions("c", 10).unwrap(), [d]);
        assert_eq!(s.elastic_queue("c").unwrap().unwrap().pid, 1);
    }

    #[test]
    fn every_recorded_action_reads_back_and_an_unknown_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = StateStore::open(dir.path()).unwrap();
        s.create_cluster(&NewCluster {
            name: "c".into(),
            description: String::new(),
            templates: vec![],
            variables: serde_json::json!({}),
        })
        .unwrap();
        let all: Vec<DecisionRecord> = RecordedAction::ALL
            .iter()
            .map(|&action| DecisionRecord {
                at: Timestamp(1),
                node: "wn-1".into(),
                action,
                reason: String::new(),
            })
            .collect();
        s.record_elastic_round("c", &[], &all, None).unwrap();
        assert_eq!(s.elastic_decisions("c", 100).unwrap(), all);
        s.write(|tx| {
            tx.execute(
                "UPDATE elastic_decisions SET action = 'power_up' WHERE id = \
                 (SELECT MAX(id) FROM elastic_decisions)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
        let err = s.elastic_decisions("c", 100).unwrap_err().to_string();
        assert!(
            err.contains("unknown elastic decision action \"power_up\""),
            "{err}"
        );
    }
}
