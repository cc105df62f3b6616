//! `Session`: one authenticated SSH connection, and running commands and
//! uploading files over its channels.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use russh::client::{self, Handle};
use russh::keys::{PrivateKeyWithHashAlg, PublicKeyOrCertificate, load_secret_key};
use russh::{ChannelMsg, ChannelOpenFailure, ChannelWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tracing::{debug, info};

use super::error::SshError;
use super::known_hosts::KnownHosts;
use super::target::SshTarget;

/// Channels one session opens at once. OpenSSH's sshd refuses more than
/// `MaxSessions` (10 unless configured) per connection, so more commands at
/// once queue here instead of failing there.
pub const MAX_CHANNELS: usize = 10;

/// How often to probe a quiet connection, and how many unanswered probes
/// mean it is dead (so a pooled session that died is noticed).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
const KEEPALIVE_MAX: usize = 3;

/// Retrying a refused channel open: first pause, and for how long in all.
const CHANNEL_RETRY_FIRST: Duration = Duration::from_millis(5);
const CHANNEL_RETRY_FOR: Duration = Duration::from_secs(2);

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A finished command: its exit status and everything it printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecResult {
    pub status: u32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl ExecResult {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}

/// Whether [`Session::upload`] creates the file's missing parent directories.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parents {
    /// `mkdir -p` the directory first.
    Create,
    /// The directory must exist.
    MustExist,
}

/// One authenticated SSH connection. Each command runs on a channel of its
/// own, so one `Session` (shared as `Arc<Session>`) serves many commands at
/// once; at most [`MAX_CHANNELS`] run together, the rest wait for a turn.
pub struct Session {
    target: SshTarget,
    handle: Handle<Client>,
    channels: Semaphore,
    /// The session this one runs through (its target's `via`), kept alive
    /// as long as this one.
    jump: Option<Arc<Session>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Session {
    /// Connects to `target`, checks its host key against `known_hosts`
    /// (recording it if the host is new), and logs in with the target's key,
    /// all within `timeout`.
    ///
    /// Fails at once, without retrying; [`wait_for_ssh`](super::wait_for_ssh)
    /// retries while the machine is coming up.
    ///
    /// A target with a `via` is reached through a new connection to `via`
    /// (made first, its host key checked the same way); to share one
    /// connection to the jump host, use [`Session::connect_through`].
    pub async fn connect(
        target: &SshTarget,
        known_hosts: &KnownHosts,
        timeout: Duration,
    ) -> Result<Session, SshError> {
        let jump = match &target.via {
            Some(via) => Some(Arc::new(
                Box::pin(Session::connect(via, known_hosts, timeout)).await?,
            )),
            None => None,
        };
        Self::connect_through(target, jump, known_hosts, timeout).await
    }

    /// Like [`Session::connect`], reaching the target over a `direct-tcpip`
    /// channel of `jump` when it is given (the target's `via` is then not
    /// connected again), else over TCP.
    pub async fn connect_through(
        target: &SshTarget,
        jump: Option<Arc<Session>>,
        known_hosts: &KnownHosts,
        timeout: Duration,
    ) -> Result<Session, SshError> {
        let key = load_secret_key(&target.key_path, None).map_err(|source| SshError::KeyLoad {
            path: target.key_path.clone(),
            source: Box::new(source),
        })?;
        let started = Instant::now();
        let session =
            tokio::time::timeout(timeout, Self::connect_with(target, jump, known_hosts, key))
                .await
                .map_err(|_| SshError::Timeout {
                    target: target.to_string(),
                    after: timeout,
                })??;
        info!(target = %target, elapsed = ?started.elapsed(), "SSH session established");
        Ok(session)
    }

    async fn connect_with(
        target: &SshTarget,
        jump: Option<Arc<Session>>,
        known_hosts: &KnownHosts,
        key: russh::keys::PrivateKey,
    ) -> Result<Session, SshError> {
        let name = target.to_string();
        let mut config = client::Config {
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            keepalive_max: KEEPALIVE_MAX,
            ..Default::default()
        };
        if let Some(algorithms) = known_hosts.algorithms_for(&target.host, target.port) {
            config.preferred.key = Cow::Owned(algorithms);
        }

        let handler = Client {
            host: target.host.clone(),
            port: target.port,
            known_hosts: known_hosts.clone(),
        };
        let config = Arc::new(config);
        let handshake = match &jump {
            None => {
                let socket = TcpStream::connect((target.host.as_str(), target.port))
                    .await
                    .map_err(|source| SshError::Unreachable {
                        target: name.clone(),
                        source,
                    })?;
                // Commands are small request/response exchanges: do not
                // let Nagle hold back their packets.
                socket.set_nodelay(true).ok();
                client::connect_stream(config, socket, handler).await
            }
            Some(jump) => {
                // The jump host opens the TCP connection for us; its sshd
                // says no when it cannot connect (the machine not up yet)
                // or forwarding is off.
                let channel = jump
                    .handle
                    .channel_open_direct_tcpip(
                        target.host.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|source| SshError::JumpRefused {
                        target: name.clone(),
                        via: jump.target.to_string(),
                        source: Box::new(source),
                    })?;
                client::connect_stream(config, channel.into_stream(), handler).await
            }
        };
        let mut handle = handshake.map_err(|e| match e {
            HandlerError::HostKey(e) => e,
            HandlerError::Russh(source) => handshake_error(&name, source),
        })?;

        let hash_alg = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .map_err(|source| handshake_error(&name, source))?
                .flatten()
        } else {
            None
        };
        let auth = handle
            .authenticate_publickey(
                target.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash_alg),
            )
            .await
            .map_err(|source| handshake_error(&name, source))?;
        if !auth.success() {
            return Err(SshError::AuthRejected {
                target: name,
                user: target.user.clone(),
                key_path: target.key_path.clone(),
            });
        }
        Ok(Session {
            target: target.clone(),
            handle,
            channels: Semaphore::new(MAX_CHANNELS),
            jump,
        })
    }

    /// The target this session is connected to.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// True once the connection has ended (closed by either side, or dead
    /// after unanswered keepalives), or the one it runs through has.
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed() || self.jump.as_ref().is_some_and(|j| j.is_closed())
    }

    /// Runs `command` through the user's login shell and collects its output.
    /// A non-zero exit status is a result, not an error.
    ///
    /// Dropping the future before it completes (e.g. on a timeout of the
    /// caller's) sends the command SIGTERM and closes its channel; so do the
    /// other ways of running a command. sshd honours the signal in the
    /// sessions of users other than root; the close makes a command that
    /// goes on writing output die of SIGPIPE. sshd frees the channel's slot
    /// once the command has ended.
    pub async fn exec(&self, command: &str) -> Result<ExecResult, SshError> {
        self.exec_with_stdin(command, &[]).await
    }

    /// [`Session::exec`] with `stdin` fed to the command (then end of file).
    pub async fn exec_with_stdin(
        &self,
        command: &str,
        stdin: &[u8],
    ) -> Result<ExecResult, SshError> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let status = self
            .run(command, stdin, |stream, data| match stream {
                Stream::Stdout => stdout.extend_from_slice(data),
                Stream::Stderr => stderr.extend_from_slice(data),
            })
            .await?;
        Ok(ExecResult {
            status,
            stdout,
            stderr,
        })
    }

    /// [`Session::exec`], but an exit status other than 0 is an error
    /// ([`SshError::CommandFailed`], with the command's standard error).
    pub async fn exec_checked(&self, command: &str) -> Result<ExecResult, SshError> {
        let result = self.exec(command).await?;
        if result.success() {
            Ok(result)
        } else {
            Err(SshError::CommandFailed {
                target: self.target.to_string(),
                command: command.to_string(),
                status: result.status,
                stderr: result.stderr_text().into_owned(),
            })
        }
    }

    /// Runs `command`, handing each piece of output to `on_output` as it
    /// arrives, and returns the exit status.
    pub async fn exec_streaming(
        &self,
        command: &str,
        on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<u32, SshError> {
        self.run(command, &[], on_output).await
    }

    /// [`Session::exec_streaming`] with `stdin` fed to the command (then
    /// end of file): how a recipe's script is run (`sh -s`).
    pub async fn exec_streaming_with_stdin(
        &self,
        command: &str,
        stdin: &[u8],
        on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<u32, SshError> {
        self.run(command, stdin, on_output).await
    }

    /// Writes `bytes` to `remote_path` with permissions `mode` (e.g. `0o644`),
    /// replacing any file there in one step: the bytes go to a temporary file
    /// beside it (created with mode 0600), which is then chmod-ed and renamed
    /// over the target. A relative path is relative to the user's home.
    pub async fn upload(
        &self,
        bytes: &[u8],
        remote_path: &str,
        mode: u32,
        parents: Parents,
    ) -> Result<(), SshError> {
        let quoted = shell_quote(remote_path);
        let mut script = String::from("set -e; umask 077; ");
        if parents == Parents::Create
            && let Some(dir) = Path::new(remote_path).parent()
            && !dir.as_os_str().is_empty()
        {
            script += &format!("mkdir -p -- {}; ", shell_quote(&dir.to_string_lossy()));
        }
        script += &format!(
            "tmp={quoted}.nubo-upload.$$; trap 'rm -f -- \"$tmp\"' EXIT; cat > \"$tmp\"; \
             chmod {:04o} -- \"$tmp\"; mv -f -- \"$tmp\" {quoted}",
            mode & 0o7777
        );
        let result = self.exec_with_stdin(&script, bytes).await?;
        if !result.success() {
            return Err(SshError::CommandFailed {
                target: self.target.to_string(),
                command: format!("upload of {} bytes to {remote_path}", bytes.len()),
                status: result.status,
                stderr: result.stderr_text().into_owned(),
            });
        }
        debug!(target = %self.target, path = remote_path, bytes = bytes.len(), "uploaded");
        Ok(())
    }

    /// Whether the session's user may run commands as root without being
    /// asked for a password: `None` when `sudo -n true` succeeds, else what
    /// went wrong in a few words ("sudo is not installed", or what sudo
    /// said), for an error that tells the user what to change.
    pub async fn sudo_refusal(&self) -> Result<Option<String>, SshError> {
        let result = self.exec("sudo -n true").await?;
        if result.success() {
            return Ok(None);
        }
        let stderr = result.stderr_text();
        let stderr = stderr.trim();
        Ok(Some(
            if result.status == 127 || stderr.contains("not found") {
                "sudo is not installed".to_string()
            } else if stderr.is_empty() {
                format!("`sudo -n true` exited with status {}", result.status)
            } else {
                format!("`sudo -n true` said: {stderr}")
            },
        ))
    }

    /// Ends the connection politely. Dropping the last handle to a session
    /// ends it too.
    pub async fn close(&self) {
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
    }

    /// Opens a channel, runs `command` on it feeding it `stdin`, passes its
    /// output to `on_output`, and returns its exit status.
    async fn run(
        &self,
        command: &str,
        stdin: &[u8],
        mut on_output: impl FnMut(Stream, &[u8]),
    ) -> Result<u32, SshError> {
        let channel_err = |source| SshError::Channel {
            target: self.target.to_string(),
            command: command.to_string(),
            source: Box::new(source),
        };
        let _turn = self
            .channels
            .acquire()
            .await
            .expect("the channel semaphore is never closed");
        let started = Instant::now();
        let channel = self.open_channel().await.map_err(channel_err)?;
        let (mut read, write) = channel.split();
        let mut guard = StopOnDrop {
            write: Some(write),
            closed_by_server: false,
        };
        let write = guard.write.as_ref().expect("set just above");
        write.exec(true, command).await.map_err(channel_err)?;

        // Feed stdin while reading output: a command that prints before it
        // has read all its input must not wait on us, nor we on it.
        let writer = async {
            if !stdin.is_empty() {
                write.data(stdin).await?;
            }
            write.eof().await
        };
        let reader = async {
            let mut status = None;
            let mut signal = None;
            let mut closed = false;
            while let Some(msg) = read.wait().await {
                match msg {
                    ChannelMsg::Data { data } => on_output(Stream::Stdout, &data),
                    ChannelMsg::ExtendedData { data, ext: 1 } => on_output(Stream::Stderr, &data),
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    ChannelMsg::ExitSignal {
                        signal_name,
                        error_message,
                        ..
                    } => signal = Some((signal_name, error_message)),
                    ChannelMsg::Failure => {
                        let refused = SshError::ExecRefused {
                            target: self.target.to_string(),
                            command: command.to_string(),
                        };
                        return (Err(refused), false);
                    }
                    ChannelMsg::Close => {
                        closed = true;
                        break;
                    }
                    _ => {}
                }
            }
            let result = match (status, signal) {
                (Some(status), _) => Ok(status),
                (None, Some((signal, message))) => Err(SshError::Killed {
                    target: self.target.to_string(),
                    command: command.to_string(),
                    signal: match signal {
                        russh::Sig::Custom(name) => name,
                        other => format!("{other:?}"),
                    },
                    message,
                }),
                (None, None) => Err(SshError::NoExitStatus {
                    target: self.target.to_string(),
                    command: command.to_string(),
                }),
            };
            (result, closed)
        };
        tokio::pin!(writer, reader);
        let mut written = None;
        let (status, closed) = loop {
            tokio::select! {
                w = &mut writer, if written.is_none() => written = Some(w),
                r = &mut reader => break r,
            }
        };
        guard.closed_by_server = closed;
        if let Some(Err(e)) = written {
            // The command ended without reading all its input; its status
            // says whether that mattered.
            debug!(target = %self.target, command, error = %e, "stdin not fully delivered");
        }
        debug!(target = %self.target, command, status = ?status.as_ref().ok(), elapsed = ?started.elapsed(), "exec");
        status
    }
}

impl Session {
    /// Opens a session channel. sshd frees a closed channel's slot only
    /// after it has handled the packets that arrived with the close, so an
    /// open sent right behind a close can be refused as over `MaxSessions`
    /// although we keep below it: such refusals are retried a few times.
    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>, russh::Error> {
        let mut pause = CHANNEL_RETRY_FIRST;
        let mut waited = Duration::ZERO;
        loop {
            match self.handle.channel_open_session().await {
                Err(russh::Error::ChannelOpenFailure(
                    reason @ (ChannelOpenFailure::AdministrativelyProhibited
                    | ChannelOpenFailure::ConnectFailed
                    | ChannelOpenFailure::ResourceShortage),
                )) if waited < CHANNEL_RETRY_FOR => {
                    debug!(target = %self.target, ?reason, ?pause, "channel refused, retrying");
                    tokio::time::sleep(pause).await;
                    waited += pause;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }
}

/// Owns a command's channel while it runs. Dropped before the server closed
/// the channel (an error, or the caller dropping the future of a running
/// command, e.g. on its own timeout), it sends the command SIGTERM and closes
/// the channel, so the command does not run on unwatched and sshd frees the
/// channel's `MaxSessions` slot (which it keeps while the command lives).
/// (sshd refuses signals in root's sessions, which it runs without privilege
/// separation; there the close alone acts, on a command's next write.)
struct StopOnDrop {
    write: Option<ChannelWriteHalf<client::Msg>>,
    closed_by_server: bool,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(write) = self.write.take() else {
            return;
        };
        if self.closed_by_server {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = write.signal(russh::Sig::TERM).await;
                let _ = write.close().await;
            });
        }
    }
}

/// `'text'` for a POSIX shell, single quotes inside escaped as `'\''`.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A russh failure before the session was usable: broken off (retryable)
/// or a protocol failure (final).
fn handshake_error(target: &str, source: russh::Error) -> SshError {
    use russh::Error as E;
    match source {
        E::IO(_)
        | E::Disconnect
        | E::HUP
        | E::ConnectionTimeout
        | E::KexInit
        | E::Version
        | E::SendError => SshError::Handshake {
            target: target.to_string(),
            source: Box::new(source),
        },
        _ => SshError::Protocol {
            target: target.to_string(),
            source: Box::new(source),
        },
    }
}

/// The russh event handler: checks the server's host key.
struct Client {
    host: String,
    port: u16,
    known_hosts: KnownHosts,
}

/// Why the handshake failed: a host key nubo refuses, or russh's own error.
#[derive(Debug)]
enum HandlerError {
    HostKey(SshError),
    Russh(russh::Error),
}

impl From<russh::Error> for HandlerError {
    fn from(e: russh::Error) -> Self {
        HandlerError::Russh(e)
    }
}

impl client::Handler for Client {
    type Error = HandlerError;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        match server_public_key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self
                .known_hosts
                .check(&self.host, self.port, key)
                .map(|_| true)
                .map_err(HandlerError::HostKey),
            PublicKeyOrCertificate::Certificate(_) => {
                Err(HandlerError::HostKey(SshError::HostCertificate {
                    host: super::target::known_hosts_name(&self.host, self.port),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/a b/c"), "'/a b/c'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
