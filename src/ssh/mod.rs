//! The SSH layer: connecting to machines, running commands and uploading
//! files on them, over `russh`.
//!
//! - [`SshTarget`] names a machine and how to log in to it.
//! - [`KnownHosts`] is the host-key store: trust on first use, verify after,
//!   and a key that changed is an error ([`SshError::HostKeyMismatch`]).
//!   A provider that generated a machine's host key pins it beforehand.
//!
//! Everything here logs with `tracing`; nothing prints.

mod error;
mod known_hosts;
mod target;

pub use error::SshError;
pub use known_hosts::{KnownHosts, fingerprint};
pub use russh::keys::PublicKey;
pub use target::SshTarget;
