//! Gathering the nodes of one Ansible step into one `ansible-playbook`
//! run. The graph has a vertex per (node, configure, step), and the
//! vertices of one step become ready together (each waits for the whole
//! previous step); the first to arrive leads a batch, the others join it
//! until no one has joined for a moment, and the leader runs the play for
//! all of them, once. Each vertex then records its own node's result.
//! One process instead of one per node: Ansible's start-up and its module
//! transfer are paid once, and its forks run the nodes in parallel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the leader waits for another node to join.
const QUIET: Duration = Duration::from_millis(250);
/// How long it waits at most.
const MOST: Duration = Duration::from_secs(3);

/// What a run gave: its whole output and exit status, or why it could not
/// run.
pub type Outcome = Result<(i32, String), String>;

/// One run being gathered or done.
pub struct Batch {
    members: Mutex<Vec<String>>,
    done: tokio::sync::watch::Sender<Option<Arc<Outcome>>>,
}

impl Batch {
    /// The nodes that joined.
    pub fn members(&self) -> Vec<String> {
        self.members
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn count(&self) -> usize {
        self.members.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The leader's result, for every member.
    pub fn finish(&self, outcome: Outcome) {
        self.done.send_replace(Some(Arc::new(outcome)));
    }

    /// Waits for the leader's result.
    pub async fn outcome(&self) -> Arc<Outcome> {
        let mut rx = self.done.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v
                .clone()
                .unwrap_or_else(|| Arc::new(Err("no result".into()))),
            Err(_) => Arc::new(Err(
                "the run leading this step ended without a result".into()
            )),
        }
    }
}

/// The leader's promise: a batch it leads gets a result even when the
/// leader is dropped half-way (its members never wait forever).
pub struct Lead(pub Arc<Batch>);

impl Drop for Lead {
    fn drop(&mut self) {
        if self.0.done.borrow().is_none() {
            self.0
                .finish(Err("the run leading this step was stopped".into()));
        }
    }
}

/// The batches being gathered, by (configure, step).
#[derive(Default)]
pub struct Batches {
    open: tokio::sync::Mutex<HashMap<(String, u32), Arc<Batch>>>,
}

impl Batches {
    /// Joins the open batch of (configure, step), or opens one and leads
    /// it (`true`).
    pub async fn join(&self, configure: &str, step: u32, node: &str) -> (Arc<Batch>, bool) {
        let mut open = self.open.lock().await;
        let k = (configure.to_string(), step);
        if let Some(b) = open.get(&k) {
            b.members
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(node.to_string());
            return (b.clone(), false);
        }
        let b = Arc::new(Batch {
            members: Mutex::new(vec![node.to_string()]),
            done: tokio::sync::watch::channel(None).0,
        });
        open.insert(k, b.clone());
        (b, true)
    }

    /// The leader's wait: until no node joined for [`QUIET`] (at most
    /// [`MOST`]); then the batch is closed (a node arriving later leads a
    /// batch of its own) and its members are returned.
    pub async fn gather(&self, configure: &str, step: u32, batch: &Arc<Batch>) -> Vec<String> {
        let start = Instant::now();
        loop {
            let before = batch.count();
            tokio::time::sleep(QUIET).await;
            if batch.count() == before || start.elapsed() >= MOST {
                break;
            }
        }
        let mut open = self.open.lock().await;
        let k = (configure.to_string(), step);
        if open.get(&k).is_some_and(|b| Arc::ptr_eq(b, batch)) {
            open.remove(&k);
        }
        batch.members()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nodes_of_one_step_share_one_run() {
        let batches = Arc::new(Batches::default());
        let (lead, leads) = batches.join("c", 1, "a").await;
        assert!(leads);
        let (same, joins) = batches.join("c", 1, "b").await;
        assert!(!joins && Arc::ptr_eq(&lead, &same));
        let (other, leads_other) = batches.join("c", 2, "a").await;
        assert!(leads_other && !Arc::ptr_eq(&lead, &other));
        let members = batches.gather("c", 1, &lead).await;
        assert_eq!(members, ["a", "b"]);
        // Closed: a late node leads a new batch.
        let (late, leads_late) = batches.join("c", 1, "d").await;
        assert!(leads_late && !Arc::ptr_eq(&lead, &late));
        let waiter = {
            let same = same.clone();
            tokio::spawn(async move { same.outcome().await })
        };
        lead.finish(Ok((0, "out".into())));
        assert_eq!(*waiter.await.unwrap(), Ok((0, "out".to_string())));
    }
}
