//! A cluster's rows as one JSON value, and that value recorded again:
//! what `nubo serve` hands out as an infrastructure's `data` (IM's export)
//! and takes back with `PUT /infrastructures` (IM's import).
//!
//! Every table keyed by the cluster is copied column by column (so a
//! column a later migration adds travels too), its `id` and `cluster_id`
//! left out; a step's log travels with its step. Provider calls (intents)
//! do not travel: a cluster with one open cannot be exported, and the
//! finished ones are history. Secrets named in `skip_secrets` (the cloud
//! credentials) are left out.

use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};
use serde_json::{Map, Value as Json};

use super::cluster::validate_name;
use super::{Result, StateError, StateStore, cluster_id};

/// The tables copied besides `clusters` and `steps`, in an order that
/// respects their references.
const TABLES: &[&str] = &[
    "vms",
    "secrets",
    "git_pins",
    "elastic_nodes",
    "elastic_decisions",
    "elastic_status",
];

/// The export's format version.
pub const EXPORT_VERSION: u64 = 1;

fn to_json(v: Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => i.into(),
        Value::Real(f) => f.into(),
        Value::Text(t) => t.into(),
        // No table of nubo's has a BLOB column.
        Value::Blob(b) => String::from_utf8_lossy(&b).into_owned().into(),
    }
}

fn from_json(v: &Json) -> std::result::Result<Value, String> {
    Ok(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(*b as i64),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().ok_or("a number out of range")?),
        },
        Json::String(s) => Value::Text(s.clone()),
        other => return Err(format!("a column value is {other}, not a scalar")),
    })
}

fn columns(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))?;
    let cols = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(cols)
}

/// `SELECT *` of `table` where `key = id`, each row a map without `id`
/// and `key` (the row's own id is kept under `"#id"` when `keep_id`).
fn rows(conn: &Connection, table: &str, key: &str, id: i64, keep_id: bool) -> Result<Vec<Json>> {
    let cols = columns(conn, table)?;
    let mut stmt = conn.prepare(&format!("SELECT * FROM {table} WHERE {key} = ?1"))?;
    let mut out = Vec::new();
    let mut q = stmt.query([id])?;
    while let Some(r) = q.next()? {
        let mut m = Map::new();
        for (i, c) in cols.iter().enumerate() {
            let v: Value = r.get(i)?;
            if c == key || c == "cluster_id" {
                continue;
            }
            if c == "id" {
                if keep_id {
                    m.insert("#id".into(), to_json(v));
                }
                continue;
            }
            m.insert(c.clone(), to_json(v));
        }
        out.push(Json::Object(m));
    }
    Ok(out)
}

/// Inserts `row` (a map of column to value) into `table`, with `extra`
/// columns set too; only the table's own columns are taken. Returns the
/// new row's id.
fn insert(
    conn: &Connection,
    table: &str,
    cols: &[String],
    row: &Json,
    extra: &[(&str, Value)],
) -> Result<i64> {
    let bad = |why: String| StateError::Corrupt(format!("the imported {table} row: {why}"));
    let obj = row
        .as_object()
        .ok_or_else(|| bad("not a JSON object".into()))?;
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (k, v) in extra {
        names.push(k.to_string());
        values.push(v.clone());
    }
    for (k, v) in obj {
        if k == "id" || k.starts_with('#') || extra.iter().any(|(e, _)| e == k) {
            continue;
        }
        if !cols.contains(k) {
            return Err(bad(format!("no column `{k}`")));
        }
        names.push(k.clone());
        values.push(from_json(v).map_err(bad)?);
    }
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    conn.execute(
        &format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        ),
        params_from_iter(values.iter()),
    )?;
    Ok(conn.last_insert_rowid())
}

impl StateStore {
    /// The rows of cluster `name` as one JSON value (see the module's
    /// doc); refused while a provider call is open.
    pub fn export_cluster(&self, name: &str, skip_secrets: &[&str]) -> Result<Json> {
        self.read(|tx| {
            let id = cluster_id(tx, name)?;
            let open: i64 = tx.query_row(
                "SELECT count(*) FROM intents WHERE cluster_id = ?1 AND state = 'open'",
                [id],
                |r| r.get(0),
            )?;
            if open > 0 {
                return Err(StateError::ClusterBusy {
                    cluster: name.to_string(),
                    pid: None,
                });
            }
            let cluster = rows(tx, "clusters", "id", id, false)?
                .into_iter()
                .next()
                .ok_or_else(|| StateError::ClusterNotFound(name.to_string()))?;
            let mut tables = Map::new();
            let mut steps = rows(tx, "steps", "cluster_id", id, true)?;
            for s in &mut steps {
                let sid = s["#id"].as_i64().unwrap_or(-1);
                let log: String = tx.query_row(
                    "SELECT coalesce(group_concat(text, ''), '') FROM
                       (SELECT text FROM step_log WHERE step_id = ?1 ORDER BY id)",
                    [sid],
                    |r| r.get(0),
                )?;
                if let Some(m) = s.as_object_mut() {
                    m.remove("#id");
                    m.insert("#log".into(), log.into());
                }
            }
            tables.insert("steps".into(), steps.into());
            for t in TABLES {
                let mut r = rows(tx, t, "cluster_id", id, false)?;
                if *t == "secrets" {
                    r.retain(|s| {
                        !s["name"]
                            .as_str()
                            .is_some_and(|n| skip_secrets.contains(&n))
                    });
                }
                tables.insert(t.to_string(), r.into());
            }
            Ok(serde_json::json!({
                "nubo_export": EXPORT_VERSION,
                "cluster": cluster,
                "tables": tables,
            }))
        })
    }

    /// Records a cluster from [`export_cluster`](Self::export_cluster)'s
    /// value, under its own name; returns the name. Refused when a cluster
    /// of that name exists here, or the value is not such an export.
    pub fn import_cluster(&self, data: &Json) -> Result<String> {
        let bad = |why: &str| StateError::Corrupt(format!("not a nubo export: {why}"));
        if data.get("nubo_export").and_then(Json::as_u64) != Some(EXPORT_VERSION) {
            return Err(bad("no `nubo_export` version 1"));
        }
        let cluster = data.get("cluster").ok_or_else(|| bad("no `cluster`"))?;
        let name = cluster
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("no cluster name"))?
            .to_string();
        validate_name(&name)?;
        let tables = data
            .get("tables")
            .and_then(Json::as_object)
            .ok_or_else(|| bad("no `tables`"))?;
        self.write_durable(|tx| {
            if tx
                .query_row(
                    "SELECT 1 FROM clusters WHERE name = ?1",
                    [&name],
                    |_| Ok(()),
                )
                .is_ok()
            {
                return Err(StateError::ClusterExists(name.clone()));
            }
            let cols = columns(tx, "clusters")?;
            let id = insert(tx, "clusters", &cols, cluster, &[])?;
            let list = |t: &str| -> &[Json] {
                tables
                    .get(t)
                    .and_then(Json::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
            };
            let step_cols = columns(tx, "steps")?;
            for s in list("steps") {
                let sid = insert(
                    tx,
                    "steps",
                    &step_cols,
                    s,
                    &[("cluster_id", Value::Integer(id))],
                )?;
                if let Some(log) = s.get("#log").and_then(Json::as_str)
                    && !log.is_empty()
                {
                    tx.execute(
                        "INSERT INTO step_log (step_id, text) VALUES (?1, ?2)",
                        rusqlite::params![sid, log],
                    )?;
                }
            }
            for t in TABLES {
                let cols = columns(tx, t)?;
                for r in list(t) {
                    insert(tx, t, &cols, r, &[("cluster_id", Value::Integer(id))])?;
                }
            }
            Ok(name.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{NewCluster, NewVm, Secret, StepKey, StepStatus};

    #[test]
    fn an_export_imports_again_whole_without_the_skipped_secrets() {
        let a = tempfile::tempdir().unwrap();
        let s = StateStore::open(a.path()).unwrap();
        s.create_cluster(&NewCluster {
            name: "c1".into(),
            description: "system s ()".into(),
            templates: vec!["t".into()],
            variables: serde_json::json!({"x": 1}),
        })
        .unwrap();
        s.insert_vm(
            "c1",
            &NewVm {
                node: "s-1".into(),
                system: "s".into(),
                provider: "dummy".into(),
                state: crate::state::VmState::Running,
            },
        )
        .unwrap();
        let key = StepKey::new("s-1", "s", 0);
        s.put_step("c1", &key, "h").unwrap();
        s.start_step("c1", &key).unwrap();
        s.append_step_log("c1", &key, "one\n").unwrap();
        s.append_step_log("c1", &key, "two\n").unwrap();
        s.finish_step("c1", &key, StepStatus::Ok, Some(0)).unwrap();
        s.put_secret("c1", "auth", &Secret::new("cloud")).unwrap();
        s.put_secret("c1", "other", &Secret::new("kept")).unwrap();
        let data = s.export_cluster("c1", &["auth"]).unwrap();
        assert!(!data.to_string().contains("cloud"), "{data}");

        let b = tempfile::tempdir().unwrap();
        let t = StateStore::open(b.path()).unwrap();
        assert_eq!(t.import_cluster(&data).unwrap(), "c1");
        let d = t.cluster_detail("c1").unwrap().unwrap();
        assert_eq!(d.cluster.description, "system s ()");
        assert_eq!(d.vms.len(), 1);
        assert_eq!(d.steps.len(), 1);
        assert_eq!(d.steps[0].log, "one\ntwo\n");
        assert_eq!(d.steps[0].status, StepStatus::Ok);
        assert!(t.secret("c1", "auth").unwrap().is_none());
        assert_eq!(t.secret("c1", "other").unwrap().unwrap().expose(), "kept");
        // Twice: the name is taken.
        assert!(matches!(
            t.import_cluster(&data),
            Err(StateError::ClusterExists(_))
        ));
        // Foreign and malformed values are refused, nothing recorded.
        for bad in [
            serde_json::json!({"id": "x", "vm_list": []}),
            serde_json::json!({"nubo_export": 1, "cluster": {"name": "../x"}, "tables": {}}),
            serde_json::json!({"nubo_export": 1, "cluster": {"name": "c2", "bogus": 1}, "tables": {}}),
        ] {
            assert!(t.import_cluster(&bad).is_err(), "{bad}");
        }
        assert!(t.cluster("c2").unwrap().is_none());
    }
}
