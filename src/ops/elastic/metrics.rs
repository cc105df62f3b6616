//! Prometheus text metrics on a loopback port: nodes by system and state,
//! pending and running jobs, decisions by action, rounds, queue errors.

use super::ElasticError;
use crate::elastic::{Action, ElasticNode, NodeState, Snapshot};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    nodes: BTreeMap<(String, &'static str), u64>,
    pending: u64,
    running: u64,
    decisions: HashMap<Action, u64>,
    rounds: u64,
    queue_errors: u64,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn round(&self) {
        self.with(|m| m.rounds += 1);
    }

    pub fn queue_error(&self) {
        self.with(|m| m.queue_errors += 1);
    }

    pub fn decision(&self, a: Action) {
        self.with(|m| *m.decisions.entry(a).or_default() += 1);
    }

    pub fn observe(&self, nodes: &[ElasticNode], snap: &Snapshot) {
        self.with(|m| {
            m.nodes.clear();
            for n in nodes {
                for s in NodeState::ALL.iter() {
                    m.nodes.entry((n.system.clone(), s.as_str())).or_default();
                }
                *m.nodes
                    .entry((n.system.clone(), n.state.as_str()))
                    .or_default() += 1;
            }
            m.pending = snap.pending.len() as u64;
            m.running = snap.running as u64;
        });
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|m| {
            let mut s = String::new();
            s.push_str("# HELP nubo_elastic_nodes Elastic nodes by system and state.\n# TYPE nubo_elastic_nodes gauge\n");
            for ((sys, st), v) in &m.nodes {
                s.push_str(&format!("nubo_elastic_nodes{{system=\"{sys}\",state=\"{st}\"}} {v}\n"));
            }
            s.push_str(&format!(
                "# HELP nubo_elastic_pending_jobs Jobs waiting for nodes.\n# TYPE nubo_elastic_pending_jobs gauge\nnubo_elastic_pending_jobs {}\n",
                m.pending
            ));
            s.push_str(&format!(
                "# HELP nubo_elastic_running_jobs Jobs running.\n# TYPE nubo_elastic_running_jobs gauge\nnubo_elastic_running_jobs {}\n",
                m.running
            ));
            s.push_str("# HELP nubo_elastic_decisions_total Decisions by action.\n# TYPE nubo_elastic_decisions_total counter\n");
            for a in Action::ALL {
                s.push_str(&format!(
                    "nubo_elastic_decisions_total{{action=\"{a}\"}} {}\n",
                    m.decisions.get(a).copied().unwrap_or(0)
                ));
            }
            s.push_str(&format!(
                "# HELP nubo_elastic_rounds_total Decision rounds.\n# TYPE nubo_elastic_rounds_total counter\nnubo_elastic_rounds_total {}\n",
                m.rounds
            ));
            s.push_str(&format!(
                "# HELP nubo_elastic_queue_errors_total Failed job-queue readings.\n# TYPE nubo_elastic_queue_errors_total counter\nnubo_elastic_queue_errors_total {}\n",
                m.queue_errors
            ));
            s
        })
    }
}

/// A running metrics server; dropping it stops it.
pub struct Server(tokio::task::JoinHandle<()>);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `GET /metrics` (any path) on `addr`, which must be a loopback
/// address.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Server, ElasticError> {
    if !addr.ip().is_loopback() {
        return Err(ElasticError::Io(format!(
            "metrics are served on loopback addresses only (127.0.0.1:PORT or [::1]:PORT), not {addr}"
        )));
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| ElasticError::Io(format!("cannot listen on {addr}: {e}")))?;
    Ok(Server(tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let body = metrics.render();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                // The request itself does not matter: read its head, answer.
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf))
                        .await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elastic::{QueueNode, QueueState};

    #[tokio::test]
    async fn metrics_are_served_as_prometheus_text() {
        let m = Arc::new(Metrics::default());
        let nodes = [ElasticNode::new("wn-1", "wn", 1, NodeState::Idle, 0)];
        m.observe(
            &nodes,
            &Snapshot {
                pending: vec![],
                running: 2,
                nodes: vec![QueueNode {
                    name: "wn-1".into(),
                    state: QueueState::Idle,
                }],
            },
        );
        m.decision(Action::PowerOn);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let _s = serve(addr, m.clone()).await.unwrap();
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(
            out.contains("nubo_elastic_nodes{system=\"wn\",state=\"idle\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("nubo_elastic_running_jobs 2\n"));
        assert!(out.contains("nubo_elastic_decisions_total{action=\"power_on\"} 1\n"));
        assert!(serve("0.0.0.0:0".parse().unwrap(), m).await.is_err());
    }
}
