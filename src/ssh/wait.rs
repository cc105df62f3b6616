//! `wait_for_ssh`: connecting to a machine that is still coming up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

use super::client::Session;
use super::error::SshError;
use super::known_hosts::KnownHosts;
use super::target::SshTarget;

/// Exponential backoff: 50 ms, 100 ms, 200 ms, ... capped at 1 s.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(50);
    pub const CAP: Duration = Duration::from_secs(1);

    pub fn new() -> Backoff {
        Backoff {
            next: Self::FIRST,
            cap: Self::CAP,
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new()
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let this = self.next;
        self.next = (self.next * 2).min(self.cap);
        Some(this)
    }
}

/// The longest one attempt may take, so that a connection stuck in its
/// handshake is given up and tried afresh rather than waited on until the
/// deadline.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `target`, retrying with [`Backoff`] while it is not up yet
/// (refused, unreachable, timed out, handshake broken off) until `deadline`.
/// A failure another try would only repeat (authentication rejected, host
/// key mismatch, unreadable key file) is returned at once.
///
/// Past the deadline the error is [`SshError::NotReady`], carrying the last
/// attempt's error.
///
/// A target with a `via` waits for the jump host first (the same way), then
/// for the target through that one connection.
pub async fn wait_for_ssh(
    target: &SshTarget,
    known_hosts: &KnownHosts,
    deadline: Instant,
) -> Result<Session, SshError> {
    let jump = match &target.via {
        Some(via) => Some(Arc::new(
            Box::pin(wait_for_ssh(via, known_hosts, deadline)).await?,
        )),
        None => None,
    };
    wait_for_ssh_through(target, jump, known_hosts, deadline).await
}

/// [`wait_for_ssh`] through a session the caller has to the target's
/// `via` (shared by every machine behind it), or over TCP without one.
pub async fn wait_for_ssh_through(
    target: &SshTarget,
    jump: Option<Arc<Session>>,
    known_hosts: &KnownHosts,
    deadline: Instant,
) -> Result<Session, SshError> {
    let started = Instant::now();
    let mut backoff = Backoff::new();
    let mut attempts = 0u32;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        attempts += 1;
        let error = match Session::connect_through(
            target,
            jump.clone(),
            known_hosts,
            remaining.min(ATTEMPT_TIMEOUT),
        )
        .await
        {
            Ok(session) => {
                debug!(target = %target, attempts, waited = ?started.elapsed(), "SSH is up");
                return Ok(session);
            }
            Err(e) if !e.is_retryable() => {
                warn!(target = %target, error = %e, "SSH connection failed for good");
                return Err(e);
            }
            Err(e) => e,
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let pause = backoff.next().unwrap_or(Backoff::CAP);
        if pause >= remaining {
            // The next attempt would start at or past the deadline.
            tokio::time::sleep(remaining).await;
            return Err(SshError::NotReady {
                target: target.to_string(),
                waited: started.elapsed(),
                attempts,
                last: Box::new(error),
            });
        }
        debug!(target = %target, attempts, error = %error, ?pause, "SSH not up yet, retrying");
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        let ms: Vec<u128> = Backoff::new().take(8).map(|d| d.as_millis()).collect();
        assert_eq!(ms, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
    }

    #[tokio::test]
    async fn unreadable_key_fails_at_once() {
        let target = SshTarget::new("127.0.0.1", 1, "nobody", "/nonexistent/nubo-key");
        let started = Instant::now();
        let err = wait_for_ssh(
            &target,
            &KnownHosts::in_memory(),
            started + Duration::from_secs(30),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, SshError::KeyLoad { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(err.to_string().contains("/nonexistent/nubo-key"), "{err}");
    }
}
