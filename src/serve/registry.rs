//! The infrastructures this server knows: each IM id is a nubo cluster of
//! the same name in the state directory (so `nubo show ID` sees it), owned
//! by the digest of the IM credentials that made it.
//!
//! Ownership is recorded in `serve/ID.json` in the state directory (0600,
//! in a 0700 directory) before anything is made, so a restarted server
//! knows every infrastructure, and one killed during a create leaves the
//! cluster it began tracked. What a background operation is doing lives in
//! memory ([`Job`]); the per-infrastructure lock orders the operations
//! (a destroy that arrives during a create waits for it).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use super::auth::Owner;

/// What the server is doing with an infrastructure, besides the records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Job {
    Idle,
    /// A background operation runs (`create`, `reconfigure`, ...).
    Running(&'static str),
    /// The last operation failed, with this message (for `contmsg`).
    Failed(String),
    Deleting,
}

/// One user an infrastructure belongs to: the digest of its IM
/// credentials, and the user name shown by `authorization` (never the
/// password).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Grant {
    pub owner: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug)]
pub struct Infra {
    pub id: String,
    /// Who may use it: who made it, and those added through
    /// `POST .../authorization`.
    grants: Mutex<Vec<Grant>>,
    /// Held by every operation that changes the infrastructure.
    pub lock: Arc<tokio::sync::Mutex<()>>,
    job: Mutex<Job>,
    /// The infrastructure's own log (what `contmsg` shows first).
    log: Mutex<String>,
}

impl Infra {
    pub fn is_owner(&self, who: &Owner) -> bool {
        self.grants().iter().any(|g| g.owner == who.0)
    }

    pub fn grants(&self) -> Vec<Grant> {
        self.grants
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn job(&self) -> Job {
        self.job.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_job(&self, job: Job) {
        if let Job::Failed(m) = &job {
            self.note(m);
        }
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = job;
    }

    pub fn note(&self, line: &str) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push_str(line);
        log.push('\n');
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Record {
    id: String,
    /// Who made it (what records before grants held).
    owner: String,
    /// Every owner, the maker first; empty in records written before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    grants: Vec<Grant>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an infrastructure record: {source}", path.display())]
    Bad {
        path: PathBuf,
        source: serde_json::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug)]
pub struct Registry {
    dir: PathBuf,
    infras: RwLock<HashMap<String, Arc<Infra>>>,
}

impl Registry {
    /// Reads the records in `dir` (made, 0700, if missing). Blocking.
    pub fn open(dir: PathBuf) -> Result<Registry, RegistryError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io(&dir))?;
        let mut infras = HashMap::new();
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            let r: Record = serde_json::from_str(&text).map_err(|source| RegistryError::Bad {
                path: path.clone(),
                source,
            })?;
            let grants = if r.grants.is_empty() {
                vec![Grant {
                    owner: r.owner,
                    name: String::new(),
                }]
            } else {
                r.grants
            };
            infras.insert(r.id.clone(), Arc::new(new_infra(r.id, grants)));
        }
        Ok(Registry {
            dir,
            infras: RwLock::new(infras),
        })
    }

    /// Records a new infrastructure for `owner` (user `name`), durably.
    /// Blocking.
    pub fn add(&self, id: &str, owner: &Owner, name: &str) -> Result<Arc<Infra>, RegistryError> {
        let path = self.dir.join(format!("{id}.json"));
        let grants = vec![Grant {
            owner: owner.0.clone(),
            name: name.to_string(),
        }];
        let text = record_text(id, &grants);
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(text.as_bytes()).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
        let infra = Arc::new(new_infra(id.to_string(), grants));
        self.infras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), infra.clone());
        Ok(infra)
    }

    /// Replaces who an infrastructure belongs to, durably (the record is
    /// written whole beside the old one, then renamed over it). Blocking.
    pub fn set_grants(&self, infra: &Infra, grants: Vec<Grant>) -> Result<(), RegistryError> {
        let path = self.dir.join(format!("{}.json", infra.id));
        let tmp = self.dir.join(format!("{}.json.tmp", infra.id));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        f.write_all(record_text(&infra.id, &grants).as_bytes())
            .map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        *infra.grants.lock().unwrap_or_else(|p| p.into_inner()) = grants;
        Ok(())
    }

    /// Forgets an infrastructure (destroyed). Blocking.
    pub fn remove(&self, id: &str) -> Result<(), RegistryError> {
        self.infras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let path = self.dir.join(format!("{id}.json"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Infra>> {
        self.infras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// `owner`'s infrastructures, sorted by id.
    pub fn of(&self, owner: &Owner) -> Vec<Arc<Infra>> {
        let mut v: Vec<Arc<Infra>> = self
            .infras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|i| i.is_owner(owner))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }
}

fn record_text(id: &str, grants: &[Grant]) -> String {
    serde_json::to_string(&Record {
        id: id.to_string(),
        owner: grants.first().map(|g| g.owner.clone()).unwrap_or_default(),
        grants: grants.to_vec(),
    })
    .expect("a record serializes")
}

fn new_infra(id: String, grants: Vec<Grant>) -> Infra {
    Infra {
        id,
        grants: Mutex::new(grants),
        lock: Arc::new(tokio::sync::Mutex::new(())),
        job: Mutex::new(Job::Idle),
        log: Mutex::new(String::new()),
    }
}

/// A new infrastructure id: a random (version 4) UUID.
pub fn new_id() -> String {
    let mut b = [0u8; 16];
    let mut filled = 0;
    while filled < b.len() {
        // SAFETY: the pointer and length describe the unfilled part of `b`.
        let n = unsafe { libc::getrandom(b[filled..].as_mut_ptr().cast(), b.len() - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_reopen_and_ids_are_uuids() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::open(dir.path().join("serve")).unwrap();
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_id());
        let alice = Owner("a".into());
        let infra = r.add(&id, &alice, "alice").unwrap();
        let bob = Owner("b".into());
        let mut grants = infra.grants();
        grants.push(Grant {
            owner: bob.0.clone(),
            name: "bob".into(),
        });
        r.set_grants(&infra, grants).unwrap();
        let again = Registry::open(dir.path().join("serve")).unwrap();
        assert_eq!(again.of(&alice).len(), 1);
        assert_eq!(again.of(&bob).len(), 1);
        assert_eq!(again.get(&id).unwrap().grants()[1].name, "bob");
        assert!(again.of(&Owner("c".into())).is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("serve").join(format!("{id}.json")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        again.remove(&id).unwrap();
        assert!(
            Registry::open(dir.path().join("serve"))
                .unwrap()
                .get(&id)
                .is_none()
        );
    }
}
