//! The `sqs` queue: an Amazon SQS queue whose messages are the work, read
//! from the queue's attributes (`GetQueueAttributes`):
//!
//! - `ApproximateNumberOfMessages` (visible, waiting for a consumer) is
//!   the pending work: every `elastic_messages_per_node` messages (default
//!   1, as for RabbitMQ) are a pending job asking for one node and one
//!   CPU. A worker of C CPUs (`cpu.count`) counts for C jobs, so a type of
//!   C CPUs per node is powered on for every C × `elastic_messages_per_node`
//!   waiting messages: give the consumer that many at once.
//! - `ApproximateNumberOfMessagesNotVisible` (received by a consumer and
//!   not yet deleted) is the work in flight: while there is any, every
//!   worker counts as used; when there is none, every worker is idle.
//!   SQS does not say which consumer holds a message, so this is the safe
//!   reading: no worker is powered off while any message is being worked
//!   on, and idle workers go after `elastic_idle_time` with none in flight.
//!
//! SQS has no notion of nodes: the workers are the cluster's nodes whose
//! VM runs (the daemon passes them in). Draining is not needed: a worker
//! is powered off only when no message is in flight, and a message a
//! consumer received during the power-off returns to the queue when its
//! visibility timeout ends (SQS delivers at least once).
//!
//! This module only parses and maps; the calls are in `ops::elastic`.

use super::queue::{Job, QueueNode, QueueState, Snapshot};
use std::collections::HashMap;

/// At most this many pending jobs are made from the messages waiting: a
/// queue of millions of messages asks for every node the cluster may have
/// long before that.
pub const MAX_JOBS: u64 = 10_000;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SqsError {
    #[error(
        "`{0}` is not an SQS queue URL: give the QueueUrl SQS returned (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, or the endpoint's own form)"
    )]
    BadUrl(String),
    #[error("SQS answered GetQueueAttributes without `{0}`")]
    Missing(&'static str),
    #[error("SQS answered `{name}` = {value:?}, which is not a whole number of messages")]
    NotANumber { name: &'static str, value: String },
}

/// A queue URL split into what a client needs.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueUrl {
    /// The URL as given.
    pub url: String,
    /// `scheme://host[:port]`: the endpoint that serves the queue.
    pub endpoint: String,
    /// The region an AWS URL names (`sqs.REGION.amazonaws.com`), if any.
    pub region: Option<String>,
}

/// Reads a queue URL: `http(s)://HOST[:PORT]/ACCOUNT/NAME`.
pub fn parse_url(url: &str) -> Result<QueueUrl, SqsError> {
    let bad = || SqsError::BadUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let (authority, path) = rest.split_once('/').ok_or_else(bad)?;
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if authority.is_empty()
        || authority.contains(char::is_whitespace)
        || parts.len() != 2
        || parts.iter().any(|p| p.is_empty())
    {
        return Err(bad());
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let region = host
        .strip_prefix("sqs.")
        .and_then(|h| h.strip_suffix(".amazonaws.com"))
        .filter(|r| !r.is_empty() && !r.contains('.'))
        .map(str::to_string);
    Ok(QueueUrl {
        url: url.to_string(),
        endpoint: format!("{scheme}://{authority}"),
        region,
    })
}

/// The two counts the daemon reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depth {
    /// Waiting for a consumer.
    pub visible: u64,
    /// Received and not yet deleted.
    pub in_flight: u64,
}

pub const VISIBLE: &str = "ApproximateNumberOfMessages";
pub const IN_FLIGHT: &str = "ApproximateNumberOfMessagesNotVisible";

/// The counts from `GetQueueAttributes`' attribute map.
pub fn depth(attributes: &HashMap<String, String>) -> Result<Depth, SqsError> {
    let get = |name: &'static str| -> Result<u64, SqsError> {
        let v = attributes.get(name).ok_or(SqsError::Missing(name))?;
        v.trim().parse().map_err(|_| SqsError::NotANumber {
            name,
            value: v.clone(),
        })
    };
    Ok(Depth {
        visible: get(VISIBLE)?,
        in_flight: get(IN_FLIGHT)?,
    })
}

/// The queue's view: a one-CPU job per `per_node` waiting messages
/// (`elastic_messages_per_node`, at least 1; the last job may stand for
/// fewer; at most [`MAX_JOBS`] jobs), and each of `workers` used while
/// messages are in flight, idle otherwise.
pub fn snapshot(d: Depth, per_node: u32, workers: &[String]) -> Snapshot {
    let state = if d.in_flight > 0 {
        QueueState::Used
    } else {
        QueueState::Idle
    };
    Snapshot {
        pending: (1..=d.visible.div_ceil(u64::from(per_node.max(1))).min(MAX_JOBS))
            .map(|i| Job {
                id: format!("message-{i}"),
                cpus: 1,
                memory_mb: 0,
                nodes: 1,
                partition: None,
                gpus: 0,
                pending_since: None,
                blocked: None,
            })
            .collect(),
        running: u32::try_from(d.in_flight).unwrap_or(u32::MAX),
        nodes: workers
            .iter()
            .map(|w| QueueNode {
                name: w.clone(),
                state,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn urls_of_aws_and_of_an_endpoint() {
        let u = parse_url("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs").unwrap();
        assert_eq!(u.endpoint, "https://sqs.eu-west-1.amazonaws.com");
        assert_eq!(u.region.as_deref(), Some("eu-west-1"));
        let u = parse_url("http://10.250.9.1:4566/123456789012/jobs").unwrap();
        assert_eq!(u.endpoint, "http://10.250.9.1:4566");
        assert_eq!(u.region, None);
        for bad in [
            "jobs",
            "ftp://h/1/jobs",
            "http://h/jobs",
            "http:///1/jobs",
            "http://h/1/jobs/x",
            "http://h//jobs",
        ] {
            assert_eq!(parse_url(bad), Err(SqsError::BadUrl(bad.into())), "{bad}");
        }
    }

    #[test]
    fn attributes_are_read_and_bad_answers_are_errors() {
        let d = depth(&attrs(&[(VISIBLE, "7"), (IN_FLIGHT, "2")])).unwrap();
        assert_eq!(
            d,
            Depth {
                visible: 7,
                in_flight: 2
            }
        );
        assert_eq!(
            depth(&attrs(&[(VISIBLE, "7")])),
            Err(SqsError::Missing(IN_FLIGHT))
        );
        let e = depth(&attrs(&[(VISIBLE, "-1"), (IN_FLIGHT, "0")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SQS answered `ApproximateNumberOfMessages` = \"-1\", which is not a whole number of messages"
        );
        assert!(depth(&attrs(&[(VISIBLE, "many"), (IN_FLIGHT, "0")])).is_err());
    }

    #[test]
    fn messages_become_one_cpu_jobs_and_workers_are_used_while_any_is_in_flight() {
        let workers = vec!["wn-1".to_string(), "wn-2".to_string()];
        let s = snapshot(
            Depth {
                visible: 3,
                in_flight: 1,
            },
            1,
            &workers,
        );
        assert_eq!(s.pending.len(), 3);
        assert!(s.pending.iter().all(|j| j.cpus == 1 && j.nodes == 1));
        assert_eq!(s.running, 1);
        assert_eq!(s.node("wn-1"), Some(QueueState::Used));
        assert_eq!(s.node("wn-2"), Some(QueueState::Used));
        let s = snapshot(
            Depth {
                visible: 0,
                in_flight: 0,
            },
            1,
            &workers,
        );
        assert!(s.pending.is_empty());
        assert_eq!(s.node("wn-2"), Some(QueueState::Idle));
        let s = snapshot(
            Depth {
                visible: u64::MAX,
                in_flight: 0,
            },
            1,
            &[],
        );
        assert_eq!(s.pending.len() as u64, MAX_JOBS);
        // `elastic_messages_per_node = 4`: 9 messages are 3 jobs.
        let s = snapshot(
            Depth {
                visible: 9,
                in_flight: 0,
            },
            4,
            &[],
        );
        assert_eq!(s.pending.len(), 3);
    }
}
