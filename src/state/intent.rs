//! The intent log: a row committed before every provider call and
//! completed after it.
//!
//! The protocol, for a caller about to ask a provider to do something:
//!
//! 1. `begin_intent(cluster, target, params)`: commits an `open` row of
//!    the call `params` stands for ([`IntentParams`], which says its kind
//!    and the provider it goes to) with a fresh idempotency token, and
//!    returns it;
//! 2. the provider call, passing the token (a provider that can tags the
//!    resource with it, so it can be found again);
//! 3. `complete_intent(id, outcome)`, or `record_vm_created` /
//!    `record_vm_destroyed`, which complete it together with the VM row.
//!
//! A crash between 1 and 3 leaves the row `open`. Before acting on a
//! cluster again, nubo lists `open_intents(cluster)` and reconciles each
//! with the provider (looking the token up): it finishes what the provider
//! did, or undoes it, then completes the intent. So a VM the provider
//! created is always either recorded or found through its open intent.

use std::fmt;
use std::io::Read;

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Result, StateError, StateStore, Timestamp, cluster_id, json_text, text_enum};

/// An intent's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct IntentId(pub i64);

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

text_enum! {
    /// Which provider call an intent stands for.
    pub enum IntentKind {
        CreateVm = "create_vm",
        DestroyVm = "destroy_vm",
        StartVm = "start_vm",
        StopVm = "stop_vm",
        RebootVm = "reboot_vm",
        CreateNetwork = "create_network",
        DestroyNetwork = "destroy_network",
    }
}

text_enum! {
    /// Whether the call an intent stands for has finished.
    pub enum IntentState {
        /// Written before the call; the outcome is not known.
        Open = "open",
        /// The call succeeded.
        Done = "done",
        /// The call failed.
        Failed = "failed",
    }
}

/// What a provider call an intent stands for is given: its kind (the row's
/// `kind`) and its parameters (the row's `params`, a JSON object of the
/// variant's fields, as nubo has always written them: `{"provider": "one",
/// "system": "wn", "number": 1}`). Every call names its provider, the auth
/// file's id of the cloud it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IntentParams {
    /// VM number `number` of system `system`.
    CreateVm {
        provider: String,
        system: String,
        number: u32,
    },
    /// `id`: the provider's id of the VM.
    DestroyVm {
        provider: String,
        id: String,
    },
    StartVm {
        provider: String,
        id: String,
    },
    StopVm {
        provider: String,
        id: String,
    },
    RebootVm {
        provider: String,
        id: String,
    },
    CreateNetwork {
        provider: String,
    },
    DestroyNetwork {
        provider: String,
    },
}

impl IntentParams {
    /// The kind of call.
    pub fn kind(&self) -> IntentKind {
        match self {
            IntentParams::CreateVm { .. } => IntentKind::CreateVm,
            IntentParams::DestroyVm { .. } => IntentKind::DestroyVm,
            IntentParams::StartVm { .. } => IntentKind::StartVm,
            IntentParams::StopVm { .. } => IntentKind::StopVm,
            IntentParams::RebootVm { .. } => IntentKind::RebootVm,
            IntentParams::CreateNetwork { .. } => IntentKind::CreateNetwork,
            IntentParams::DestroyNetwork { .. } => IntentKind::DestroyNetwork,
        }
    }

    /// The auth file's id of the provider the call goes to.
    pub fn provider(&self) -> &str {
        match self {
            IntentParams::CreateVm { provider, .. }
            | IntentParams::DestroyVm { provider, .. }
            | IntentParams::StartVm { provider, .. }
            | IntentParams::StopVm { provider, .. }
            | IntentParams::RebootVm { provider, .. }
            | IntentParams::CreateNetwork { provider }
            | IntentParams::DestroyNetwork { provider } => provider,
        }
    }

    /// Reads the `params` of a row of kind `kind`; the error says what is
    /// wrong with it (a missing field, a wrong type).
    fn decode(kind: IntentKind, text: &str) -> std::result::Result<IntentParams, String> {
        #[derive(serde::Deserialize)]
        struct Vm {
            provider: String,
            system: String,
            number: u32,
        }
        #[derive(serde::Deserialize)]
        struct OnVm {
            provider: String,
            id: String,
        }
        #[derive(serde::Deserialize)]
        struct Network {
            provider: String,
        }
        fn read<T: DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
            serde_json::from_str(text).map_err(|e| e.to_string())
        }
        Ok(match kind {
            IntentKind::CreateVm => {
                let Vm {
                    provider,
                    system,
                    number,
                } = read(text)?;
                IntentParams::CreateVm {
                    provider,
                    system,
                    number,
                }
            }
            IntentKind::DestroyVm => {
                let OnVm { provider, id } = read(text)?;
                IntentParams::DestroyVm { provider, id }
            }
            IntentKind::StartVm => {
                let OnVm { provider, id } = read(text)?;
                IntentParams::StartVm { provider, id }
            }
            IntentKind::StopVm => {
                let OnVm { provider, id } = read(text)?;
                IntentParams::StopVm { provider, id }
            }
            IntentKind::RebootVm => {
                let OnVm { provider, id } = read(text)?;
                IntentParams::RebootVm { provider, id }
            }
            IntentKind::CreateNetwork => {
                let Network { provider } = read(text)?;
                IntentParams::CreateNetwork { provider }
            }
            IntentKind::DestroyNetwork => {
                let Network { provider } = read(text)?;
                IntentParams::DestroyNetwork { provider }
            }
        })
    }
}

/// How a provider call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded; `provider_id` is the id of what it made or acted on.
    Done { provider_id: Option<String> },
    /// It failed with this error.
    Failed { error: String },
}

/// One row of the intent log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    pub id: IntentId,
    pub cluster: String,
    pub kind: IntentKind,
    /// What the call acts on: a node name, a network name.
    pub target: String,
    /// The idempotency token to hand to the provider.
    pub token: String,
    /// The call's parameters (of this kind).
    pub params: IntentParams,
    pub state: IntentState,
    pub created_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    /// On `done`: the provider's id for what the call made or acted on.
    pub provider_id: Option<String>,
    /// On `failed`: the error.
    pub error: Option<String>,
}

const SELECT: &str = "SELECT i.id, c.name, i.kind, i.target, i.token, i.params, i.state,
        i.created_at, i.completed_at, i.provider_id, i.error
    FROM intents i JOIN clusters c ON c.id = i.cluster_id";

/// A row; the outer error is SQLite's, the inner one parameters this nubo
/// cannot read.
fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<Intent>> {
    let id = IntentId(row.get(0)?);
    let kind: IntentKind = row.get(2)?;
    let target: String = row.get(3)?;
    let text: String = row.get(5)?;
    let params = match IntentParams::decode(kind, &text) {
        Ok(p) => p,
        Err(reason) => {
            return Ok(Err(StateError::BadIntentParams {
                id,
                kind,
                target,
                reason,
            }));
        }
    };
    Ok(Ok(Intent {
        id,
        cluster: row.get(1)?,
        kind,
        target,
        token: row.get(4)?,
        params,
        state: row.get(6)?,
        created_at: row.get(7)?,
        completed_at: row.get(8)?,
        provider_id: row.get(9)?,
        error: row.get(10)?,
    }))
}

pub(crate) fn get(conn: &Connection, id: IntentId) -> Result<Option<Intent>> {
    conn.query_row(&format!("{SELECT} WHERE i.id = ?1"), [id.0], from_row)
        .optional()?
        .transpose()
}

/// The cluster's intents (only the open ones if `open_only`), oldest first.
pub(crate) fn list(conn: &Connection, cid: i64, open_only: bool) -> Result<Vec<Intent>> {
    let filter = if open_only {
        "AND i.state = 'open'"
    } else {
        ""
    };
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE i.cluster_id = ?1 {filter} ORDER BY i.id"
    ))?;
    let rows = stmt.query_map([cid], from_row)?;
    rows.collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .collect()
}

/// The intent `id`, which must be open and of kind `kind`.
pub(crate) fn expect_open(conn: &Connection, id: IntentId, kind: IntentKind) -> Result<Intent> {
    let intent = get(conn, id)?.ok_or(StateError::IntentNotFound(id))?;
    if intent.state != IntentState::Open {
        return Err(StateError::IntentNotOpen {
            id,
            state: intent.state,
        });
    }
    if intent.kind != kind {
        return Err(StateError::IntentKindMismatch {
            id,
            kind: intent.kind,
            expected: kind,
        });
    }
    Ok(intent)
}

/// Completes the open intent `id` with `outcome`.
pub(crate) fn complete(conn: &Connection, id: IntentId, outcome: &Outcome) -> Result<()> {
    let (state, provider_id, error) = match outcome {
        Outcome::Done { provider_id } => (IntentState::Done, provider_id.as_deref(), None),
        Outcome::Failed { error } => (IntentState::Failed, None, Some(error.as_str())),
    };
    let n = conn.execute(
        "UPDATE intents SET state = ?1, completed_at = ?2, provider_id = ?3, error = ?4
         WHERE id = ?5 AND state = 'open'",
        params![state, Timestamp::now(), provider_id, error, id.0],
    )?;
    if n == 0 {
        return Err(match get(conn, id)? {
            None => StateError::IntentNotFound(id),
            Some(i) => StateError::IntentNotOpen { id, state: i.state },
        });
    }
    Ok(())
}

/// A fresh idempotency token: a ULID (26 characters of Crockford base32,
/// 48 bits of milliseconds then 80 random bits), so tokens sort by time and
/// never repeat.
pub fn new_token() -> Result<String> {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut random = [0u8; 10];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(|e| StateError::io("/dev/urandom", e))?;
    let ms = (Timestamp::now().as_millis() as u128) & ((1 << 48) - 1);
    let value = random.iter().fold(ms, |acc, &b| (acc << 8) | u128::from(b));
    Ok((0..26)
        .map(|i| ALPHABET[((value >> (125 - 5 * i)) & 31) as usize] as char)
        .collect())
}

impl StateStore {
    /// Commits an `open` intent for the provider call `params` stands for,
    /// about to be made on `target` (a node, a network), with a fresh
    /// idempotency token. Call it before the provider call; pass
    /// `intent.token` to the provider. Fsynced: it survives a power loss.
    pub fn begin_intent(
        &self,
        cluster: &str,
        target: &str,
        params: &IntentParams,
    ) -> Result<Intent> {
        let token = new_token()?;
        self.write_durable(|tx| {
            let cid = cluster_id(tx, cluster)?;
            tx.execute(
                "INSERT INTO intents (cluster_id, kind, target, token, params, state, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    cid,
                    params.kind(),
                    target,
                    token,
                    json_text(params),
                    IntentState::Open,
                    Timestamp::now()
                ],
            )?;
            let id = IntentId(tx.last_insert_rowid());
            get(tx, id)?.ok_or(StateError::IntentNotFound(id))
        })
    }

    /// Completes an open intent with the call's outcome. Completing an
    /// intent twice is an error.
    pub fn complete_intent(&self, id: IntentId, outcome: Outcome) -> Result<Intent> {
        self.write(|tx| {
            complete(tx, id, &outcome)?;
            get(tx, id)?.ok_or(StateError::IntentNotFound(id))
        })
    }

    /// The intent `id`, if recorded.
    pub fn intent(&self, id: IntentId) -> Result<Option<Intent>> {
        self.read(|tx| get(tx, id))
    }

    /// The cluster's open intents, oldest first: the provider calls whose
    /// outcome a crash may have lost, to reconcile before anything else.
    pub fn open_intents(&self, cluster: &str) -> Result<Vec<Intent>> {
        self.read(|tx| list(tx, cluster_id(tx, cluster)?, true))
    }

    /// Every intent of the cluster, oldest first.
    pub fn intents(&self, cluster: &str) -> Result<Vec<Intent>> {
        self.read(|tx| list(tx, cluster_id(tx, cluster)?, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_ulids() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        // The first character holds the top 3 bits of the time: 0..=7.
        assert!(a.as_bytes()[0] <= b'7');
        // The first 10 characters are the time, so tokens sort by time.
        assert!(a[..10] <= b[..10]);
    }

    #[test]
    fn every_kind_and_state_parses_back() {
        for &k in IntentKind::ALL {
            assert_eq!(IntentKind::parse(k.as_str()), Some(k));
        }
        for &s in IntentState::ALL {
            assert_eq!(IntentState::parse(&s.to_string()), Some(s));
        }
        assert_eq!(IntentKind::parse("create_vms"), None);
    }

    fn store_with_rows(rows: &[(&str, &str, &str)]) -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store
            .create_cluster(&crate::state::NewCluster {
                name: "c".into(),
                description: String::new(),
                templates: vec![],
                variables: serde_json::json!({}),
            })
            .unwrap();
        store
            .write(|tx| {
                for (i, (kind, target, params)) in rows.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO intents (cluster_id, kind, target, token, params, state, created_at) \
                         VALUES ((SELECT id FROM clusters WHERE name = 'c'), ?1, ?2, ?3, ?4, 'open', 1)",
                        params![kind, target, format!("T{i}"), params],
                    )?;
                }
                Ok(())
            })
            .unwrap();
        (dir, store)
    }

    #[test]
    fn rows_as_nubo_has_always_written_them_read_back_typed() {
        let (_dir, store) = store_with_rows(&[
            ("create_network", "c-net", r#"{"provider":"one"}"#),
            (
                "create_vm",
                "wn-1",
                r#"{"number":1,"provider":"local","system":"wn"}"#,
            ),
            ("stop_vm", "wn-1", r#"{"id":"42","provider":"one"}"#),
            (
                "destroy_vm",
                "wn-2",
                r#"{"id":"eu-west-1/i-1","provider":"aws","extra":true}"#,
            ),
        ]);
        let got: Vec<IntentParams> = store
            .open_intents("c")
            .unwrap()
            .into_iter()
            .map(|i| {
                assert_eq!(i.kind, i.params.kind());
                i.params
            })
            .collect();
        assert_eq!(
            got,
            [
                IntentParams::CreateNetwork {
                    provider: "one".into()
                },
                IntentParams::CreateVm {
                    provider: "local".into(),
                    system: "wn".into(),
                    number: 1
                },
                IntentParams::StopVm {
                    provider: "one".into(),
                    id: "42".into()
                },
                IntentParams::DestroyVm {
                    provider: "aws".into(),
                    id: "eu-west-1/i-1".into()
                },
            ]
        );
        assert_eq!(got[3].provider(), "aws");
    }

    #[test]
    fn params_are_written_as_before_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store
            .create_cluster(&crate::state::NewCluster {
                name: "c".into(),
                description: String::new(),
                templates: vec![],
                variables: serde_json::json!({}),
            })
            .unwrap();
        let p = IntentParams::CreateVm {
            provider: "one".into(),
            system: "wn".into(),
            number: 3,
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"provider": "one", "system": "wn", "number": 3})
        );
        let i = store.begin_intent("c", "wn-3", &p).unwrap();
        assert_eq!((i.kind, &i.params), (IntentKind::CreateVm, &p));
        assert_eq!(store.intent(i.id).unwrap().unwrap(), i);
    }

    #[test]
    fn a_row_without_its_provider_is_an_error_naming_the_intent() {
        let (_dir, store) = store_with_rows(&[
            ("create_vm", "wn-1", r#"{"system":"wn","number":1}"#),
            ("destroy_vm", "wn-2", r#"{"provider":"one"}"#),
        ]);
        let err = store.open_intents("c").unwrap_err();
        assert!(
            matches!(
                &err,
                StateError::BadIntentParams { id: IntentId(1), kind: IntentKind::CreateVm, target, .. }
                    if target == "wn-1"
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("intent 1 (create_vm of `wn-1`) has parameters this nubo cannot read: missing field `provider`"), "{msg}");
        assert!(msg.contains("nubo destroy --force"), "{msg}");
        let err = store.intent(IntentId(2)).unwrap_err().to_string();
        assert!(err.contains("intent 2 (destroy_vm of `wn-2`)"), "{err}");
        assert!(err.contains("missing field `id`"), "{err}");
    }
}
