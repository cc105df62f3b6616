//! `Pool`: one live session per target, shared by everyone who asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::info;

use super::client::Session;
use super::error::SshError;
use super::known_hosts::KnownHosts;
use super::target::SshTarget;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Session>>>>;

/// Keeps one connection per [`SshTarget`] and hands out the same session to
/// every caller; commands then run on channels of that one connection.
/// A session that has died is replaced by a new connection at the next
/// [`Pool::get`].
#[derive(Debug)]
pub struct Pool {
    known_hosts: KnownHosts,
    connect_timeout: Duration,
    slots: Mutex<HashMap<SshTarget, Slot>>,
}

impl Pool {
    /// A pool that checks host keys against `known_hosts` and gives each
    /// connection attempt `connect_timeout`.
    pub fn new(known_hosts: KnownHosts, connect_timeout: Duration) -> Pool {
        Pool {
            known_hosts,
            connect_timeout,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The live session to `target`, connecting if there is none (or the
    /// last one died). Callers asking at the same time for the same target
    /// share one connection attempt.
    ///
    /// This connects once, without retrying: for a machine still booting,
    /// call [`wait_for_ssh`](super::wait_for_ssh) and [`Pool::insert`] its
    /// session first.
    pub async fn get(&self, target: &SshTarget) -> Result<Arc<Session>, SshError> {
        let slot = self.slot(target);
        let mut current = slot.lock().await;
        if let Some(session) = current.as_ref() {
            if !session.is_closed() {
                return Ok(Arc::clone(session));
            }
            info!(target = %target, "pooled SSH session has closed, reconnecting");
        }
        // A machine behind a jump host goes through the pooled session to
        // that host: many workers share their front-end's connection.
        let jump = match &target.via {
            Some(via) => Some(Box::pin(self.get(via)).await?),
            None => None,
        };
        let session = Arc::new(
            Session::connect_through(target, jump, &self.known_hosts, self.connect_timeout).await?,
        );
        *current = Some(Arc::clone(&session));
        Ok(session)
    }

    /// Adds a session made elsewhere (e.g. by `wait_for_ssh`), replacing any
    /// pooled one for its target, and returns it shared.
    pub async fn insert(&self, session: Session) -> Arc<Session> {
        let slot = self.slot(session.target());
        let session = Arc::new(session);
        *slot.lock().await = Some(Arc::clone(&session));
        session
    }

    /// Drops the pooled session to `target`, if any; the connection ends
    /// once no caller holds it any more.
    pub fn forget(&self, target: &SshTarget) {
        self.lock().remove(target);
    }

    /// Ends every pooled connection.
    pub async fn close_all(&self) {
        let slots: Vec<Slot> = self.lock().drain().map(|(_, slot)| slot).collect();
        for slot in slots {
            if let Some(session) = slot.lock().await.take() {
                session.close().await;
            }
        }
    }

    fn slot(&self, target: &SshTarget) -> Slot {
        Arc::clone(self.lock().entry(target.clone()).or_default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SshTarget, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}
