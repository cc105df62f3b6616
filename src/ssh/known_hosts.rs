//! `KnownHosts`: the host-key store. Trust on first use, verify afterwards,
//! never accept a changed key.
//!
//! The file is OpenSSH's known_hosts format (one `NAME KEYTYPE BASE64` line
//! per key, `NAME` being `host` on port 22 and `[host]:port` otherwise), kept
//! with mode 0600, so `ssh -o UserKnownHostsFile=FILE` reads it too. nubo
//! reads plain entries, comma-separated name lists included; hashed names
//! (`|1|...`) and `@cert-authority`/`@revoked` lines are left alone.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use russh::keys::{Algorithm, HashAlg, PublicKey};
use tracing::{debug, info, warn};

use super::error::SshError;
use super::target::known_hosts_name;

/// The host-key store, cheap to clone (clones share one store).
///
/// A host with no recorded key has the key it presents recorded at first
/// contact (TOFU). A host with recorded keys must present one of them, or
/// the connection fails with [`SshError::HostKeyMismatch`]. A provider that
/// generated a machine's host key records it beforehand with
/// [`KnownHosts::pin`], so even the first contact is verified.
#[derive(Clone, Debug)]
pub struct KnownHosts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `None` for a store that lives only in memory.
    path: Option<PathBuf>,
    /// Known-hosts name (`host` or `[host]:port`) to its keys.
    keys: Mutex<BTreeMap<String, Vec<PublicKey>>>,
}

/// What [`KnownHosts::check`] concluded about a presented key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The key is one recorded for the host.
    Verified,
    /// The host was unknown; the key is now recorded.
    Recorded,
}

impl KnownHosts {
    /// The store kept in `path`, read now if the file exists. The file (and
    /// its directory) is created at the first key recorded.
    pub fn open(path: impl Into<PathBuf>) -> Result<KnownHosts, SshError> {
        let path = path.into();
        let keys = match fs::read_to_string(&path) {
            Ok(text) => parse(&path, &text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(SshError::KnownHostsIo {
                    path,
                    action: "read",
                    source,
                });
            }
        };
        debug!(path = %path.display(), hosts = keys.len(), "known hosts loaded");
        Ok(KnownHosts {
            inner: Arc::new(Inner {
                path: Some(path),
                keys: Mutex::new(keys),
            }),
        })
    }

    /// A store that lives only in memory, for one run.
    pub fn in_memory() -> KnownHosts {
        KnownHosts {
            inner: Arc::new(Inner {
                path: None,
                keys: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The file behind the store, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The keys recorded for `host` on `port`.
    pub fn keys_for(&self, host: &str, port: u16) -> Vec<PublicKey> {
        let name = known_hosts_name(host, port);
        self.lock().get(&name).cloned().unwrap_or_default()
    }

    /// Records `key` as the one key `host` on `port` must present, replacing
    /// whatever was recorded for it. For a provider that generated the
    /// machine's host key itself (an address reused by a new machine gets
    /// the new machine's key).
    pub fn pin(&self, host: &str, port: u16, key: PublicKey) -> Result<(), SshError> {
        let name = known_hosts_name(host, port);
        let mut keys = self.lock();
        match keys.get(&name) {
            // Already the one key recorded: nothing to write.
            Some(old) if old.len() == 1 && same_key(&old[0], &key) => return Ok(()),
            Some(old) if !old.iter().any(|k| same_key(k, &key)) => {
                info!(host = %name, key = %fingerprint(&key), "host key pinned, replacing the recorded one");
            }
            _ => {}
        }
        if let Some(path) = &self.inner.path {
            rewrite_with(path, &name, Some(&key))?;
        }
        keys.insert(name, vec![key]);
        Ok(())
    }

    /// Forgets every key recorded for `host` on `port`: the machine there is
    /// gone (destroyed, powered off for good, re-created), and a new one
    /// that gets its address must not be refused for presenting another
    /// key. Nothing recorded: nothing to do.
    pub fn forget(&self, host: &str, port: u16) -> Result<(), SshError> {
        let name = known_hosts_name(host, port);
        let mut keys = self.lock();
        if keys.remove(&name).is_none() {
            return Ok(());
        }
        info!(host = %name, "host keys forgotten: the machine is gone");
        if let Some(path) = &self.inner.path {
            rewrite_with(path, &name, None)?;
        }
        Ok(())
    }

    /// Checks the key `host` on `port` presented: verified if recorded,
    /// recorded if the host is new, an error if the host has other keys.
    pub(crate) fn check(
        &self,
        host: &str,
        port: u16,
        key: &PublicKey,
    ) -> Result<Verdict, SshError> {
        let name = known_hosts_name(host, port);
        let mut keys = self.lock();
        match keys.get(&name) {
            Some(known) if known.iter().any(|k| same_key(k, key)) => {
                debug!(host = %name, key = %fingerprint(key), "host key verified");
                Ok(Verdict::Verified)
            }
            Some(known) => {
                let expected = known
                    .iter()
                    .map(fingerprint)
                    .collect::<Vec<_>>()
                    .join(" or ");
                warn!(host = %name, %expected, found = %fingerprint(key), "host key mismatch");
                Err(SshError::HostKeyMismatch {
                    host: name,
                    store: self.describe(),
                    expected,
                    found: fingerprint(key),
                })
            }
            None => {
                if let Some(path) = &self.inner.path {
                    append(path, &name, key)?;
                }
                info!(host = %name, key = %fingerprint(key), "new host, key recorded (trust on first use)");
                keys.insert(name, vec![key.clone()]);
                Ok(Verdict::Recorded)
            }
        }
    }

    /// The host-key algorithms to ask `host` on `port` for: those of its
    /// recorded keys, so a server with several host keys presents the one
    /// we know. `None` when nothing is recorded (any algorithm will do).
    pub(crate) fn algorithms_for(&self, host: &str, port: u16) -> Option<Vec<Algorithm>> {
        let known = self.keys_for(host, port);
        if known.is_empty() {
            return None;
        }
        let preferred: Vec<Algorithm> = russh::Preferred::DEFAULT
            .key
            .iter()
            .filter(|a| known.iter().any(|k| same_family(&k.algorithm(), a)))
            .cloned()
            .collect();
        (!preferred.is_empty()).then_some(preferred)
    }

    fn describe(&self) -> String {
        match &self.inner.path {
            Some(p) => p.display().to_string(),
            None => "the in-memory known hosts".to_string(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Vec<PublicKey>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (each update is one insert), so a poisoned lock is still usable.
        self.inner.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `ssh-ed25519 SHA256:...`: the key's type and SHA-256 fingerprint, as
/// `ssh-keygen -lf` and sshd's log show it.
pub fn fingerprint(key: &PublicKey) -> String {
    format!(
        "{} {}",
        key.algorithm().as_str(),
        key.fingerprint(HashAlg::Sha256)
    )
}

/// Equal key material (comments aside).
fn same_key(a: &PublicKey, b: &PublicKey) -> bool {
    a.key_data() == b.key_data()
}

/// A key's algorithm and a negotiable host-key algorithm of the same kind
/// (an RSA key serves `rsa-sha2-256`, `rsa-sha2-512` and `ssh-rsa`).
fn same_family(key: &Algorithm, negotiated: &Algorithm) -> bool {
    match (key, negotiated) {
        (Algorithm::Rsa { .. }, Algorithm::Rsa { .. }) => true,
        _ => key == negotiated,
    }
}

/// `NAME KEYTYPE BASE64\n`, without the key's comment.
fn line_for(name: &str, key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    let text = key
        .to_openssh()
        .expect("a public key the server sent (or we parsed) encodes");
    format!("{name} {}\n", text.trim_end())
}

fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Vec<PublicKey>>, SshError> {
    let mut out: BTreeMap<String, Vec<PublicKey>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        let err = |message: String| SshError::KnownHostsParse {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        };
        let mut fields = line.split_whitespace();
        let (Some(names), Some(kind), Some(blob)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(err(
                "expected `NAME KEYTYPE BASE64`, found fewer fields".to_string()
            ));
        };
        if names.starts_with('|') {
            continue; // hashed names: cannot be matched without hashing ours
        }
        let key = PublicKey::from_openssh(&format!("{kind} {blob}"))
            .map_err(|e| err(format!("not a public key nubo can read ({e})")))?;
        for name in names.split(',') {
            out.entry(name.to_string()).or_default().push(key.clone());
        }
    }
    Ok(out)
}

fn io_err<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> SshError + 'a {
    move |source| SshError::KnownHostsIo {
        path: path.to_path_buf(),
        action,
        source,
    }
}

fn ensure_dir(path: &Path) -> Result<(), SshError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            fs::create_dir_all(dir).map_err(io_err(path, "create the directory of"))
        }
        _ => Ok(()),
    }
}

/// Appends one entry; appends of whole lines from several processes do not
/// lose each other's entries.
fn append(path: &Path, name: &str, key: &PublicKey) -> Result<(), SshError> {
    ensure_dir(path)?;
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path, "open"))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(io_err(path, "restrict the permissions of"))?;
    file.write_all(line_for(name, key).as_bytes())
        .map_err(io_err(path, "write"))
}

/// Rewrites the file with `name`'s entries replaced by `key` (or removed,
/// for `None`), keeping every
/// other line as it is (re-read now, so entries other processes added
/// stay). Written to a temporary file and renamed over, so a reader never
/// sees half a file. Not fsynced, like [`append`]: a pin is made again from
/// the provider at every connection, so one lost with the power is only
/// made again, and a launch of many machines does not wait on a disk flush
/// per machine. One rewrite at a time in this process: callers holding
/// different [`KnownHosts`] of one file (destroy forgets VMs concurrently)
/// would otherwise share the temporary file and lose each other's updates.
fn rewrite_with(path: &Path, name: &str, key: Option<&PublicKey>) -> Result<(), SshError> {
    static REWRITING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = REWRITING.lock().unwrap_or_else(|e| e.into_inner());
    ensure_dir(path)?;
    let old = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(SshError::KnownHostsIo {
                path: path.to_path_buf(),
                action: "read",
                source,
            });
        }
    };
    let mut text = String::with_capacity(old.len() + 128);
    for line in old.lines() {
        let trimmed = line.trim();
        let names = trimmed.split_whitespace().next().unwrap_or("");
        let is_entry =
            !(trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('@'));
        if is_entry && names.split(',').any(|n| n == name) {
            let others: Vec<&str> = names.split(',').filter(|n| *n != name).collect();
            if !others.is_empty() {
                text.push_str(&others.join(","));
                text.push_str(&trimmed[names.len()..]);
                text.push('\n');
            }
        } else {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some(key) = key {
        text.push_str(&line_for(name, key));
    }

    let tmp = path.with_extension(format!("nubo-tmp.{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = fs::remove_file(&tmp);
        SshError::KnownHostsIo {
            path: path.to_path_buf(),
            action: "rewrite",
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ a@x";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZTjKDKx5duNVqyXdWKUmNcy6auXENDg1+2Ix/B7lsh";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn tofu_then_verify_then_mismatch() {
        let kh = KnownHosts::in_memory();
        assert_eq!(kh.check("h", 2222, &key(ED_A)).unwrap(), Verdict::Recorded);
        assert_eq!(kh.check("h", 2222, &key(ED_A)).unwrap(), Verdict::Verified);
        // Another port is another host.
        assert_eq!(kh.check("h", 22, &key(ED_B)).unwrap(), Verdict::Recorded);
        let err = kh.check("h", 2222, &key(ED_B)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{msg}");
        assert!(msg.contains("[h]:2222"), "{msg}");
        assert!(
            msg.contains(&key(ED_A).fingerprint(HashAlg::Sha256).to_string()),
            "{msg}"
        );
        assert!(
            msg.contains(&key(ED_B).fingerprint(HashAlg::Sha256).to_string()),
            "{msg}"
        );
        // The mismatch recorded nothing.
        assert!(same_key(&kh.keys_for("h", 2222)[0], &key(ED_A)));
        assert_eq!(kh.keys_for("h", 2222).len(), 1);
    }

    #[test]
    fn file_is_openssh_format_mode_0600_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        let kh = KnownHosts::open(&path).unwrap();
        assert!(!path.exists(), "nothing written before the first record");
        kh.check("10.0.0.5", 2222, &key(ED_A)).unwrap();
        kh.check("10.0.0.6", 22, &key(ED_B)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let a = ED_A.rsplit_once(' ').unwrap().0; // comment dropped
        assert_eq!(text, format!("[10.0.0.5]:2222 {a}\n10.0.0.6 {ED_B}\n"));
        assert_eq!(mode(&path), 0o600);

        let again = KnownHosts::open(&path).unwrap();
        assert_eq!(
            again.check("10.0.0.5", 2222, &key(ED_A)).unwrap(),
            Verdict::Verified
        );
        assert!(again.check("10.0.0.6", 22, &key(ED_A)).is_err());
    }

    #[test]
    fn pin_replaces_and_keeps_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(
            &path,
            format!("# comment\n[h]:2222,other {ED_A}\n|1|abc= {ED_A}\nz {ED_B}\n"),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let kh = KnownHosts::open(&path).unwrap();
        assert!(same_key(&kh.keys_for("other", 22)[0], &key(ED_A)));
        kh.pin("h", 2222, key(ED_B)).unwrap();
        assert_eq!(kh.check("h", 2222, &key(ED_B)).unwrap(), Verdict::Verified);
        assert!(kh.check("h", 2222, &key(ED_A)).is_err());
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("# comment\nother {ED_A}\n|1|abc= {ED_A}\nz {ED_B}\n[h]:2222 {ED_B}\n")
        );
        assert_eq!(mode(&path), 0o600);
    }

    /// IM issue 313: a new machine that got a removed one's address was
    /// refused for presenting another key.
    #[test]
    fn forgotten_host_accepts_a_new_key_at_its_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, format!("[h]:2222,other {ED_A}\nz {ED_B}\n")).unwrap();
        let kh = KnownHosts::open(&path).unwrap();
        assert!(kh.check("h", 2222, &key(ED_B)).is_err());
        kh.forget("h", 2222).unwrap();
        kh.forget("never-seen", 22).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("other {ED_A}\nz {ED_B}\n")
        );
        assert_eq!(kh.check("h", 2222, &key(ED_B)).unwrap(), Verdict::Recorded);
        let again = KnownHosts::open(&path).unwrap();
        assert_eq!(
            again.check("h", 2222, &key(ED_B)).unwrap(),
            Verdict::Verified
        );
        assert!(same_key(&again.keys_for("other", 22)[0], &key(ED_A)));
    }

    #[test]
    fn bad_line_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, format!("h {ED_A}\nh ssh-ed25519 notbase64!\n")).unwrap();
        let err = KnownHosts::open(&path).unwrap_err().to_string();
        assert!(err.contains("known_hosts:2:"), "{err}");
    }

    #[test]
    fn algorithms_follow_recorded_keys() {
        let kh = KnownHosts::in_memory();
        assert_eq!(kh.algorithms_for("h", 22), None);
        kh.pin("h", 22, key(ED_A)).unwrap();
        assert_eq!(kh.algorithms_for("h", 22), Some(vec![Algorithm::Ed25519]));
    }
}
