//! The graph walk, as Terraform walks its graph: a vertex runs as soon as
//! everything it waits for is done; a failure skips what depends on it
//! (reported once, at the failure); independent work goes on, and every
//! outcome is collected. Concurrency is limited per kind of work,
//! transient errors are retried with exponential backoff, and VM launches
//! share a per-system failure budget (IM's MAX_VM_FAILS).

use super::graph::{DeployGraph, Vertex, VertexKind};
use indexmap::IndexMap;
use petgraph::Direction;
use petgraph::graph::NodeIndex;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Why a vertex failed: the executor's error, kept whole (its source
/// chain, its type) for the caller to render; `plan/` never formats it
/// beyond `Display`.
#[derive(Clone)]
pub struct Failure(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Failure {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Failure {
        Failure(Arc::new(e))
    }

    /// The error itself.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// The error as its own type, when it is one.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

/// A failure that is only a message (the walk's own, tests').
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

impl From<String> for Failure {
    fn from(m: String) -> Failure {
        Failure::new(Message(m))
    }
}

impl From<&str> for Failure {
    fn from(m: &str) -> Failure {
        Failure::new(Message(m.to_string()))
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Failure({:?})", self.to_string())
    }
}

/// The error and each of its causes, `: ` between them.
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// Failures compare by what they say (for tests of outcomes).
impl PartialEq for Failure {
    fn eq(&self, other: &Failure) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Failure {}

/// What an executor reports when a vertex's work fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepError {
    /// Worth retrying (a timeout, a 503, a busy host).
    Transient(Failure),
    /// Retrying will not help (bad credentials, quota exceeded, a recipe
    /// that exits non-zero).
    Final(Failure),
}

impl StepError {
    pub fn failure(&self) -> &Failure {
        match self {
            StepError::Transient(f) | StepError::Final(f) => f,
        }
    }

    /// Transient or final, as `transient` says.
    pub fn new(transient: bool, e: impl std::error::Error + Send + Sync + 'static) -> StepError {
        if transient {
            StepError::Transient(Failure::new(e))
        } else {
            StepError::Final(Failure::new(e))
        }
    }
}

/// Does the work of one vertex. Implemented by the launch operation (on a
/// provider and SSH) and by tests.
pub trait Executor: Send + Sync + 'static {
    fn run(
        self: Arc<Self>,
        vertex: Vertex,
    ) -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'static>>;
}

#[derive(Clone, Debug)]
pub struct WalkOptions {
    /// Maximum vertices of a kind running at once (8 for a kind not given).
    pub limits: HashMap<VertexKind, usize>,
    /// Attempts per vertex for transient errors (1 = no retry).
    pub max_attempts: u32,
    /// First retry delay; doubled each time, capped at `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failed VM launches allowed per system before the system is declared
    /// failed and its remaining VMs are not tried (IM's MAX_VM_FAILS).
    pub max_vm_failures: u32,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            limits: HashMap::from([
                (VertexKind::Network, 4),
                // Each provider bounds its own create calls
                // (`Provider::creates_at_once`: 16, EC2 100 in one call).
                (VertexKind::Vm, 100),
                (VertexKind::Configure, 32),
            ]),
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_vm_failures: 5,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done {
        attempts: u32,
    },
    Failed {
        error: Failure,
        attempts: u32,
    },
    /// Not run because something it waits for failed.
    Skipped {
        because: Vertex,
    },
}

/// Every vertex's outcome, in the order they finished.
#[derive(Debug, Default)]
pub struct WalkReport {
    pub outcomes: IndexMap<Vertex, Outcome>,
}

impl WalkReport {
    pub fn succeeded(&self) -> bool {
        self.outcomes
            .values()
            .all(|o| matches!(o, Outcome::Done { .. }))
    }

    pub fn failures(&self) -> impl Iterator<Item = (&Vertex, &Failure)> {
        self.outcomes.iter().filter_map(|(v, o)| match o {
            Outcome::Failed { error, .. } => Some((v, error)),
            _ => None,
        })
    }
}

/// Per-system count of failed VM launch attempts.
type Budget = Arc<Mutex<HashMap<String, u32>>>;

/// Walks the whole graph and returns every vertex's outcome.
pub async fn walk<E: Executor>(g: &DeployGraph, exec: Arc<E>, opts: &WalkOptions) -> WalkReport {
    let graph = &g.graph;
    let mut waiting: HashMap<NodeIndex, usize> = graph
        .node_indices()
        .map(|n| (n, graph.neighbors_directed(n, Direction::Incoming).count()))
        .collect();
    let semaphores: HashMap<VertexKind, Arc<Semaphore>> = VertexKind::ALL
        .iter()
        .map(|&k| {
            (
                k,
                Arc::new(Semaphore::new(
                    opts.limits.get(&k).copied().unwrap_or(8).max(1),
                )),
            )
        })
        .collect();
    let budget: Budget = Arc::default();
    let mut report = WalkReport::default();
    let mut blocked: HashSet<NodeIndex> = HashSet::new();
    let mut tasks = JoinSet::new();

    let start = |n: NodeIndex, tasks: &mut JoinSet<(NodeIndex, Outcome)>| {
        let vertex = graph[n].clone();
        let sem = semaphores[&vertex.kind()].clone();
        let exec = exec.clone();
        let opts = opts.clone();
        let budget = budget.clone();
        tasks.spawn(async move {
            let _permit = sem
                .acquire_owned()
                .await
                .expect("semaphores are never closed");
            (n, run_with_retries(exec, vertex, &opts, &budget).await)
        });
    };
    for n in g.order() {
        if waiting[&n] == 0 {
            start(n, &mut tasks);
        }
    }
    while let Some(joined) = tasks.join_next().await {
        let (n, outcome) = joined.expect("vertex tasks do not panic");
        let ok = matches!(outcome, Outcome::Done { .. });
        report.outcomes.insert(graph[n].clone(), outcome);
        if !ok {
            // Skip everything below the failure, once.
            let mut stack: Vec<NodeIndex> =
                graph.neighbors_directed(n, Direction::Outgoing).collect();
            while let Some(d) = stack.pop() {
                if blocked.insert(d) {
                    report.outcomes.insert(
                        graph[d].clone(),
                        Outcome::Skipped {
                            because: graph[n].clone(),
                        },
                    );
                    stack.extend(graph.neighbors_directed(d, Direction::Outgoing));
                }
            }
            continue;
        }
        let mut next: Vec<NodeIndex> = graph.neighbors_directed(n, Direction::Outgoing).collect();
        next.sort_by(|a, b| graph[*a].cmp(&graph[*b]));
        for d in next {
            let w = waiting.get_mut(&d).expect("every vertex has a count");
            *w -= 1;
            if *w == 0 && !blocked.contains(&d) {
                start(d, &mut tasks);
            }
        }
    }
    report
}

async fn run_with_retries<E: Executor>(
    exec: Arc<E>,
    v: Vertex,
    opts: &WalkOptions,
    budget: &Budget,
) -> Outcome {
    let system = match &v {
        Vertex::Vm { system, .. } => Some(system.clone()),
        _ => None,
    };
    let mut delay = opts.base_delay;
    let mut attempts = 0;
    loop {
        if let Some(s) = &system {
            let used = budget
                .lock()
                .expect("budget lock")
                .get(s)
                .copied()
                .unwrap_or(0);
            if used >= opts.max_vm_failures {
                return Outcome::Failed {
                    error: format!(
                        "system `{s}` failed: {used} VM launches failed (the limit is {})",
                        opts.max_vm_failures
                    )
                    .into(),
                    attempts,
                };
            }
        }
        attempts += 1;
        let result = exec.clone().run(v.clone()).await;
        let err = match result {
            Ok(()) => return Outcome::Done { attempts },
            Err(e) => e,
        };
        if let Some(s) = &system {
            *budget
                .lock()
                .expect("budget lock")
                .entry(s.clone())
                .or_default() += 1;
        }
        tracing::warn!(vertex = %v, attempt = attempts, error = %err.failure(), "step failed");
        match err {
            StepError::Transient(_) if attempts < opts.max_attempts => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(opts.max_delay);
            }
            e => {
                return Outcome::Failed {
                    error: e.failure().clone(),
                    attempts,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radl;
    use crate::source::FileId;

    /// Records what ran and how many of each kind ran at once; fails
    /// vertices named in `failures` a given number of times.
    #[derive(Default)]
    struct Recorder {
        ran: Mutex<Vec<String>>,
        running: Mutex<HashMap<VertexKind, usize>>,
        max_running: Mutex<HashMap<VertexKind, usize>>,
        /// vertex text -> (remaining failures, transient?)
        failures: Mutex<HashMap<String, (u32, bool)>>,
    }

    impl Recorder {
        fn max(&self, kind: VertexKind) -> usize {
            self.max_running
                .lock()
                .unwrap()
                .get(&kind)
                .copied()
                .unwrap_or(0)
        }
    }

    impl Executor for Recorder {
        fn run(
            self: Arc<Self>,
            v: Vertex,
        ) -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'static>> {
            Box::pin(async move {
                {
                    let mut running = self.running.lock().unwrap();
                    let now = running.entry(v.kind()).or_default();
                    *now += 1;
                    let mut max = self.max_running.lock().unwrap();
                    let m = max.entry(v.kind()).or_default();
                    *m = (*m).max(*now);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
                *self.running.lock().unwrap().get_mut(&v.kind()).unwrap() -= 1;
                self.ran.lock().unwrap().push(v.to_string());
                let mut f = self.failures.lock().unwrap();
                match f.get_mut(&v.to_string()) {
                    Some((n, transient)) if *n > 0 => {
                        *n -= 1;
                        Err(if *transient {
                            StepError::Transient("busy".into())
                        } else {
                            StepError::Final("broken".into())
                        })
                    }
                    _ => Ok(()),
                }
            })
        }
    }

    fn graph() -> DeployGraph {
        let text = "network private ()\n\
            system front (net_interface.0.connection = 'private')\n\
            system wn (net_interface.0.connection = 'private')\n\
            configure base (\n@begin\n- shell: true\n@end\n)\n\
            configure wn (\n@begin\n- shell: echo {{ front }}\n@end\n)\n\
            contextualize (\n system front configure base step 1\n system wn configure base step 1\n system wn configure wn step 2\n)\n\
            deploy front 1\ndeploy wn 4\n";
        let v = radl::validate(FileId(0), text);
        DeployGraph::build(&crate::model::lower(&v.document).0).unwrap()
    }

    fn fast() -> WalkOptions {
        WalkOptions {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            ..WalkOptions::default()
        }
    }

    fn recorder(failures: &[(&str, u32, bool)]) -> Arc<Recorder> {
        let r = Recorder::default();
        *r.failures.lock().unwrap() = failures
            .iter()
            .map(|(v, n, t)| (v.to_string(), (*n, *t)))
            .collect();
        Arc::new(r)
    }

    #[tokio::test]
    async fn runs_everything_in_dependency_order() {
        let g = graph();
        let r = recorder(&[]);
        let report = walk(&g, r.clone(), &fast()).await;
        assert!(report.succeeded());
        let ran = r.ran.lock().unwrap().clone();
        assert_eq!(ran.len(), 15);
        let pos = |s: &str| ran.iter().position(|x| x == s).unwrap();
        assert!(pos("network private") < pos("vm front"));
        for w in 1..=4 {
            assert!(
                pos(&format!("configure base on wn-{w} (step 1)"))
                    < pos("configure wn on wn-1 (step 2)")
            );
        }
        assert!(
            r.max(VertexKind::Vm) >= 4,
            "independent VMs run concurrently"
        );
    }

    #[tokio::test]
    async fn concurrency_limit_per_kind_is_respected() {
        let g = graph();
        let r = recorder(&[]);
        let opts = WalkOptions {
            limits: HashMap::from([
                (VertexKind::Network, 1),
                (VertexKind::Vm, 2),
                (VertexKind::Configure, 2),
            ]),
            ..fast()
        };
        assert!(walk(&g, r.clone(), &opts).await.succeeded());
        assert!(
            r.max(VertexKind::Vm) <= 2
                && r.max(VertexKind::Configure) <= 2
                && r.max(VertexKind::Network) <= 1
        );
        assert_eq!(r.max(VertexKind::Vm), 2, "the limit is used, not undershot");
    }

    #[tokio::test]
    async fn transient_errors_are_retried() {
        let g = graph();
        let r = recorder(&[("vm wn-2", 2, true)]);
        let report = walk(&g, r.clone(), &fast()).await;
        assert!(report.succeeded());
        let vm = Vertex::Vm {
            system: "wn".into(),
            name: "wn-2".into(),
        };
        assert_eq!(report.outcomes[&vm], Outcome::Done { attempts: 3 });
    }

    #[tokio::test]
    async fn a_failure_skips_what_depends_on_it_and_nothing_else() {
        let g = graph();
        let r = recorder(&[("vm wn-3", 1, false)]);
        let report = walk(&g, r.clone(), &fast()).await;
        let failures: Vec<_> = report
            .failures()
            .map(|(v, e)| (v.to_string(), e.to_string()))
            .collect();
        assert_eq!(failures, [("vm wn-3".to_string(), "broken".to_string())]);
        let skipped: Vec<String> = report
            .outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Skipped { .. }))
            .map(|(v, _)| v.to_string())
            .collect();
        // wn-3's own steps, and every step-2 vertex (they wait for all step-1 work).
        assert_eq!(skipped.len(), 1 + 4, "{skipped:?}");
        assert!(report.outcomes.contains_key(&Vertex::Configure {
            node: "wn-1".into(),
            system: "wn".into(),
            configure: "base".into(),
            step: 1
        }));
        assert_eq!(report.outcomes.len(), 15, "every vertex has an outcome");
    }

    #[tokio::test]
    async fn failed_launch_budget_declares_the_system_failed() {
        let g = graph();
        let r = recorder(&[
            ("vm wn-1", 9, true),
            ("vm wn-2", 9, true),
            ("vm wn-3", 9, true),
            ("vm wn-4", 9, true),
        ]);
        let opts = WalkOptions {
            max_attempts: 3,
            max_vm_failures: 5,
            limits: HashMap::from([(VertexKind::Vm, 1)]),
            ..fast()
        };
        let report = walk(&g, r.clone(), &opts).await;
        let tried = r
            .ran
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.starts_with("vm wn-"))
            .count();
        assert_eq!(tried, 5, "launch attempts stop at the budget");
        let msgs: Vec<_> = report.failures().map(|(_, e)| e.to_string()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.contains("system `wn` failed: 5 VM launches failed")),
            "{msgs:?}"
        );
        assert!(
            report.outcomes[&Vertex::Vm {
                system: "front".into(),
                name: "front".into()
            }] == Outcome::Done { attempts: 1 }
        );
    }
}
