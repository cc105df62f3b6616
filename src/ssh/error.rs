//! `SshError`: everything the SSH layer can fail with, each message saying
//! what failed and what to do about it.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// An error of the SSH layer. Targets are written `user@host:port`.
///
/// [`SshError::is_retryable`] tells "the machine is not up yet" (worth
/// another try) from failures that another try would only repeat.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error(
        "cannot load the SSH private key {}: {source}; check that the file exists, is readable, \
         and is an OpenSSH private key without a passphrase",
        path.display()
    )]
    KeyLoad {
        path: PathBuf,
        source: Box<russh::keys::Error>,
    },

    #[error(
        "cannot reach {target}: {source}; the machine may still be booting or sshd not yet \
         listening (wait_for_ssh retries this), else check the address, port and firewall"
    )]
    Unreachable { target: String, source: io::Error },

    #[error(
        "cannot reach {target} through {via}: {source}; the machine may still be booting \
         (wait_for_ssh retries this), else check that {via} can reach it and that its sshd \
         allows TCP forwarding (AllowTcpForwarding)"
    )]
    JumpRefused {
        target: String,
        via: String,
        source: Box<russh::Error>,
    },

    #[error(
        "connecting to {target} timed out after {after:?}; the machine may still be booting, \
         else check that the address is routable and the port open"
    )]
    Timeout { target: String, after: Duration },

    #[error(
        "the SSH handshake with {target} broke off: {source}; sshd may be starting or \
         refusing connections for now (wait_for_ssh retries this), else see the server's sshd log"
    )]
    Handshake {
        target: String,
        source: Box<russh::Error>,
    },

    #[error(
        "HOST KEY MISMATCH for {host}: {store} records {expected} but the server presented \
         {found}. Someone may be intercepting the connection, or the machine was reinstalled \
         with a new key; nubo will not connect. If the machine was reinstalled, remove the \
         line for {host} from {store}"
    )]
    HostKeyMismatch {
        host: String,
        /// Where the recorded key lives: a known_hosts file's path, or
        /// "the in-memory known hosts".
        store: String,
        /// Fingerprint of the recorded key, `SHA256:...`.
        expected: String,
        /// Fingerprint of the key the server presented.
        found: String,
    },

    #[error(
        "{host} presented a host certificate, which nubo does not verify; configure the \
         server to offer a plain host key, or pin that key with KnownHosts::pin"
    )]
    HostCertificate { host: String },

    #[error(
        "{target} rejected public-key authentication for user {user:?} with the key {}; check \
         that the matching public key is in that user's authorized_keys and that the user may \
         log in (PermitRootLogin for root)",
        key_path.display()
    )]
    AuthRejected {
        target: String,
        user: String,
        key_path: PathBuf,
    },

    #[error(
        "SSH protocol failure with {target}: {source}; the server speaks no algorithm nubo \
         accepts or misbehaved, see the server's sshd log"
    )]
    Protocol {
        target: String,
        source: Box<russh::Error>,
    },

    #[error(
        "running `{command}` on {target} failed: {source}; the connection may have dropped \
         (Pool::get reconnects) or the server refused another channel (see MaxSessions)"
    )]
    Channel {
        target: String,
        command: String,
        source: Box<russh::Error>,
    },

    #[error(
        "{target} refused to run `{command}`; check that the user has a working login shell \
         and that the server allows command execution"
    )]
    ExecRefused { target: String, command: String },

    #[error(
        "`{command}` on {target} ended without an exit status; the connection or sshd may \
         have gone away while it ran, try again"
    )]
    NoExitStatus { target: String, command: String },

    #[error(
        "`{command}` on {target} was killed by signal {signal}{}; see the machine's logs \
         (out of memory, a timeout, someone killing it)",
        if message.is_empty() { String::new() } else { format!(" ({message})") }
    )]
    Killed {
        target: String,
        command: String,
        signal: String,
        message: String,
    },

    #[error(
        "`{command}` on {target} exited with status {status}{}",
        if stderr.trim().is_empty() { String::new() } else { format!(": {}", stderr.trim()) }
    )]
    CommandFailed {
        target: String,
        command: String,
        status: u32,
        stderr: String,
    },

    #[error(
        "cannot {action} the known hosts file {}: {source}; check that its directory exists \
         and is writable by this user",
        path.display()
    )]
    KnownHostsIo {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },

    #[error(
        "{}:{line}: {message}; fix or delete that line of the known hosts file",
        path.display()
    )]
    KnownHostsParse {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error(
        "{target} did not accept SSH within {waited:?} ({attempts} attempts); last error: \
         {last}"
    )]
    NotReady {
        target: String,
        waited: Duration,
        attempts: u32,
        last: Box<SshError>,
    },
}

impl SshError {
    /// True for failures that mean "not up yet" (refused, unreachable, timed
    /// out, handshake cut short), which another attempt may get past; false
    /// for those it would only repeat (authentication, host key, bad key
    /// file, protocol).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SshError::Unreachable { .. }
                | SshError::JumpRefused { .. }
                | SshError::Timeout { .. }
                | SshError::Handshake { .. }
        )
    }
}
