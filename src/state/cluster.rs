//! Clusters: one row per launched cluster, with the description it was
//! launched from; everything else in the store belongs to one.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{
    GitPin, Intent, Result, StateError, StateStore, Step, Timestamp, Vm, VmState, cluster_id,
    git_pin, intent, json_col, json_text, step, text_enum, vm,
};

text_enum! {
    /// Where a cluster is in its life.
    pub enum ClusterStatus {
        /// VMs are being created.
        Launching = "launching",
        /// VMs are up; recipes are running.
        Configuring = "configuring",
        /// Launched and configured.
        Running = "running",
        /// Its VMs are stopped.
        Stopped = "stopped",
        /// The launch or configuration failed.
        Failed = "failed",
        /// `destroy` has started.
        Destroying = "destroying",
    }
}

/// A cluster as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The source text of the cluster description (merged templates).
    pub description: String,
    /// The names of the templates it came from.
    pub templates: Vec<String>,
    pub status: ClusterStatus,
    /// Cluster variables.
    pub variables: serde_json::Value,
}

/// What `create_cluster` records.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCluster {
    pub name: String,
    pub description: String,
    pub templates: Vec<String>,
    pub variables: serde_json::Value,
}

/// One line of `list`: a cluster and counts of its VMs and open intents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSummary {
    pub cluster: Cluster,
    /// VMs recorded and not destroyed.
    pub vms: usize,
    /// VMs in state `running`.
    pub running_vms: usize,
    /// Provider calls begun and not completed.
    pub open_intents: usize,
}

/// Everything `show` needs: the cluster, its VMs, its steps with their
/// logs, its open intents and the commits its recipes from git are pinned
/// to. Secrets are not included.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterDetail {
    pub cluster: Cluster,
    pub vms: Vec<Vm>,
    pub steps: Vec<Step>,
    pub open_intents: Vec<Intent>,
    pub git_pins: Vec<GitPin>,
}

/// A cluster name is a file name too (its lock file): ASCII letters,
/// digits, `-`, `_` and `.`, starting with a letter or digit, at most 64.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 64 {
        Some("it is longer than 64 characters")
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        Some("it must start with a letter or a digit")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("use only letters, digits, '-', '_' and '.'")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(StateError::InvalidClusterName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

const COLUMNS: &str = "name, created_at, updated_at, description, templates, status, variables";

fn from_row(row: &Row<'_>) -> rusqlite::Result<Cluster> {
    Ok(Cluster {
        name: row.get(0)?,
        created_at: row.get(1)?,
        updated_at: row.get(2)?,
        description: row.get(3)?,
        templates: json_col(row, 4)?,
        status: row.get(5)?,
        variables: json_col(row, 6)?,
    })
}

fn get(conn: &Connection, name: &str) -> Result<Option<Cluster>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM clusters WHERE name = ?1"),
            [name],
            from_row,
        )
        .optional()?)
}

/// Updates one column of a cluster (and `updated_at`).
fn update(conn: &Connection, name: &str, set: &str, value: &dyn rusqlite::ToSql) -> Result<()> {
    let n = conn.execute(
        &format!("UPDATE clusters SET {set} = ?1, updated_at = ?2 WHERE name = ?3"),
        params![value, Timestamp::now(), name],
    )?;
    if n == 0 {
        return Err(StateError::ClusterNotFound(name.to_string()));
    }
    Ok(())
}

impl StateStore {
    /// Records a new cluster, in status `launching`.
    pub fn create_cluster(&self, new: &NewCluster) -> Result<Cluster> {
        validate_name(&new.name)?;
        self.write(|tx| {
            if get(tx, &new.name)?.is_some() {
                return Err(StateError::ClusterExists(new.name.clone()));
            }
            let now = Timestamp::now();
            tx.execute(
                &format!("INSERT INTO clusters ({COLUMNS}) VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6)"),
                params![
                    new.name,
                    now,
                    new.description,
                    json_text(&new.templates),
                    ClusterStatus::Launching,
                    json_text(&new.variables),
                ],
            )?;
            get(tx, &new.name)?.ok_or_else(|| StateError::ClusterNotFound(new.name.clone()))
        })
    }

    /// The cluster named `name`, if recorded.
    pub fn cluster(&self, name: &str) -> Result<Option<Cluster>> {
        self.read(|tx| get(tx, name))
    }

    /// Every cluster, by name, with counts of its VMs and open intents.
    pub fn clusters(&self) -> Result<Vec<ClusterSummary>> {
        self.read(|tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {COLUMNS},
                    (SELECT count(*) FROM vms v WHERE v.cluster_id = c.id AND v.state != ?1),
                    (SELECT count(*) FROM vms v WHERE v.cluster_id = c.id AND v.state = ?2),
                    (SELECT count(*) FROM intents i WHERE i.cluster_id = c.id AND i.state = 'open')
                 FROM clusters c ORDER BY name"
            ))?;
            let rows = stmt.query_map(params![VmState::Destroyed, VmState::Running], |r| {
                Ok(ClusterSummary {
                    cluster: from_row(r)?,
                    vms: r.get::<_, i64>(7)? as usize,
                    running_vms: r.get::<_, i64>(8)? as usize,
                    open_intents: r.get::<_, i64>(9)? as usize,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The cluster with its VMs, steps (with logs) and open intents, read
    /// as one snapshot.
    pub fn cluster_detail(&self, name: &str) -> Result<Option<ClusterDetail>> {
        self.read(|tx| {
            let Some(cluster) = get(tx, name)? else {
                return Ok(None);
            };
            let id = cluster_id(tx, name)?;
            Ok(Some(ClusterDetail {
                vms: vm::list(tx, id, name)?,
                steps: step::list(tx, id)?,
                open_intents: intent::list(tx, id, true)?,
                git_pins: git_pin::list(tx, id)?,
                cluster,
            }))
        })
    }

    /// Sets a cluster's status.
    pub fn set_cluster_status(&self, name: &str, status: ClusterStatus) -> Result<()> {
        self.write(|tx| update(tx, name, "status", &status))
    }

    /// Replaces a cluster's variables.
    pub fn set_cluster_variables(&self, name: &str, variables: &serde_json::Value) -> Result<()> {
        self.write(|tx| update(tx, name, "variables", &json_text(variables)))
    }

    /// Replaces the description a cluster is configured from (after
    /// `reconfigure` or `--add`) and the templates it came from.
    pub fn set_cluster_source(
        &self,
        name: &str,
        description: &str,
        templates: &[String],
    ) -> Result<()> {
        self.write(|tx| {
            update(tx, name, "description", &description)?;
            update(tx, name, "templates", &json_text(templates))
        })
    }

    /// Deletes a cluster's rows (VMs, steps, logs, intents, secrets) after
    /// a full destroy. Refuses while a VM is not `destroyed` or a provider
    /// call is open, since the provider may still hold something: deleting
    /// then would leave it untracked.
    pub fn delete_cluster(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            let id = cluster_id(tx, name)?;
            let mut stmt = tx.prepare(
                "SELECT node FROM vms WHERE cluster_id = ?1 AND state != ?2 ORDER BY node",
            )?;
            let live_vms = stmt
                .query_map(params![id, VmState::Destroyed], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            let open_intents: i64 = tx.query_row(
                "SELECT count(*) FROM intents WHERE cluster_id = ?1 AND state = 'open'",
                [id],
                |r| r.get(0),
            )?;
            if !live_vms.is_empty() || open_intents > 0 {
                return Err(StateError::ClusterNotDestroyed {
                    cluster: name.to_string(),
                    live_vms,
                    open_intents: open_intents as usize,
                });
            }
            tx.execute("DELETE FROM clusters WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// Deletes a cluster's rows whatever their state (for `destroy
    /// --force`, once the provider has been swept). Returns whether the
    /// cluster was recorded.
    pub fn purge_cluster(&self, name: &str) -> Result<bool> {
        self.write(|tx| Ok(tx.execute("DELETE FROM clusters WHERE name = ?1", [name])? > 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["demo", "a", "Demo-1.2_x", &"a".repeat(64)] {
            validate_name(ok).unwrap();
        }
        for bad in ["", "-x", ".x", "a/b", "..", "a b", "é", &"a".repeat(65)] {
            let err = validate_name(bad).unwrap_err();
            assert!(
                matches!(err, StateError::InvalidClusterName { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_status_is_accepted_by_the_schema() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store
            .create_cluster(&NewCluster {
                name: "c".into(),
                description: String::new(),
                templates: vec![],
                variables: serde_json::json!({}),
            })
            .unwrap();
        for &s in ClusterStatus::ALL {
            store.set_cluster_status("c", s).unwrap();
            assert_eq!(store.cluster("c").unwrap().unwrap().status, s);
            assert_eq!(ClusterStatus::parse(s.as_str()), Some(s));
        }
    }
}
