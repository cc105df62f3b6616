//! VMs: one row per node of a cluster, from before the provider is asked
//! for it (`pending`) until after it is gone (`destroyed`).

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{
    IntentId, IntentKind, Outcome, Result, StateError, StateStore, Timestamp, cluster_id, intent,
    json_col, json_text, text_enum,
};

text_enum! {
    /// A VM's state as nubo last saw it.
    pub enum VmState {
        /// Planned; the provider has not been asked yet.
        Pending = "pending",
        /// The provider has been asked to create it.
        Creating = "creating",
        Running = "running",
        Stopped = "stopped",
        Failed = "failed",
        /// The provider has been asked to destroy it.
        Destroying = "destroying",
        /// The provider no longer holds it.
        Destroyed = "destroyed",
    }
}

/// A VM as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vm {
    pub cluster: String,
    /// The node's name in the cluster (`wn-1`).
    pub node: String,
    /// The RADL system it is an instance of (`wn`).
    pub system: String,
    /// The provider's id in the auth file (`local`).
    pub provider: String,
    /// The provider's id for the VM, once known.
    pub provider_vm_id: Option<String>,
    pub addresses: Vec<String>,
    pub state: VmState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What `insert_vm` records: no provider id and no addresses yet.
#[derive(Debug, Clone, PartialEq)]
pub struct NewVm {
    pub node: String,
    pub system: String,
    pub provider: String,
    pub state: VmState,
}

/// What the provider said when it created a VM.
#[derive(Debug, Clone, PartialEq)]
pub struct VmCreated {
    pub provider_vm_id: String,
    pub addresses: Vec<String>,
    /// Usually `running`.
    pub state: VmState,
}

const COLUMNS: &str =
    "node, system, provider, provider_vm_id, addresses, state, created_at, updated_at";

fn from_row(cluster: &str, row: &Row<'_>) -> rusqlite::Result<Vm> {
    Ok(Vm {
        cluster: cluster.to_string(),
        node: row.get(0)?,
        system: row.get(1)?,
        provider: row.get(2)?,
        provider_vm_id: row.get(3)?,
        addresses: json_col(row, 4)?,
        state: row.get(5)?,
        created_at: row.get(6)?,
        updated_at: row.get(7)?,
    })
}

fn get(conn: &Connection, cid: i64, cluster: &str, node: &str) -> Result<Option<Vm>> {
    Ok(conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM vms WHERE cluster_id = ?1 AND node = ?2"),
            params![cid, node],
            |r| from_row(cluster, r),
        )
        .optional()?)
}

fn get_existing(conn: &Connection, cid: i64, cluster: &str, node: &str) -> Result<Vm> {
    get(conn, cid, cluster, node)?.ok_or_else(|| StateError::VmNotFound {
        cluster: cluster.to_string(),
        node: node.to_string(),
    })
}

/// The cluster's VMs, by node name.
pub(crate) fn list(conn: &Connection, cid: i64, cluster: &str) -> Result<Vec<Vm>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM vms WHERE cluster_id = ?1 ORDER BY node"
    ))?;
    let rows = stmt.query_map([cid], |r| from_row(cluster, r))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Sets one column of a VM (and `updated_at`).
fn update(
    conn: &Connection,
    cluster: &str,
    node: &str,
    set: &str,
    value: &dyn rusqlite::ToSql,
) -> Result<()> {
    let cid = cluster_id(conn, cluster)?;
    let n = conn.execute(
        &format!("UPDATE vms SET {set} = ?1, updated_at = ?2 WHERE cluster_id = ?3 AND node = ?4"),
        params![value, Timestamp::now(), cid, node],
    )?;
    if n == 0 {
        return Err(StateError::VmNotFound {
            cluster: cluster.to_string(),
            node: node.to_string(),
        });
    }
    Ok(())
}

impl StateStore {
    /// Records a node of a cluster, before the provider is asked for it.
    pub fn insert_vm(&self, cluster: &str, new: &NewVm) -> Result<Vm> {
        self.write(|tx| {
            let cid = cluster_id(tx, cluster)?;
            if get(tx, cid, cluster, &new.node)?.is_some() {
                return Err(StateError::VmExists {
                    cluster: cluster.to_string(),
                    node: new.node.clone(),
                });
            }
            let now = Timestamp::now();
            tx.execute(
                "INSERT INTO vms (cluster_id, node, system, provider, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![cid, new.node, new.system, new.provider, new.state, now],
            )?;
            get_existing(tx, cid, cluster, &new.node)
        })
    }

    /// The VM of node `node`, if recorded.
    pub fn vm(&self, cluster: &str, node: &str) -> Result<Option<Vm>> {
        self.read(|tx| {
            let cid = cluster_id(tx, cluster)?;
            get(tx, cid, cluster, node)
        })
    }

    /// The cluster's VMs, by node name, destroyed ones included.
    pub fn vms(&self, cluster: &str) -> Result<Vec<Vm>> {
        self.read(|tx| list(tx, cluster_id(tx, cluster)?, cluster))
    }

    /// Sets a VM's state.
    pub fn set_vm_state(&self, cluster: &str, node: &str, state: VmState) -> Result<()> {
        self.write(|tx| update(tx, cluster, node, "state", &state))
    }

    /// Replaces a VM's addresses.
    pub fn set_vm_addresses(&self, cluster: &str, node: &str, addresses: &[String]) -> Result<()> {
        self.write(|tx| update(tx, cluster, node, "addresses", &json_text(addresses)))
    }

    /// Sets (or clears) the provider's id for a VM.
    pub fn set_vm_provider_id(
        &self,
        cluster: &str,
        node: &str,
        provider_vm_id: Option<&str>,
    ) -> Result<()> {
        self.write(|tx| update(tx, cluster, node, "provider_vm_id", &provider_vm_id))
    }

    /// Forgets a VM and its steps (after scaling down). The caller has
    /// destroyed it first.
    pub fn delete_vm(&self, cluster: &str, node: &str) -> Result<()> {
        self.write(|tx| {
            let cid = cluster_id(tx, cluster)?;
            tx.execute(
                "DELETE FROM steps WHERE cluster_id = ?1 AND node = ?2",
                params![cid, node],
            )?;
            let n = tx.execute(
                "DELETE FROM vms WHERE cluster_id = ?1 AND node = ?2",
                params![cid, node],
            )?;
            if n == 0 {
                return Err(StateError::VmNotFound {
                    cluster: cluster.to_string(),
                    node: node.to_string(),
                });
            }
            Ok(())
        })
    }

    /// Completes a `create_vm` intent as done and records what the provider
    /// returned on the intent's target VM, in one transaction: after a
    /// crash either both happened or neither did.
    pub fn record_vm_created(&self, id: IntentId, created: &VmCreated) -> Result<Vm> {
        self.write(|tx| {
            let intent = intent::expect_open(tx, id, IntentKind::CreateVm)?;
            let cid = cluster_id(tx, &intent.cluster)?;
            get_existing(tx, cid, &intent.cluster, &intent.target)?;
            intent::complete(
                tx,
                id,
                &Outcome::Done {
                    provider_id: Some(created.provider_vm_id.clone()),
                },
            )?;
            tx.execute(
                "UPDATE vms SET provider_vm_id = ?1, addresses = ?2, state = ?3, updated_at = ?4
                 WHERE cluster_id = ?5 AND node = ?6",
                params![
                    created.provider_vm_id,
                    json_text(&created.addresses),
                    created.state,
                    Timestamp::now(),
                    cid,
                    intent.target,
                ],
            )?;
            get_existing(tx, cid, &intent.cluster, &intent.target)
        })
    }

    /// Completes a `destroy_vm` intent as done and marks its target VM
    /// `destroyed`, in one transaction.
    pub fn record_vm_destroyed(&self, id: IntentId) -> Result<Vm> {
        self.write(|tx| {
            let intent = intent::expect_open(tx, id, IntentKind::DestroyVm)?;
            let cid = cluster_id(tx, &intent.cluster)?;
            let vm = get_existing(tx, cid, &intent.cluster, &intent.target)?;
            intent::complete(
                tx,
                id,
                &Outcome::Done {
                    provider_id: vm.provider_vm_id,
                },
            )?;
            update(
                tx,
                &intent.cluster,
                &intent.target,
                "state",
                &VmState::Destroyed,
            )?;
            get_existing(tx, cid, &intent.cluster, &intent.target)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{IntentParams, NewCluster};

    #[test]
    fn a_failed_record_changes_neither_intent_nor_vm() {
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
        let vm = store
            .insert_vm(
                "c",
                &NewVm {
                    node: "n".into(),
                    system: "s".into(),
                    provider: "local".into(),
                    state: VmState::Creating,
                },
            )
            .unwrap();
        let stop = store
            .begin_intent(
                "c",
                "n",
                &IntentParams::StopVm {
                    provider: "local".into(),
                    id: "p".into(),
                },
            )
            .unwrap();
        let created = VmCreated {
            provider_vm_id: "p".into(),
            addresses: vec![],
            state: VmState::Running,
        };
        let err = store.record_vm_created(stop.id, &created).unwrap_err();
        assert!(
            matches!(err, StateError::IntentKindMismatch { .. }),
            "{err}"
        );
        assert_eq!(store.intent(stop.id).unwrap().unwrap(), stop);
        assert_eq!(store.vm("c", "n").unwrap().unwrap(), vm);
    }
}
