//! The schema and its migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied; each
//! migration runs in the same transaction as the version bump, so a crash
//! leaves the schema at one version or the next. A database from a newer
//! nubo (a higher version) is refused rather than written to.
//!
//! Closed sets of values (states, statuses) are `CHECK`ed by the database;
//! intent kinds are not, so a new provider call needs no table rebuild
//! (nubo checks them when reading).

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::{Result, StateError};

/// `PRAGMA application_id`: "nubo" in ASCII, so a stray SQLite file is
/// recognised as not ours.
pub(crate) const APPLICATION_ID: i32 = 0x6e75_626f;

/// The migrations, in order; the schema version is how many have run.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE clusters (
        id          INTEGER PRIMARY KEY,
        name        TEXT    NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        -- the cluster description's source text, as launched
        description TEXT    NOT NULL,
        -- JSON list of the template names it was made from
        templates   TEXT    NOT NULL DEFAULT '[]',
        status      TEXT    NOT NULL CHECK (status IN
                    ('launching', 'configuring', 'running', 'stopped', 'failed', 'destroying')),
        -- JSON: cluster variables
        variables   TEXT    NOT NULL DEFAULT '{}'
    ) STRICT;

    CREATE TABLE vms (
        id             INTEGER PRIMARY KEY,
        cluster_id     INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        node           TEXT    NOT NULL,
        system         TEXT    NOT NULL,
        -- the provider's id in the auth file, e.g. 'local'
        provider       TEXT    NOT NULL,
        -- the provider's id for the VM, once known
        provider_vm_id TEXT,
        -- JSON list of addresses
        addresses      TEXT    NOT NULL DEFAULT '[]',
        state          TEXT    NOT NULL CHECK (state IN
                       ('pending', 'creating', 'running', 'stopped', 'failed',
                        'destroying', 'destroyed')),
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL,
        UNIQUE (cluster_id, node)
    ) STRICT;

    CREATE TABLE steps (
        id          INTEGER PRIMARY KEY,
        cluster_id  INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        node        TEXT    NOT NULL,
        configure   TEXT    NOT NULL,
        step        INTEGER NOT NULL CHECK (step >= 0),
        recipe_hash TEXT    NOT NULL,
        status      TEXT    NOT NULL CHECK (status IN
                    ('pending', 'running', 'ok', 'failed', 'skipped')),
        exit_status INTEGER,
        started_at  INTEGER,
        ended_at    INTEGER,
        UNIQUE (cluster_id, node, configure, step)
    ) STRICT;

    -- A step's output, appended a chunk at a time: appending costs the
    -- chunk, not the whole log so far.
    CREATE TABLE step_log (
        id      INTEGER PRIMARY KEY,
        step_id INTEGER NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
        text    TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX step_log_by_step ON step_log (step_id, id);

    -- One row per provider call, written before the call and completed
    -- after it.
    CREATE TABLE intents (
        id           INTEGER PRIMARY KEY,
        cluster_id   INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        kind         TEXT    NOT NULL,
        -- what the call acts on: a node name, a network name
        target       TEXT    NOT NULL,
        -- the idempotency token handed to the provider
        token        TEXT    NOT NULL UNIQUE,
        -- JSON: the call's parameters
        params       TEXT    NOT NULL DEFAULT '{}',
        state        TEXT    NOT NULL CHECK (state IN ('open', 'done', 'failed')),
        created_at   INTEGER NOT NULL,
        completed_at INTEGER,
        -- the outcome: what the provider returned, or its error
        provider_id  TEXT,
        error        TEXT,
        CHECK ((state = 'open') = (completed_at IS NULL))
    ) STRICT;
    CREATE INDEX intents_open ON intents (cluster_id, id) WHERE state = 'open';

    CREATE TABLE secrets (
        cluster_id INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        name       TEXT    NOT NULL,
        value      TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, name)
    ) STRICT;
    "#,
    // 2: the elasticity daemon's nodes, decisions and last queue reading.
    r#"
    CREATE TABLE elastic_nodes (
        cluster_id  INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        node        TEXT    NOT NULL,
        -- JSON: elastic::ElasticNode
        data        TEXT    NOT NULL,
        PRIMARY KEY (cluster_id, node)
    ) STRICT;

    CREATE TABLE elastic_decisions (
        id          INTEGER PRIMARY KEY,
        cluster_id  INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        at          INTEGER NOT NULL,
        node        TEXT    NOT NULL,
        action      TEXT    NOT NULL,
        reason      TEXT    NOT NULL
    ) STRICT;
    CREATE INDEX elastic_decisions_by_cluster ON elastic_decisions (cluster_id, id);

    CREATE TABLE elastic_status (
        cluster_id  INTEGER PRIMARY KEY REFERENCES clusters(id) ON DELETE CASCADE,
        at          INTEGER NOT NULL,
        -- JSON: the last elastic::Snapshot
        snapshot    TEXT    NOT NULL,
        -- the daemon's pid at that reading
        pid         INTEGER NOT NULL
    ) STRICT;
    "#,
    // 3: the commit each git reference of a cluster's recipes stands for.
    r#"
    CREATE TABLE git_pins (
        cluster_id  INTEGER NOT NULL REFERENCES clusters(id) ON DELETE CASCADE,
        url         TEXT    NOT NULL,
        -- the revision as written; '' for the repository's default branch
        rev         TEXT    NOT NULL,
        commit_id   TEXT    NOT NULL,
        resolved_at INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, url, rev)
    ) STRICT;
    "#,
];

/// The schema version this nubo writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the database at `path` up to [`SCHEMA_VERSION`].
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app_id: i32 = tx.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_tables: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table')",
        [],
        |r| r.get(0),
    )?;
    if app_id != APPLICATION_ID && (app_id != 0 || has_tables) {
        return Err(StateError::NotNuboDatabase {
            path: path.to_path_buf(),
            found: app_id,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StateError::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        migrate(&mut conn, &path).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_database_is_brought_up_to_date_keeping_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "application_id", APPLICATION_ID)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO clusters (name, created_at, updated_at, description, status)
             VALUES ('c', 0, 0, 'd', 'running')",
            [],
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let v: u32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let n: i64 = conn
            .query_row("SELECT count(*) FROM clusters", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        conn.execute(
            "INSERT INTO git_pins (cluster_id, url, rev, commit_id, resolved_at)
             SELECT id, 'u', '', 'c0ffee', 0 FROM clusters",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(matches!(err, StateError::SchemaTooNew { .. }), "{err}");
        assert!(err.to_string().contains("use a newer nubo"));
    }

    #[test]
    fn a_foreign_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x)").unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(matches!(err, StateError::NotNuboDatabase { .. }), "{err}");
    }
}
