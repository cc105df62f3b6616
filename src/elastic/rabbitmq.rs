//! Reading a RabbitMQ queue: `rabbitmqctl`'s JSON listings (the command
//! [`snapshot_command`] prints them, one after the other, between marker
//! lines) parsed into a [`Snapshot`].
//!
//! - Pending work: the queue's ready messages, one pending job (one node,
//!   one CPU) per `per_node` of them (`elastic_messages_per_node`, default
//!   1; the last job may stand for fewer), with ids `QUEUE#1`, `QUEUE#2`,
//!   ... A worker of C CPUs is counted for C jobs, so C × `per_node`
//!   messages (the shipped consumer takes one message at a time: give its
//!   system one CPU, or messages per node to match).
//! - Running: the queue's unacknowledged messages.
//! - Nodes: each connection is a node, named by the `connection_name` its
//!   client gives (`nubo-amqp` gives its host name), else by the address it
//!   comes from, looked up in the addresses the caller knows (the
//!   cluster's VMs). A node with unacknowledged messages on any of its
//!   channels is used; one consuming the queue with none is idle; a node
//!   neither consuming the queue nor holding messages is not listed (the
//!   daemon waits for it, or drains it).
//!
//! A queue the broker does not have is an error (a mistyped name would
//! otherwise never scale anything).

use super::queue::{Job, QueueNode, QueueState, Snapshot};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// The marker printed before each listing.
const MARK: &str = "::nubo-rabbitmq ";

/// The listings, as `rabbitmqctl` 3.8 and later print them, one marker line
/// before each. `rabbitmqctl` runs as root or the `rabbitmq` user: through
/// `sudo -n` when the login user is neither.
pub fn snapshot_command() -> String {
    let lists = [
        (
            "queues",
            "list_queues name messages_ready messages_unacknowledged consumers",
        ),
        ("consumers", "list_consumers queue_name channel_pid"),
        (
            "channels",
            "list_channels pid connection name messages_unacknowledged",
        ),
        (
            "connections",
            "list_connections pid peer_host client_properties",
        ),
    ];
    let mut cmd = String::from(
        "set -e; if [ \"$(id -u)\" = 0 ]; then r=rabbitmqctl; else r='sudo -n rabbitmqctl'; fi",
    );
    for (name, list) in lists {
        cmd.push_str(&format!(
            "; echo '{MARK}{name}'; $r -q {list} --formatter json"
        ));
    }
    cmd
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RabbitParseError {
    #[error(
        "rabbitmqctl's output has no `{0}` listing (is rabbitmq-server 3.8 or later running on the front-end?)"
    )]
    Missing(&'static str),
    #[error(
        "rabbitmqctl's `{list}` listing is not the expected JSON (line {line}, column {column}): {why}"
    )]
    Json {
        list: &'static str,
        line: usize,
        column: usize,
        why: String,
    },
    #[error(
        "the broker has no queue `{queue}` (its queues: {known}): declare it, or name it in `--queue rabbitmq:QUEUE`"
    )]
    NoQueue { queue: String, known: String },
}

#[derive(Deserialize)]
struct QueueRow {
    name: String,
    #[serde(default)]
    messages_ready: u64,
    #[serde(default)]
    messages_unacknowledged: u64,
}

#[derive(Deserialize)]
struct ConsumerRow {
    queue_name: String,
    channel_pid: String,
}

#[derive(Deserialize)]
struct ChannelRow {
    pid: String,
    connection: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    messages_unacknowledged: u64,
}

#[derive(Deserialize)]
struct ConnectionRow {
    pid: String,
    #[serde(default)]
    peer_host: serde_json::Value,
    #[serde(default)]
    client_properties: serde_json::Value,
}

/// The lines after `name`'s marker, up to the next marker.
fn section(text: &str, name: &'static str) -> Result<String, RabbitParseError> {
    let mark = format!("{MARK}{name}");
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == mark)
        .ok_or(RabbitParseError::Missing(name))?;
    Ok(lines
        .take_while(|l| !l.starts_with(MARK))
        .collect::<Vec<_>>()
        .join("\n"))
}

fn rows<T: serde::de::DeserializeOwned>(
    text: &str,
    name: &'static str,
) -> Result<Vec<T>, RabbitParseError> {
    let body = section(text, name)?;
    // rabbitmqctl prints nothing at all for an empty listing in some
    // versions, `[\n]` in others.
    if body.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&body).map_err(|e| RabbitParseError::Json {
        list: name,
        line: e.line(),
        column: e.column(),
        why: e.to_string(),
    })
}

/// A peer address as rabbitmqctl prints it: an Erlang address tuple (4
/// numbers, or 8 for IPv6, an IPv4-mapped one read as IPv4) or a string.
fn address(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(a) => {
            let n: Vec<u16> = a
                .iter()
                .map(|x| x.as_u64().and_then(|x| u16::try_from(x).ok()))
                .collect::<Option<_>>()?;
            match n.as_slice() {
                [a, b, c, d] if n.iter().all(|x| *x < 256) => Some(format!("{a}.{b}.{c}.{d}")),
                [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(format!(
                    "{}.{}.{}.{}",
                    hi >> 8,
                    hi & 0xff,
                    lo >> 8,
                    lo & 0xff
                )),
                [_, _, _, _, _, _, _, _] => Some(
                    std::net::Ipv6Addr::new(n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7])
                        .to_string(),
                ),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The `connection_name` a client gave, from rabbitmqctl's client
/// properties (a list of `[key, type, value]`).
fn connection_name(props: &serde_json::Value) -> Option<String> {
    props.as_array()?.iter().find_map(|p| {
        let p = p.as_array()?;
        (p.first()?.as_str()? == "connection_name")
            .then(|| p.get(2)?.as_str().map(str::to_string))
            .flatten()
    })
}

/// The peer address from a channel's name (`10.0.0.5:41234 -> 10.0.0.1:5672 (1)`).
fn channel_peer(name: &str) -> Option<String> {
    let left = name.split(" -> ").next()?.trim();
    let (host, _port) = left.rsplit_once(':')?;
    Some(host.trim_matches(|c| c == '[' || c == ']').to_string())
}

/// The snapshot of queue `queue` from [`snapshot_command`]'s output.
/// `per_node`: ready messages per pending job (at least 1). `addresses`:
/// node name by address, for connections that give no name.
pub fn parse(
    text: &str,
    queue: &str,
    per_node: u32,
    addresses: &HashMap<String, String>,
) -> Result<Snapshot, RabbitParseError> {
    let queues: Vec<QueueRow> = rows(text, "queues")?;
    let consumers: Vec<ConsumerRow> = rows(text, "consumers")?;
    let channels: Vec<ChannelRow> = rows(text, "channels")?;
    let connections: Vec<ConnectionRow> = rows(text, "connections")?;
    let q = queues
        .iter()
        .find(|q| q.name == queue)
        .ok_or_else(|| RabbitParseError::NoQueue {
            queue: queue.to_string(),
            known: if queues.is_empty() {
                "none".into()
            } else {
                queues
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })?;
    let per_node = u64::from(per_node.max(1));
    let jobs = q.messages_ready.div_ceil(per_node);
    let pending = (1..=jobs)
        .map(|k| Job {
            id: format!("{queue}#{k}"),
            cpus: 1,
            memory_mb: 0,
            nodes: 1,
            partition: None,
            gpus: 0,
            pending_since: None,
            blocked: None,
        })
        .collect();
    // Each connection's node.
    let node_of = |conn: &str, channel_name: &str| -> Option<String> {
        let c = connections.iter().find(|c| c.pid == conn);
        if let Some(name) = c.and_then(|c| connection_name(&c.client_properties)) {
            return Some(name);
        }
        let peer = c
            .and_then(|c| address(&c.peer_host))
            .or_else(|| channel_peer(channel_name))?;
        addresses.get(&peer).cloned()
    };
    let mut nodes: BTreeMap<String, QueueState> = BTreeMap::new();
    for ch in &channels {
        let Some(node) = node_of(&ch.connection, &ch.name) else {
            continue;
        };
        let consuming = consumers
            .iter()
            .any(|c| c.channel_pid == ch.pid && c.queue_name == queue);
        let state = if ch.messages_unacknowledged > 0 {
            QueueState::Used
        } else if consuming {
            QueueState::Idle
        } else {
            continue;
        };
        let e = nodes.entry(node).or_insert(state);
        if state == QueueState::Used {
            *e = QueueState::Used;
        }
    }
    Ok(Snapshot {
        pending,
        running: u32::try_from(q.messages_unacknowledged).unwrap_or(u32::MAX),
        nodes: nodes
            .into_iter()
            .map(|(name, state)| QueueNode { name, state })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian 12's rabbitmq-server 3.10.8 printed for
    /// [`snapshot_command`] on the rabbitmq template's front-end (local
    /// provider): worker wn-1 holds one message of `jobs`, two wait, and
    /// the reply queue `done` is empty.
    const BUSY: &str = r##"::nubo-rabbitmq queues
[
{"name":"jobs","messages_ready":2,"messages_unacknowledged":1,"consumers":1}
,{"name":"done","messages_ready":0,"messages_unacknowledged":0,"consumers":0}
]
::nubo-rabbitmq consumers
[
{"queue_name":"jobs","channel_pid":"#PID<12575.784.0>"}
]
::nubo-rabbitmq channels
[
{"pid":"#PID<12575.784.0>","connection":"#PID<12575.775.0>","name":"10.250.177.11:58206 -> 10.250.177.10:5672 (1)","consumer_count":1,"messages_unacknowledged":1}
]
::nubo-rabbitmq connections
[
{"pid":"#PID<12575.775.0>","peer_host":[0,0,0,0,0,65535,2810,45323],"client_properties":[["product","longstr","Pika Python Client Library"],["platform","longstr","Python 3.11.2"],["capabilities","table",[["authentication_failure_close","bool",true],["basic.nack","bool",true],["connection.blocked","bool",true],["consumer_cancel_notify","bool",true],["publisher_confirms","bool",true]]],["information","longstr","See http://pika.rtfd.org"],["version","longstr","1.2.0"],["connection_name","longstr","wn-1"]]}
]
"##;

    fn no_addresses() -> HashMap<String, String> {
        HashMap::new()
    }

    #[test]
    fn ready_messages_are_pending_jobs_and_a_worker_holding_one_is_used() {
        let s = parse(BUSY, "jobs", 1, &no_addresses()).unwrap();
        let ids: Vec<&str> = s.pending.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["jobs#1", "jobs#2"]);
        assert!(s.pending.iter().all(|j| j.cpus == 1 && j.nodes == 1));
        assert_eq!(s.running, 1);
        assert_eq!(s.node("wn-1"), Some(QueueState::Used));
        assert_eq!(s.nodes.len(), 1);
        // Three ready messages per node: one job for the two.
        let s = parse(BUSY, "jobs", 3, &no_addresses()).unwrap();
        assert_eq!(s.pending.len(), 1);
    }

    #[test]
    fn a_consumer_without_messages_is_idle_and_one_without_a_name_is_found_by_address() {
        let idle = BUSY
            .replace(
                r#""messages_ready":2,"messages_unacknowledged":1"#,
                r#""messages_ready":0,"messages_unacknowledged":0"#,
            )
            .replace(
                r#""consumer_count":1,"messages_unacknowledged":1"#,
                r#""consumer_count":1,"messages_unacknowledged":0"#,
            );
        let s = parse(&idle, "jobs", 1, &no_addresses()).unwrap();
        assert!(s.pending.is_empty());
        assert_eq!(s.node("wn-1"), Some(QueueState::Idle));
        // No connection name: the address, IPv4-mapped (2810 = 10.250,
        // 45323 = 177.11), names the node.
        let anonymous = idle.replace(r#",["connection_name","longstr","wn-1"]"#, "");
        let s = parse(&anonymous, "jobs", 1, &no_addresses()).unwrap();
        assert!(s.nodes.is_empty(), "an unknown address is no node");
        let known = HashMap::from([("10.250.177.11".to_string(), "wn-2".to_string())]);
        let s = parse(&anonymous, "jobs", 1, &known).unwrap();
        assert_eq!(s.node("wn-2"), Some(QueueState::Idle));
    }

    #[test]
    fn a_drained_worker_finishing_a_message_is_used_and_one_done_is_not_listed() {
        // The consumer cancelled: no consumer row, the channel still holds
        // the message.
        let draining = BUSY.replace(
            r##"{"queue_name":"jobs","channel_pid":"#PID<12575.784.0>"}"##,
            "",
        );
        let s = parse(&draining, "jobs", 1, &no_addresses()).unwrap();
        assert_eq!(s.node("wn-1"), Some(QueueState::Used));
        let done = draining.replace(
            r#""consumer_count":1,"messages_unacknowledged":1"#,
            r#""consumer_count":0,"messages_unacknowledged":0"#,
        );
        let s = parse(&done, "jobs", 1, &no_addresses()).unwrap();
        assert_eq!(s.node("wn-1"), None);
    }

    #[test]
    fn addresses_in_every_form() {
        use serde_json::json;
        assert_eq!(address(&json!([10, 0, 0, 5])).as_deref(), Some("10.0.0.5"));
        assert_eq!(
            address(&json!([0, 0, 0, 0, 0, 65535, 2810, 45323])).as_deref(),
            Some("10.250.177.11")
        );
        assert_eq!(
            address(&json!([0xfd00, 0, 0, 0, 0, 0, 0, 1])).as_deref(),
            Some("fd00::1")
        );
        assert_eq!(address(&json!("10.1.2.3")).as_deref(), Some("10.1.2.3"));
        assert_eq!(address(&json!([1, 2, 3])), None);
        assert_eq!(address(&json!([300, 2, 3, 4])), None);
        assert_eq!(
            channel_peer("10.250.177.11:58206 -> 10.250.177.10:5672 (1)").as_deref(),
            Some("10.250.177.11")
        );
    }

    #[test]
    fn bad_output_is_a_clear_error() {
        let e = parse("", "jobs", 1, &no_addresses()).unwrap_err();
        assert_eq!(e, RabbitParseError::Missing("queues"));
        let e = parse(
            &BUSY.replace(r#","messages_ready":2"#, r#","messages_ready":"two""#),
            "jobs",
            1,
            &no_addresses(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                RabbitParseError::Json {
                    list: "queues",
                    line: 2,
                    ..
                }
            ),
            "{e}"
        );
        let e = parse(BUSY, "jobz", 1, &no_addresses()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the broker has no queue `jobz` (its queues: jobs, done): declare it, or name it in `--queue rabbitmq:QUEUE`"
        );
        // Truncated output, and an empty listing.
        let cut = &BUSY[..BUSY.len() / 2];
        assert!(parse(cut, "jobs", 1, &no_addresses()).is_err());
        let empty = "::nubo-rabbitmq queues\n[\n{\"name\":\"jobs\",\"messages_ready\":0,\"messages_unacknowledged\":0}\n]\n::nubo-rabbitmq consumers\n::nubo-rabbitmq channels\n[\n]\n::nubo-rabbitmq connections\n";
        let s = parse(empty, "jobs", 1, &no_addresses()).unwrap();
        assert_eq!((s.pending.len(), s.running, s.nodes.len()), (0, 0, 0));
    }
}
