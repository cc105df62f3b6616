//! The SSH layer against a real OpenSSH server.
//!
//! Each test starts its own `/usr/sbin/sshd` on a free loopback port, with a
//! host key and an authorized user key made by `ssh-keygen` in a temporary
//! directory, and kills it (with every process it forked) when done. sshd
//! runs as root, so these tests need root and openssh-server
//! (`scripts/install-test-deps.sh` installs it); elsewhere they skip, or
//! fail under `NUBO_REQUIRE_SYSTEM_TESTS=1`.
//!
//! `cargo test ssh::exec_latency -- --nocapture` shows the measured latency
//! of one command over a pooled connection.

use crate::support::skip_or_fail;
use nubo::ssh::{
    KnownHosts, Parents, Pool, PublicKey, Session, SshError, SshTarget, Stream, fingerprint,
    wait_for_ssh,
};
use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Every test body runs under this bound, so a hang fails instead of
/// stalling the suite.
async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test exceeded its 60 s bound")
}

/// Keys and a port for one test's sshd.
struct Fixture {
    dir: tempfile::TempDir,
    port: u16,
    /// Two host keys: sshd starts with one or the other.
    host_keys: [PathBuf; 2],
    /// In `authorized_keys`.
    user_key: PathBuf,
    /// Not in `authorized_keys`.
    wrong_key: PathBuf,
}

impl Fixture {
    /// `None` (after saying why) where sshd cannot run here.
    fn new() -> Option<Fixture> {
        if !Path::new(SSHD).exists() {
            skip_or_fail("/usr/sbin/sshd is missing (scripts/install-test-deps.sh installs it)");
            return None;
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            skip_or_fail("the sshd tests need root (sshd runs as root to log users in)");
            return None;
        }
        if Command::new("ssh-keygen").arg("-?").output().is_err() {
            skip_or_fail("ssh-keygen is missing (install openssh-client)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let keygen = |name: &str| {
            let path = dir.path().join(name);
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "nubo-test", "-f"])
                .arg(&path)
                .status()
                .unwrap()
                .success();
            assert!(ok, "ssh-keygen failed for {name}");
            path
        };
        let host_keys = [keygen("host_a"), keygen("host_b")];
        let user_key = keygen("user");
        let wrong_key = keygen("wrong");
        fs::copy(
            user_key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        // sshd refuses to start without its privilege-separation directory.
        fs::create_dir_all("/run/sshd").unwrap();
        fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755)).unwrap();
        Some(Fixture {
            port: free_port(),
            dir,
            host_keys,
            user_key,
            wrong_key,
        })
    }

    fn target(&self) -> SshTarget {
        SshTarget::new("127.0.0.1", self.port, "root", &self.user_key)
    }

    fn host_public_key(&self, which: usize) -> PublicKey {
        let text = fs::read_to_string(self.host_keys[which].with_extension("pub")).unwrap();
        PublicKey::from_openssh(text.trim()).unwrap()
    }

    /// `SHA256:...` of a host key, as `ssh-keygen -lf` prints it.
    fn keygen_fingerprint(&self, which: usize) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.host_keys[which].with_extension("pub"))
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace().nth(1).unwrap().to_string()
    }

    /// Starts sshd with host key `which` (0 or 1) on the fixture's port.
    fn start(&self, which: usize) -> Sshd {
        self.start_with(which, "")
    }

    /// [`Fixture::start`] with more lines of sshd_config.
    fn start_with(&self, which: usize, extra_config: &str) -> Sshd {
        let d = self.dir.path();
        let config = d.join(format!("sshd_config_{which}"));
        fs::write(
            &config,
            format!(
                "ListenAddress 127.0.0.1\n\
                 Port {port}\n\
                 HostKey {host_key}\n\
                 AuthorizedKeysFile {authorized}\n\
                 PidFile {pid}\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 LogLevel INFO\n\
                 {extra_config}",
                port = self.port,
                host_key = self.host_keys[which].display(),
                authorized = d.join("authorized_keys").display(),
                pid = d.join(format!("sshd_{which}.pid")).display(),
            ),
        )
        .unwrap();
        let log = d.join(format!("sshd_{which}.log"));
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Sshd { child, log }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running sshd; dropping it kills it and every process it forked.
struct Sshd {
    child: Child,
    log: PathBuf,
}

impl Sshd {
    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connections sshd accepted and authenticated.
    fn logins(&self) -> usize {
        self.log().matches("Accepted publickey for root").count()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // sshd forks a process per connection, each in a session of its
        // own, so killing a process group would miss them. Kill the tree
        // from the leaves up, letting each parent reap its children, then
        // the listener, which we reap.
        let master = self.child.id() as i32;
        let mut tree = descendants(master);
        tree.reverse(); // deepest first
        for &pid in &tree {
            // SAFETY: kill(2) on a pid this test started; no memory involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline
            && tree
                .iter()
                .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every process below `root`, from /proc, parents before children.
fn descendants(root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            out.push(c);
            stack.push(c);
        }
    }
    out
}

/// Connects, waiting for sshd to come up.
async fn connect(fx: &Fixture, known_hosts: &KnownHosts) -> Session {
    wait_for_ssh(
        &fx.target(),
        known_hosts,
        Instant::now() + Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn wait_for_ssh_succeeds_when_sshd_starts_late() {
    let Some(fx) = Fixture::new() else { return };
    bounded(async {
        let target = fx.target();
        let known_hosts = KnownHosts::in_memory();
        let started = Instant::now();
        let waiting = {
            let (target, known_hosts) = (target.clone(), known_hosts.clone());
            tokio::spawn(async move {
                wait_for_ssh(
                    &target,
                    &known_hosts,
                    Instant::now() + Duration::from_secs(20),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "connected before sshd started");
        let sshd = fx.start(0);
        let session = waiting.await.unwrap().unwrap_or_else(|e| panic!("{e}"));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
        let out = session.exec("echo up").await.unwrap();
        assert_eq!(out.stdout, b"up\n");
        eprintln!("connected {waited:?} after the first attempt (sshd started at 300 ms)");
        drop(session);
        drop(sshd);
    })
    .await;
}

#[tokio::test]
async fn wait_for_ssh_gives_up_at_the_deadline() {
    let Some(fx) = Fixture::new() else { return };
    bounded(async {
        // Nothing listens on the port: every attempt is refused.
        let started = Instant::now();
        let err = wait_for_ssh(
            &fx.target(),
            &KnownHosts::in_memory(),
            started + Duration::from_millis(500),
        )
        .await
        .unwrap_err();
        let waited = started.elapsed();
        let SshError::NotReady { attempts, last, .. } = &err else {
            panic!("expected NotReady, got {err}");
        };
        assert!(*attempts >= 3, "{err}");
        assert!(matches!(**last, SshError::Unreachable { .. }), "{err}");
        assert!(waited >= Duration::from_millis(500), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        assert!(err.to_string().contains("did not accept SSH"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn exec_returns_status_and_output() {
    let Some(fx) = Fixture::new() else { return };
    let _sshd = fx.start(0);
    bounded(async {
        let s = connect(&fx, &KnownHosts::in_memory()).await;

        let r = s.exec("echo out; echo err >&2").await.unwrap();
        assert_eq!(
            (r.status, &r.stdout[..], &r.stderr[..]),
            (0, &b"out\n"[..], &b"err\n"[..])
        );
        assert!(r.success());

        let r = s.exec("echo partial; exit 3").await.unwrap();
        assert_eq!(r.status, 3);
        assert_eq!(r.stdout_text(), "partial\n");

        let err = s.exec_checked("echo boom >&2; exit 5").await.unwrap_err();
        assert!(
            matches!(err, SshError::CommandFailed { status: 5, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("status 5: boom"), "{err}");

        let r = s.exec_with_stdin("tr a-z A-Z", b"hello").await.unwrap();
        assert_eq!(r.stdout, b"HELLO");

        // Without stdin a command reading it sees end of file, not a hang.
        let r = s.exec("wc -c").await.unwrap();
        assert_eq!(r.stdout_text().trim(), "0");

        // Large output in both directions (more than one channel window).
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let r = s.exec_with_stdin("cat", &big).await.unwrap();
        assert!(r.stdout == big, "cat returned {} bytes", r.stdout.len());

        let err = s.exec("kill -KILL $$").await.unwrap_err();
        assert!(matches!(err, SshError::Killed { .. }), "{err}");
        assert!(err.to_string().contains("KILL"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn cancelled_exec_stops_the_command_and_frees_its_channel() {
    let Some(fx) = Fixture::new() else { return };
    let _sshd = fx.start(0);
    bounded(async {
        let s = connect(&fx, &KnownHosts::in_memory()).await;
        let marker = format!("nubo-cancelled-{}", fx.port);
        // A command that prints until its output is closed. (sshd ignores
        // signal requests in root's sessions, so the channel's close, not
        // SIGTERM, is what stops it here.)
        let command = format!(": {marker}; while echo tick; do sleep 0.05; done");
        // More than sshd's 10 sessions per connection: each one cancelled
        // must give its slot back for the later ones to open.
        for _ in 0..12 {
            let cut = tokio::time::timeout(Duration::from_millis(300), s.exec(&command)).await;
            assert!(cut.is_err(), "the endless loop ended?");
        }
        let started = Instant::now();
        let r = s.exec("echo still usable").await.unwrap();
        assert_eq!(r.stdout, b"still usable\n");
        assert!(started.elapsed() < Duration::from_secs(2));
        // The cancelled commands were stopped, not left running.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = Command::new("pgrep")
                .args(["-f", &marker])
                .output()
                .unwrap();
            if left.stdout.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "still running: {}",
                String::from_utf8_lossy(&left.stdout)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn exec_streaming_delivers_output_as_it_arrives() {
    let Some(fx) = Fixture::new() else { return };
    let _sshd = fx.start(0);
    bounded(async {
        let s = connect(&fx, &KnownHosts::in_memory()).await;
        let started = Instant::now();
        let mut chunks: Vec<(Duration, Stream, Vec<u8>)> = Vec::new();
        let status = s
            .exec_streaming(
                "echo one; sleep 1; echo two >&2; sleep 0.2; echo three",
                |st, d| chunks.push((started.elapsed(), st, d.to_vec())),
            )
            .await
            .unwrap();
        let ended = started.elapsed();
        assert_eq!(status, 0);
        let texts: Vec<(Stream, String)> = chunks
            .iter()
            .map(|(_, st, d)| (*st, String::from_utf8_lossy(d).into_owned()))
            .collect();
        assert_eq!(
            texts,
            [
                (Stream::Stdout, "one\n".to_string()),
                (Stream::Stderr, "two\n".to_string()),
                (Stream::Stdout, "three\n".to_string()),
            ]
        );
        // "one" was seen a second before the command ended.
        let first = chunks[0].0;
        assert!(
            ended - first >= Duration::from_millis(900),
            "first chunk at {first:?}, end at {ended:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn upload_writes_file_with_mode() {
    let Some(fx) = Fixture::new() else { return };
    let _sshd = fx.start(0);
    bounded(async {
        let s = connect(&fx, &KnownHosts::in_memory()).await;
        let remote = fx.dir.path().join("up/nested dir/it's.bin");
        let remote = remote.to_str().unwrap();
        let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();

        s.upload(&bytes, remote, 0o640, Parents::Create)
            .await
            .unwrap();
        let back = s.exec(&format!("cat {}", quote(remote))).await.unwrap();
        assert!(
            back.stdout == bytes,
            "read back {} bytes",
            back.stdout.len()
        );
        let mode = s
            .exec(&format!("stat -c %a {}", quote(remote)))
            .await
            .unwrap();
        assert_eq!(mode.stdout_text().trim(), "640");

        // Replacing keeps no trace of the old content and takes the new mode.
        s.upload(b"short\n", remote, 0o600, Parents::MustExist)
            .await
            .unwrap();
        assert_eq!(fs::read(remote).unwrap(), b"short\n");
        let meta = fs::metadata(remote).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // No temporary files left beside it.
        let dir = Path::new(remote).parent().unwrap();
        assert_eq!(fs::read_dir(dir).unwrap().count(), 1);

        let missing = fx.dir.path().join("absent/file");
        let err = s
            .upload(b"x", missing.to_str().unwrap(), 0o644, Parents::MustExist)
            .await
            .unwrap_err();
        assert!(matches!(err, SshError::CommandFailed { .. }), "{err}");
        assert!(err.to_string().contains("upload of 1 bytes"), "{err}");
    })
    .await;
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test]
async fn known_host_recorded_on_first_contact_then_verified() {
    let Some(fx) = Fixture::new() else { return };
    let _sshd = fx.start(0);
    bounded(async {
        let path = fx.dir.path().join("state/known_hosts");
        let kh = KnownHosts::open(&path).unwrap();
        let first = connect(&fx, &kh).await;
        drop(first);

        let text = fs::read_to_string(&path).unwrap();
        let host_pub = fs::read_to_string(fx.host_keys[0].with_extension("pub")).unwrap();
        let host_pub = host_pub.trim().trim_end_matches("nubo-test").trim_end();
        assert_eq!(text, format!("[127.0.0.1]:{} {host_pub}\n", fx.port));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        // A fresh store from the same file verifies the recorded key.
        let again = KnownHosts::open(&path).unwrap();
        let s = Session::connect(&fx.target(), &again, CONNECT_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(s.exec("true").await.unwrap().status, 0);
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "nothing added");

        // OpenSSH's own client accepts the file as its known_hosts.
        let ssh = Command::new("ssh")
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", path.display()))
            .arg("-i")
            .arg(&fx.user_key)
            .args(["-p", &fx.port.to_string(), "root@127.0.0.1", "echo ok"])
            .output();
        if let Ok(out) = ssh {
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "ok\n",
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // A pinned key verifies the first contact too.
        let pinned = KnownHosts::in_memory();
        pinned
            .pin("127.0.0.1", fx.port, fx.host_public_key(0))
            .unwrap();
        Session::connect(&fx.target(), &pinned, CONNECT_TIMEOUT)
            .await
            .unwrap();
        let wrong_pin = KnownHosts::in_memory();
        wrong_pin
            .pin("127.0.0.1", fx.port, fx.host_public_key(1))
            .unwrap();
        let err = Session::connect(&fx.target(), &wrong_pin, CONNECT_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn changed_host_key_is_rejected() {
    let Some(fx) = Fixture::new() else { return };
    bounded(async {
        let path = fx.dir.path().join("known_hosts");
        let kh = KnownHosts::open(&path).unwrap();
        {
            let _sshd = fx.start(0);
            let s = connect(&fx, &kh).await;
            s.exec("true").await.unwrap();
        }
        let recorded = fs::read_to_string(&path).unwrap();

        // Same address and port, another host key.
        let _sshd = fx.start(1);
        let started = Instant::now();
        let err = wait_for_ssh(&fx.target(), &kh, started + Duration::from_secs(20))
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a mismatch must fail at once, took {:?}",
            started.elapsed()
        );
        let SshError::HostKeyMismatch {
            host,
            expected,
            found,
            ..
        } = &err
        else {
            panic!("expected HostKeyMismatch, got {err}");
        };
        assert_eq!(host, &format!("[127.0.0.1]:{}", fx.port));
        assert_eq!(expected, &fingerprint(&fx.host_public_key(0)));
        assert_eq!(found, &fingerprint(&fx.host_public_key(1)));
        let msg = err.to_string();
        for needle in [
            host.as_str(),
            &fx.keygen_fingerprint(0),
            &fx.keygen_fingerprint(1),
            &path.display().to_string(),
        ] {
            assert!(msg.contains(needle), "{needle:?} not in: {msg}");
        }
        eprintln!("{msg}");
        // Nothing was accepted: the file still holds the old key, and a
        // fresh store from it rejects the new server too.
        assert_eq!(fs::read_to_string(&path).unwrap(), recorded);
        let err = Session::connect(
            &fx.target(),
            &KnownHosts::open(&path).unwrap(),
            CONNECT_TIMEOUT,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SshError::HostKeyMismatch { .. }), "{err}");
    })
    .await;
}

#[tokio::test]
async fn wrong_user_key_fails_fast() {
    let Some(fx) = Fixture::new() else { return };
    let sshd = fx.start(0);
    bounded(async {
        // Make sure sshd is up, so the failure below is the key's.
        connect(&fx, &KnownHosts::in_memory()).await;
        let target = SshTarget::new("127.0.0.1", fx.port, "root", &fx.wrong_key);
        let started = Instant::now();
        let err = wait_for_ssh(
            &target,
            &KnownHosts::in_memory(),
            started + Duration::from_secs(20),
        )
        .await
        .unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, SshError::AuthRejected { .. }), "{err}");
        assert!(!err.is_retryable());
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let msg = err.to_string();
        assert!(msg.contains("rejected public-key authentication"), "{msg}");
        assert!(msg.contains(fx.wrong_key.to_str().unwrap()), "{msg}");
        assert_eq!(sshd.logins(), 1, "only the first connection logged in");
    })
    .await;
}

#[tokio::test]
async fn pool_runs_concurrent_commands_over_one_connection() {
    let Some(fx) = Fixture::new() else { return };
    // SHLVL=1 makes bash skip ~/.bashrc, whose cost on a busy machine would
    // blur the timing check below (see exec_latency_over_a_pooled_connection).
    let sshd = fx.start_with(0, "SetEnv SHLVL=1\n");
    bounded(async {
        // Wait for sshd without logging in, so the log counts only the pool.
        while std::net::TcpStream::connect(("127.0.0.1", fx.port)).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pool = Arc::new(Pool::new(KnownHosts::in_memory(), CONNECT_TIMEOUT));
        let target = fx.target();
        let started = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (pool, target) = (Arc::clone(&pool), target.clone());
                tokio::spawn(async move {
                    let s = pool.get(&target).await.unwrap();
                    // SSH_CLIENT names the client's port: one port, one connection.
                    let r = s
                        .exec(&format!("sleep 0.2; echo $SSH_CLIENT {i}"))
                        .await
                        .unwrap();
                    assert_eq!(r.status, 0);
                    (s, r.stdout_text().into_owned())
                })
            })
            .collect();
        let mut sessions = Vec::new();
        let mut clients = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for t in tasks {
            let (s, out) = t.await.unwrap();
            let fields: Vec<&str> = out.split_whitespace().collect();
            assert_eq!(fields.len(), 4, "{out:?}");
            clients.insert(format!("{} {}", fields[0], fields[1]));
            seen.insert(fields[3].parse::<u32>().unwrap());
            sessions.push(s);
        }
        let took = started.elapsed();
        assert_eq!(seen.len(), 20);
        assert_eq!(
            clients.len(),
            1,
            "commands came from several connections: {clients:?}"
        );
        assert!(sessions.iter().all(|s| Arc::ptr_eq(s, &sessions[0])));
        assert_eq!(sshd.logins(), 1, "sshd log:\n{}", sshd.log());
        // 20 commands of 0.2 s, at most 10 channels at once: two rounds
        // (about 0.4 s), where one after the other would take 4 s.
        assert!(took < Duration::from_secs(3), "took {took:?}");

        // A session that died is replaced.
        let old = sessions.pop().unwrap();
        sessions.clear();
        old.close().await;
        while !old.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let new = pool.get(&target).await.unwrap();
        assert!(!Arc::ptr_eq(&old, &new));
        assert_eq!(new.exec("echo again").await.unwrap().stdout, b"again\n");
        assert_eq!(sshd.logins(), 2);
        pool.close_all().await;
    })
    .await;
}

/// Not a pass/fail check: prints how long one command takes over a pooled
/// connection, to inform later benchmarks. Twice: with the login user's
/// shell as it is (bash sources root's ~/.bashrc for commands run by sshd,
/// and that file's cost is the machine's, not nubo's), and with sshd setting
/// SHLVL=1, which makes bash skip it, leaving SSH's and sshd's own cost.
#[tokio::test]
async fn exec_latency_over_a_pooled_connection() {
    let Some(fx) = Fixture::new() else { return };
    let Some(fx_bare) = Fixture::new() else {
        return;
    };
    let _sshd = fx.start(0);
    let _sshd_bare = fx_bare.start_with(0, "SetEnv SHLVL=1\n");
    bounded(async {
        for (fx, shell) in [
            (&fx, "login shell as configured"),
            (&fx_bare, "shell rc skipped"),
        ] {
            let pool = Pool::new(KnownHosts::in_memory(), CONNECT_TIMEOUT);
            pool.insert(connect(fx, &KnownHosts::in_memory()).await)
                .await;
            pool.get(&fx.target())
                .await
                .unwrap()
                .exec("true")
                .await
                .unwrap(); // warm up
            const RUNS: u32 = 50;
            let mut times = Vec::with_capacity(RUNS as usize);
            for _ in 0..RUNS {
                let t = Instant::now();
                let r = pool
                    .get(&fx.target())
                    .await
                    .unwrap()
                    .exec("true")
                    .await
                    .unwrap();
                times.push(t.elapsed());
                assert_eq!(r.status, 0);
            }
            times.sort();
            let mean = times.iter().sum::<Duration>() / RUNS;
            println!(
                "ssh exec(\"true\") over one pooled connection ({shell}), {RUNS} runs: \
                 mean {mean:.2?}, min {:.2?}, median {:.2?}, max {:.2?}",
                times[0],
                times[times.len() / 2],
                times[times.len() - 1]
            );
        }
    })
    .await;
}
