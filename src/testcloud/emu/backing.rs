//! Real hosts behind an emulated cloud's VMs: what the API is asked to do
//! to a VM (boot, stop, start, delete, a floating address) is done to a
//! [`TestCloud`] host, off the runtime, in the order asked for each host
//! and for different hosts at once. The emulator hands each operation a
//! callback that records the outcome in its own state (a server becomes
//! `ACTIVE`, `SHUTOFF`, `ERROR`, or is gone), so the API answers what the
//! host really did.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use tokio::sync::mpsc;

use super::super::{Boot, HostSpec, Nic, TestCloud, TestCloudError};

/// One thing to do to a host.
#[derive(Debug, Clone)]
pub enum HostOp {
    Boot(HostSpec),
    Stop,
    Start,
    Remove,
    AttachNic(Nic),
    DetachNic(Ipv4Addr),
}

/// What an operation gives back: the boot's report for `Boot` and
/// `Start`.
pub type Outcome = Result<Option<Boot>, TestCloudError>;

/// Called with the outcome, on a tokio worker thread.
pub type Done = Box<dyn FnOnce(Outcome) + Send>;

type Work = (HostOp, Done);

/// The test cloud and one queue per host.
#[derive(Debug)]
pub struct Backing {
    cloud: TestCloud,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Work>>>,
}

impl Backing {
    pub fn new(cloud: TestCloud) -> Backing {
        Backing {
            cloud,
            queues: Mutex::new(HashMap::new()),
        }
    }

    pub fn cloud(&self) -> &TestCloud {
        &self.cloud
    }

    /// Queues `op` for `host`; `done` gets its outcome. Needs a tokio
    /// runtime; never blocks.
    pub fn submit(&self, host: &str, op: HostOp, done: Done) {
        let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
        let tx = queues.entry(host.to_string()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(worker(self.cloud.clone(), host.to_string(), rx));
            tx
        });
        if let Err(mpsc::error::SendError((_, done))) = tx.send((op, done)) {
            done(Err(TestCloudError::Invalid {
                what: "host",
                value: host.to_string(),
                why: "its queue has stopped".into(),
            }));
        }
    }
}

async fn worker(cloud: TestCloud, host: String, mut rx: mpsc::UnboundedReceiver<Work>) {
    while let Some((op, done)) = rx.recv().await {
        let cloud = cloud.clone();
        let name = host.clone();
        let outcome = tokio::task::spawn_blocking(move || run(&cloud, &name, op))
            .await
            .unwrap_or_else(|e| {
                Err(TestCloudError::Invalid {
                    what: "host operation",
                    value: host.clone(),
                    why: format!("it panicked: {e}"),
                })
            });
        done(outcome);
    }
}

fn run(cloud: &TestCloud, host: &str, op: HostOp) -> Outcome {
    match op {
        HostOp::Boot(spec) => cloud.boot(&spec).map(Some),
        HostOp::Start => cloud.start(host).map(Some),
        HostOp::Stop => cloud.stop(host).map(|()| None),
        HostOp::Remove => cloud.remove(host).map(|()| None),
        HostOp::AttachNic(nic) => cloud.attach_nic(host, nic).map(|()| None),
        HostOp::DetachNic(ip) => cloud.detach_nic(host, ip).map(|()| None),
    }
}
