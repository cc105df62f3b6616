//! The SSH layer: connecting to machines, running commands and uploading
//! files on them, over `russh`.
//!
//! - [`SshTarget`] names a machine and how to log in to it.
//! - [`KnownHosts`] is the host-key store: trust on first use, verify after,
//!   and a key that changed is an error ([`SshError::HostKeyMismatch`]).
//!   A provider that generated a machine's host key pins it beforehand.
//! - [`Session::connect`] makes one authenticated connection; [`wait_for_ssh`]
//!   retries it with backoff until a deadline while the machine boots.
//! - [`Session::exec`], [`Session::exec_streaming`],
//!   [`Session::exec_with_stdin`] and [`Session::upload`] each run over a
//!   channel of their own, so one session serves many at once.
//! - [`Pool`] keeps one live session per target and hands it out again.
//!
//! Everything here is async on tokio and logs with `tracing`; nothing prints.

mod client;
mod error;
mod known_hosts;
mod pool;
mod target;
mod wait;

pub use client::{ExecResult, MAX_CHANNELS, Parents, Session, Stream};
pub use error::SshError;
pub use known_hosts::{KnownHosts, fingerprint};
pub use pool::Pool;
pub use russh::keys::PublicKey;
pub use target::SshTarget;
pub use wait::{Backoff, wait_for_ssh, wait_for_ssh_through};
