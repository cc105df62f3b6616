//! The embedded, crash-safe state store: clusters, their VMs, configuration
//! steps with their logs, the intent log of provider calls, and secrets.
//!
//! One SQLite file, `state.db`, in the state directory (`$NUBO_HOME`, else
//! `~/.local/share/nubo`; see [`StateStore::default_dir`]). Every write is
//! one transaction, committed durably before the call returns:
//!
//! - `journal_mode=WAL`, so readers never block the writer and a crash
//!   leaves either the old or the new state, never a mix;
//! - two levels of durability, chosen per write. Every commit is written
//!   to the WAL with `write(2)` before the call returns (`synchronous=NORMAL`),
//!   so it survives the nubo process being killed (SIGKILL, a panic): the
//!   data is in the kernel's page cache, and the next connection reads it
//!   from the WAL. That is enough for the frequent writes (VM rows, the
//!   completion of intents, steps and their logs). The writes an untracked
//!   resource could follow from, the opening of an intent before a
//!   provider call ([`StateStore::begin_intent`]) and secrets, are also
//!   made durable against a power loss or kernel crash before the call
//!   returns: the WAL file is fsynced, as `synchronous=FULL` would after
//!   the commit, but outside the connection's lock and once for every
//!   commit made meanwhile (a group commit), so 50 VMs launched at once
//!   share a few fsyncs instead of queueing on 50. The WAL is sequential
//!   and replayed up to its first incomplete frame, so what survives a
//!   power loss is always a prefix of the commits: a durable intent brings
//!   every earlier write with it, and a completion lost with the power
//!   leaves its intent open, which the next command reconciles with the
//!   provider (a lost step record only makes the step run again; steps are
//!   idempotent). A power loss may cost a re-run, never an untracked VM;
//! - `foreign_keys=ON`, so a cluster's rows go with it;
//! - a busy timeout, so two nubo processes (say `list` while `launch`
//!   writes) wait for each other instead of failing.
//!
//! The database, its `-wal` and `-shm` files, the lock files and their
//! directories are private to the user (0600 files, 0700 directories): the
//! store holds secrets. Per-cluster advisory locks ([`StateStore::lock_cluster`])
//! keep two processes from acting on one cluster at once; the database's own
//! locking keeps each transaction atomic.
//!
//! The store is synchronous. A `StateStore` is `Send + Sync` (one connection
//! behind a mutex); async callers run its calls on a blocking thread.

mod cluster;
mod elastic;
mod error;
mod export;
mod git_pin;
mod intent;
mod lock;
mod schema;
mod secret;
mod step;
mod vm;

pub use cluster::{Cluster, ClusterDetail, ClusterStatus, ClusterSummary, NewCluster};
pub use elastic::{DecisionRecord, QueueRecord};
pub use error::{Result, StateError};
pub use export::EXPORT_VERSION;
pub use git_pin::GitPin;
pub use intent::{Intent, IntentId, IntentKind, IntentParams, IntentState, Outcome};
pub use lock::ClusterLock;
pub use schema::SCHEMA_VERSION;
pub use secret::Secret;
pub use step::{Step, StepKey, StepStatus};
pub use vm::{NewVm, Vm, VmCreated, VmState};

use std::ffi::OsString;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

/// The database file's name inside the state directory.
pub const DB_FILE: &str = "state.db";

/// The lock file held while a process sets the database up.
const OPEN_LOCK_FILE: &str = "open.lock";

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The WAL is truncated to this size after a checkpoint.
const WAL_SIZE_LIMIT: i64 = 4 << 20;

/// The embedded state store. See the module documentation.
#[derive(Debug)]
pub struct StateStore {
    dir: PathBuf,
    conn: Mutex<Connection>,
    /// Commits made through `conn` so far (counted with `conn` locked).
    committed: AtomicU64,
    /// How many of them are known fsynced.
    synced: AtomicU64,
    /// The WAL file, opened at the first durable write; locked while one
    /// fsync runs.
    wal: Mutex<Option<std::fs::File>>,
}

impl StateStore {
    /// The default state directory: `$NUBO_HOME`, else
    /// `$XDG_DATA_HOME/nubo`, else `$HOME/.local/share/nubo`.
    pub fn default_dir() -> Result<PathBuf> {
        Self::default_dir_from(|k| std::env::var_os(k)).ok_or(StateError::NoStateDir)
    }

    /// [`default_dir`](Self::default_dir) with the environment given as a
    /// function (for tests). Empty variables count as unset.
    pub fn default_dir_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
        let var = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(home) = var("NUBO_HOME") {
            return Some(home);
        }
        if let Some(data) = var("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
            return Some(data.join("nubo"));
        }
        var("HOME").map(|h| h.join(".local/share/nubo"))
    }

    /// Opens (creating it if needed) the store in `dir`: creates the
    /// directory (0700), the database (0600), sets the pragmas and brings
    /// the schema up to date.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        create_private_dir(&dir)?;
        // One process at a time sets a database up: SQLite refuses, without
        // waiting, one of two connections turning a new database to WAL at
        // once ("database is locked"). The kernel drops the lock however
        // the holder exits.
        let _setup = lock_setup(&dir)?;
        let path = dir.join(DB_FILE);
        // Create the file ourselves, 0600, before SQLite opens it: SQLite
        // gives the -wal and -shm files the database file's permissions.
        create_private_file(&path)?;

        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StateError::io(
                &path,
                std::io::Error::other(format!(
                    "write-ahead logging is not available here (journal mode stays \
                     {mode}); put NUBO_HOME on a local file system"
                )),
            ));
        }
        // Durable writes fsync the WAL themselves (see `write_durable`).
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        schema::migrate(&mut conn, &path)?;

        // Belt and braces: whatever created them, the WAL and shared-memory
        // files are the user's alone.
        for suffix in ["", "-wal", "-shm"] {
            restrict_if_exists(&sibling(&path, suffix))?;
        }
        Ok(StateStore {
            dir,
            conn: Mutex::new(conn),
            committed: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            wal: Mutex::new(None),
        })
    }

    /// Whether `name` can name a cluster (it also names files).
    pub fn check_name(name: &str) -> Result<()> {
        cluster::validate_name(name)
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.dir.join(DB_FILE)
    }

    /// Runs SQLite's `PRAGMA integrity_check`; an error lists what is wrong.
    pub fn integrity_check(&self) -> Result<()> {
        let conn = self.conn();
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if rows.len() == 1 && rows[0] == "ok" {
            Ok(())
        } else {
            Err(StateError::Damaged(rows.join("; ")))
        }
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped its transaction, which
        // rolled back: the connection is still good.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one write transaction, committed before returning: in
    /// the WAL, safe from the process being killed, not fsynced (see the
    /// module documentation). `BEGIN IMMEDIATE` takes the write lock up
    /// front, so the busy timeout applies and checks made in `f` hold
    /// until the commit.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.write_counted(f).map(|(out, _)| out)
    }

    /// [`write`](Self::write), and the WAL fsynced before returning, so the
    /// commit (and every earlier one) also survives a power loss.
    fn write_durable<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let (out, seq) = self.write_counted(f)?;
        self.sync_through(seq)?;
        Ok(out)
    }

    fn write_counted<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<(T, u64)> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok((out, self.committed.fetch_add(1, Ordering::SeqCst) + 1))
    }

    /// Makes commits up to number `seq` durable: one fsync of the WAL
    /// covers every commit made before it started, so callers that arrive
    /// while another's fsync runs are covered by the next one, or by that
    /// one if it started after their commit.
    fn sync_through(&self, seq: u64) -> Result<()> {
        if self.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        let mut wal = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        if self.synced.load(Ordering::SeqCst) >= seq {
            return Ok(());
        }
        // Every commit counted so far is in the WAL (or, checkpointed, in
        // the database file, which the checkpoint fsynced).
        let target = self.committed.load(Ordering::SeqCst);
        let path = sibling(&self.db_path(), "-wal");
        if wal.is_none() {
            // The WAL exists while this connection is open: it made a commit.
            *wal = Some(std::fs::File::open(&path).map_err(|e| StateError::io(&path, e))?);
        }
        if let Some(f) = wal.as_ref() {
            f.sync_data().map_err(|e| StateError::io(&path, e))?;
        }
        self.synced.fetch_max(target, Ordering::SeqCst);
        Ok(())
    }

    /// Runs `f` in one read transaction: a consistent snapshot.
    fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// The row id of the cluster named `name`.
fn cluster_id(conn: &Connection, name: &str) -> Result<i64> {
    conn.query_row("SELECT id FROM clusters WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| StateError::ClusterNotFound(name.to_string()))
}

/// A point in time: milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        if self.0 >= 0 {
            UNIX_EPOCH + Duration::from_millis(self.0 as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(self.0.unsigned_abs())
        }
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.0.into())
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        i64::column_result(value).map(Timestamp)
    }
}

/// Defines a fieldless enum stored as text: `as_str`, `parse`, `Display`,
/// serde's `Serialize` as the same text, and rusqlite's `ToSql`/`FromSql`.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value stored as `text`.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                Self::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!("unknown {} {text:?}", stringify!($name)).into(),
                    )
                })
            }
        }
    };
}
pub(crate) use text_enum;

/// A JSON value in a text column.
fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // Serialising plain data (strings, vectors, `serde_json::Value`)
    // cannot fail.
    serde_json::to_string(value).expect("plain data serialises to JSON")
}

/// Reads column `idx` as JSON text.
fn json_col<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Creates `dir` and its missing parents, 0700.
fn create_private_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StateError::io(dir, e))
}

/// Creates `path` if missing, 0600, and narrows it to 0600 if it exists
/// with wider permissions.
fn create_private_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| StateError::io(path, e))?;
    restrict_if_exists(path)
}

/// Takes the state directory's set-up lock (`open.lock`, 0600), waiting
/// for another process that holds it; dropping the file releases it.
fn lock_setup(dir: &Path) -> Result<fs::File> {
    let path = dir.join(OPEN_LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StateError::io(&path, e))?;
    file.lock().map_err(|e| StateError::io(&path, e))?;
    Ok(file)
}

/// Narrows an existing file to 0600 when group or others have any access.
fn restrict_if_exists(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            fs::set_permissions(path, Permissions::from_mode(0o600))
                .map_err(|e| StateError::io(path, e))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StateError::io(path, e)),
    }
}

/// `path` with `suffix` appended to its file name (`state.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create_vm(number: u32) -> IntentParams {
        IntentParams::CreateVm {
            provider: "local".into(),
            system: "s".into(),
            number,
        }
    }

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn default_dir_prefers_nubo_home() {
        let vars = [("NUBO_HOME", "/n"), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(StateStore::default_dir_from(env(&vars)), Some("/n".into()));
        let vars = [("NUBO_HOME", ""), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(
            StateStore::default_dir_from(env(&vars)),
            Some("/x/nubo".into())
        );
        let vars = [("XDG_DATA_HOME", "relative"), ("HOME", "/h")];
        assert_eq!(
            StateStore::default_dir_from(env(&vars)),
            Some("/h/.local/share/nubo".into())
        );
        assert_eq!(StateStore::default_dir_from(env(&[])), None);
    }

    #[test]
    fn timestamps_round_trip_through_system_time() {
        let t = Timestamp(1_700_000_000_123);
        let back = t
            .to_system_time()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        assert_eq!(back, 1_700_000_000_123);
        assert!(Timestamp::now() > t);
    }

    #[test]
    fn open_sets_the_durability_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let conn = store.conn();
        let get = |name: &str| -> String {
            conn.pragma_query_value(None, name, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| match v {
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Text(t) => t,
                    other => format!("{other:?}"),
                })
                .unwrap()
        };
        assert_eq!(get("journal_mode"), "wal");
        assert_eq!(
            get("synchronous"),
            "1",
            "NORMAL: durable writes fsync the WAL"
        );
        assert_eq!(get("foreign_keys"), "1");
        assert_eq!(get("busy_timeout"), BUSY_TIMEOUT.as_millis().to_string());
        assert_eq!(get("user_version"), SCHEMA_VERSION.to_string());
        assert_eq!(get("application_id"), schema::APPLICATION_ID.to_string());
    }

    #[test]
    fn intents_are_fsynced_and_progress_is_not() {
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
        let counts = || {
            (
                store.committed.load(Ordering::SeqCst),
                store.synced.load(Ordering::SeqCst),
            )
        };
        let (committed, synced) = counts();
        assert!(synced < committed, "{synced} of {committed}");
        store
            .set_cluster_status("c", ClusterStatus::Launching)
            .unwrap();
        let intent = store.begin_intent("c", "n", &create_vm(1)).unwrap();
        let (committed, synced) = counts();
        assert_eq!(synced, committed, "the intent and all before it");
        store
            .complete_intent(intent.id, Outcome::Failed { error: "x".into() })
            .unwrap();
        assert_eq!(counts(), (committed + 1, synced));
        // Concurrent durable writes all end synced.
        std::thread::scope(|s| {
            for i in 0..8 {
                let store = &store;
                s.spawn(move || {
                    store
                        .begin_intent("c", &format!("n{i}"), &create_vm(i))
                        .unwrap();
                });
            }
        });
        let (committed, synced) = counts();
        assert_eq!(synced, committed);
    }

    /// The guarantee `open` builds on: SQLite creates the -wal and -shm
    /// files with the database file's permissions, whatever the umask, so
    /// they are never readable by others, not even for a moment.
    #[test]
    fn sqlite_gives_wal_and_shm_the_database_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        create_private_file(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        let _: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let mode = fs::metadata(sibling(&path, suffix))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{suffix}");
        }
    }

    #[test]
    fn sibling_appends_to_the_file_name() {
        assert_eq!(
            sibling(Path::new("/a/state.db"), "-wal"),
            PathBuf::from("/a/state.db-wal")
        );
    }
}

#[cfg(test)]
mod open_race_tests {
    use super::*;

    /// Regression: two `nubo launch` processes on a fresh state directory
    /// failed with "database is locked": both turned the new database to
    /// WAL at once, and SQLite refuses one without waiting.
    #[test]
    fn many_stores_opening_a_fresh_directory_at_once_all_succeed() {
        for _ in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(6));
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    let d = dir.path().to_path_buf();
                    let b = barrier.clone();
                    std::thread::spawn(move || {
                        b.wait();
                        StateStore::open(&d).map(|_| ())
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        }
    }
}
