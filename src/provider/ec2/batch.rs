//! Identical instances in one RunInstances call. The walk creates a
//! cluster's VMs concurrently, one request each; the requests for VMs of
//! one system (same image, type, networks, user) that arrive together
//! join one batch, and its first request (the leader) makes them all with
//! one call asking for as many instances (`MinCount` = `MaxCount` = n: all
//! or none; refused for a limit or capacity, the leader makes them one by
//! one, so as many as fit run, as when each VM has its own call).
//!
//! A batch stays open while requests keep coming: the leader closes it
//! once [`QUIET`] passes without a new one, after [`MAX_WAIT`] at most, or
//! when it holds [`MAX_BATCH`] requests (the next one opens a new batch).
//! Each request still has its own intent and token: instance `i` of the
//! call (its `AmiLaunchIndex`) is the batch's request `i`, and the
//! instances carry the batch's `node=token` pairs in `nubo:batch:K` tags
//! (see [`label::batch_tags`]), so an instance is found again by its
//! token after a crash exactly as one made alone is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;

use super::label;
use crate::provider::{ProviderError, Result, VmInfo, VmRequest};

/// How long a batch waits for one more request.
pub const QUIET: Duration = Duration::from_millis(150);
/// How long a batch waits for requests in all.
pub const MAX_WAIT: Duration = Duration::from_secs(2);
/// The most instances of one call.
pub const MAX_BATCH: usize = 100;

/// A request waiting for the leader's call.
pub struct Waiter {
    pub req: VmRequest,
    pub tx: oneshot::Sender<Result<VmInfo>>,
}

/// What joining gave a request.
pub enum Joined {
    /// It opened batch `id` and makes the call.
    Leader(u64),
    /// Another request makes the call and answers here.
    Follower(oneshot::Receiver<Result<VmInfo>>),
}

/// The open batches of one provider.
#[derive(Default)]
pub struct Batches {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The open batch of each shape ([`shape`]).
    open: HashMap<String, Open>,
    /// Batches closed because they filled up, until their leader takes them.
    full: HashMap<u64, Vec<Waiter>>,
    next: u64,
}

struct Open {
    id: u64,
    /// Everyone but the leader.
    waiters: Vec<Waiter>,
}

/// What makes requests identical: the cluster and the system (a system's
/// VMs share image, type, networks, user and features).
pub fn shape(req: &VmRequest) -> String {
    format!("{}\0{}", req.cluster, req.system.name)
}

impl Batches {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins the open batch of the request's shape, or opens one.
    pub fn join(&self, req: &VmRequest) -> Joined {
        let key = shape(req);
        let mut inner = self.lock();
        if let Some(open) = inner.open.get_mut(&key)
            && open.waiters.len() + 1 < MAX_BATCH
        {
            let (tx, rx) = oneshot::channel();
            open.waiters.push(Waiter {
                req: req.clone(),
                tx,
            });
            return Joined::Follower(rx);
        }
        let id = inner.next;
        inner.next += 1;
        if let Some(old) = inner.open.insert(
            key,
            Open {
                id,
                waiters: Vec::new(),
            },
        ) {
            inner.full.insert(old.id, old.waiters);
        }
        Joined::Leader(id)
    }

    /// How many have joined batch `id`; `None` once it is full.
    fn joined(&self, key: &str, id: u64) -> Option<usize> {
        let inner = self.lock();
        match inner.open.get(key) {
            Some(o) if o.id == id => Some(o.waiters.len()),
            _ => None,
        }
    }

    /// Closes batch `id` and hands over who joined it.
    fn take(&self, key: &str, id: u64) -> Vec<Waiter> {
        let mut inner = self.lock();
        if inner.open.get(key).is_some_and(|o| o.id == id) {
            return inner
                .open
                .remove(key)
                .map(|o| o.waiters)
                .unwrap_or_default();
        }
        inner.full.remove(&id).unwrap_or_default()
    }

    /// The leader's wait: until the batch is quiet, full or old enough;
    /// then closes it and returns who joined. Dropped halfway (the
    /// launch cancelled), it closes the batch, and the waiters hear that
    /// their leader is gone.
    pub async fn gather(&self, req: &VmRequest, id: u64) -> Vec<Waiter> {
        struct Close<'a> {
            batches: &'a Batches,
            key: String,
            id: u64,
            armed: bool,
        }
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                if self.armed {
                    drop(self.batches.take(&self.key, self.id));
                }
            }
        }
        let mut close = Close {
            batches: self,
            key: shape(req),
            id,
            armed: true,
        };
        let start = tokio::time::Instant::now();
        let mut seen = 0;
        loop {
            tokio::time::sleep(QUIET).await;
            match self.joined(&close.key, id) {
                Some(n) if n > seen && start.elapsed() < MAX_WAIT => seen = n,
                _ => break,
            }
        }
        close.armed = false;
        self.take(&close.key, id)
    }
}

/// A follower's answer; a leader gone before answering is a transient
/// failure (the walk's retry makes the VM alone, or finds it made).
pub async fn answer(rx: oneshot::Receiver<Result<VmInfo>>) -> Result<VmInfo> {
    rx.await.unwrap_or_else(|_| {
        Err(ProviderError::Transient(
            "the RunInstances call this VM was to be made with did not answer (its launch stopped)"
                .into(),
        ))
    })
}

/// The `ClientToken` of a batch's call: the same for the same requests.
pub fn client_token(reqs: &[&VmRequest]) -> String {
    let first = reqs.first().map_or("", |r| r.cluster.as_str());
    let pairs: Vec<String> = reqs
        .iter()
        .map(|r| format!("{}={}", r.node, r.token))
        .collect();
    label::client_token(first, "batch", &pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec_of_radl;

    fn request(node: &str, system: &str) -> VmRequest {
        let spec = spec_of_radl(&format!(
            "system {system} (disk.0.image.url = 'aws://us-east-1/ami-1')\ndeploy {system} 1\n"
        ));
        VmRequest {
            cluster: "c1".into(),
            node: node.into(),
            number: 0,
            token: format!("tok-{node}"),
            system: spec.system(system).unwrap().clone(),
            networks: Vec::new(),
            public_key: String::new(),
        }
    }

    #[tokio::test]
    async fn requests_of_one_system_arriving_together_share_a_batch() {
        let b = Batches::default();
        let first = request("wn-1", "wn");
        let Joined::Leader(id) = b.join(&first) else {
            panic!("the first request leads")
        };
        let mut rxs = Vec::new();
        for n in ["wn-2", "wn-3"] {
            match b.join(&request(n, "wn")) {
                Joined::Follower(rx) => rxs.push(rx),
                Joined::Leader(_) => panic!("{n} joins the open batch"),
            }
        }
        assert!(
            matches!(b.join(&request("front", "front")), Joined::Leader(_)),
            "another system, another batch"
        );
        let waiters = b.gather(&first, id).await;
        let nodes: Vec<&str> = waiters.iter().map(|w| w.req.node.as_str()).collect();
        assert_eq!(nodes, ["wn-2", "wn-3"]);
        assert!(
            matches!(b.join(&request("wn-4", "wn")), Joined::Leader(_)),
            "a closed batch takes no one"
        );
        drop(waiters);
        for rx in rxs {
            let e = answer(rx).await.unwrap_err();
            assert!(e.is_transient(), "{e}");
        }
    }

    #[tokio::test]
    async fn a_full_batch_is_closed_and_the_next_request_opens_another() {
        let b = Batches::default();
        let first = request("wn-0", "wn");
        let Joined::Leader(id) = b.join(&first) else {
            panic!()
        };
        let mut rxs = Vec::new();
        for i in 1..MAX_BATCH {
            match b.join(&request(&format!("wn-{i}"), "wn")) {
                Joined::Follower(rx) => rxs.push(rx),
                Joined::Leader(_) => panic!("wn-{i} fits"),
            }
        }
        let Joined::Leader(second) = b.join(&request("wn-x", "wn")) else {
            panic!("the batch is full")
        };
        assert_ne!(id, second);
        assert_eq!(b.gather(&first, id).await.len(), MAX_BATCH - 1);
        assert!(b.gather(&request("wn-x", "wn"), second).await.is_empty());
    }

    #[tokio::test]
    async fn a_cancelled_leader_releases_its_followers() {
        let b = Batches::default();
        let first = request("wn-1", "wn");
        let Joined::Leader(id) = b.join(&first) else {
            panic!()
        };
        let Joined::Follower(rx) = b.join(&request("wn-2", "wn")) else {
            panic!()
        };
        let gather = b.gather(&first, id);
        // Dropped before it finishes.
        let _ = tokio::time::timeout(Duration::from_millis(10), gather).await;
        assert!(answer(rx).await.unwrap_err().is_transient());
    }

    #[test]
    fn client_tokens_follow_the_requests() {
        let (a, b) = (request("wn-1", "wn"), request("wn-2", "wn"));
        let t = client_token(&[&a, &b]);
        assert_eq!(t, client_token(&[&a, &b]));
        assert_ne!(t, client_token(&[&b, &a]));
        assert!(t.len() <= 64, "{t}");
    }
}
