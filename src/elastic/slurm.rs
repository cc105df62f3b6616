//! Reading SLURM's queue: `squeue` and `sinfo` output in the formats
//! [`SQUEUE`] and [`SINFO`] ask for, parsed into a [`Snapshot`].
//!
//! Node states (sinfo's long form, its flag suffixes removed): `idle` is
//! idle; `allocated`, `mixed`, `completing` and `draining` (a drain with
//! jobs still running) are used; `down`, `future`, `unknown`, a node not
//! responding (`*`), powered down (`~`), powering up (`#`) or down (`%`) are
//! off; `drained`, `fail` and `failing` are failed.
//!
//! Pending jobs count only when they wait for nodes (reason `Resources`,
//! `Priority`, `None`, `ReqNodeNotAvail...`, `NodeDown`, `Nodes required...`),
//! not when held, waiting on a dependency or a start time.

use super::queue::{Job, QueueNode, QueueState, Snapshot};

/// The squeue command the parser reads: id, state, CPUs per node, memory,
/// nodes, partition, reason.
pub const SQUEUE: &str =
    "squeue -h -a -t PENDING,RUNNING,CONFIGURING,COMPLETING -o '%i|%T|%c|%m|%D|%P|%r'";
/// The sinfo command the parser reads: node and long state.
pub const SINFO: &str = "sinfo -h -N -a -o '%N|%T'";
/// Printed between the two outputs when they are read in one go.
pub const SEPARATOR: &str = "::nubo-sinfo";

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("SLURM output line {line}: {why}: {text:?}")]
pub struct SlurmParseError {
    pub line: usize,
    pub why: String,
    pub text: String,
}

fn err(line: usize, why: &str, text: &str) -> SlurmParseError {
    SlurmParseError {
        line,
        why: why.into(),
        text: text.into(),
    }
}

/// A node's state from sinfo's long state text.
pub fn node_state(text: &str) -> QueueState {
    let t = text.trim().to_ascii_lowercase();
    let flags: &[char] = &['*', '~', '#', '%', '!', '$', '@', '^', '-'];
    if t.ends_with(['*', '~', '#', '%']) {
        return QueueState::Off;
    }
    let base = t.trim_end_matches(flags);
    let base = base.split('+').next().unwrap_or(base);
    match base {
        "idle" => QueueState::Idle,
        "allocated" | "alloc" | "mixed" | "mix" | "completing" | "comp" | "draining" | "drng" => {
            QueueState::Used
        }
        "drained" | "drain" | "fail" | "failing" | "failg" => QueueState::Failed,
        _ => QueueState::Off,
    }
}

/// Memory in MiB from squeue's `%m` (`0`, `500M`, `2G`, a bare number of
/// MiB).
fn memory_mb(text: &str) -> Option<u64> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let n: f64 = num.parse().ok()?;
    let f = match unit.to_ascii_uppercase().trim_end_matches('C') {
        "" | "M" => 1.0,
        "K" => 1.0 / 1024.0,
        "G" => 1024.0,
        "T" => 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * f).ceil() as u64)
}

fn waits_for_nodes(reason: &str) -> bool {
    let r = reason.trim();
    matches!(
        r,
        "Resources" | "Priority" | "None" | "NodeDown" | "PartitionNodeLimit"
    ) || r.starts_with("ReqNodeNotAvail")
        || r.starts_with("Nodes required")
        || r.starts_with("Nodes_required")
}

/// Parses squeue's output ([`SQUEUE`]) into pending jobs and the number
/// running.
pub fn parse_squeue(text: &str) -> Result<(Vec<Job>, u32), SlurmParseError> {
    let mut pending = Vec::new();
    let mut running = 0;
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.splitn(7, '|').collect();
        if f.len() != 7 {
            return Err(err(line_no, "expected 7 fields separated by `|`", line));
        }
        match f[1].trim() {
            "PENDING" => {
                if !waits_for_nodes(f[6]) {
                    continue;
                }
                let num = |s: &str, what: &str| {
                    s.trim()
                        .parse::<u32>()
                        .map_err(|_| err(line_no, &format!("bad {what}"), line))
                };
                pending.push(Job {
                    id: f[0].trim().to_string(),
                    cpus: num(f[2], "CPU count")?.max(1),
                    memory_mb: memory_mb(f[3]).ok_or_else(|| err(line_no, "bad memory", line))?,
                    nodes: num(f[4], "node count")?.max(1),
                    partition: Some(f[5].trim().to_string()).filter(|p| !p.is_empty()),
                });
            }
            "RUNNING" | "CONFIGURING" | "COMPLETING" => running += 1,
            _ => {}
        }
    }
    Ok((pending, running))
}

/// Parses sinfo's output ([`SINFO`]); a node listed in several partitions
/// counts once.
pub fn parse_sinfo(text: &str) -> Result<Vec<QueueNode>, SlurmParseError> {
    let mut nodes: Vec<QueueNode> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, state)) = line.split_once('|') else {
            return Err(err(i + 1, "expected `NODE|STATE`", line));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(err(i + 1, "empty node name", line));
        }
        if nodes.iter().any(|n| n.name == name) {
            continue;
        }
        nodes.push(QueueNode {
            name: name.to_string(),
            state: node_state(state),
        });
    }
    Ok(nodes)
}

/// Parses squeue's output, [`SEPARATOR`] on its own line, then sinfo's.
pub fn parse_both(text: &str) -> Result<Snapshot, SlurmParseError> {
    let Some((q, s)) = text.split_once(&format!("{SEPARATOR}\n")) else {
        return Err(err(
            0,
            "no separator between squeue's and sinfo's output",
            "",
        ));
    };
    let (pending, running) = parse_squeue(q)?;
    Ok(Snapshot {
        pending,
        running,
        nodes: parse_sinfo(s)?,
    })
}

/// The one shell command that prints what [`parse_both`] reads.
pub fn snapshot_command() -> String {
    format!("{SQUEUE} && echo {SEPARATOR} && {SINFO}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_states_follow_the_documented_mapping() {
        for (t, s) in [
            ("idle", QueueState::Idle),
            ("allocated", QueueState::Used),
            ("mixed", QueueState::Used),
            ("completing", QueueState::Used),
            ("draining", QueueState::Used),
            ("down", QueueState::Off),
            ("down*", QueueState::Off),
            ("idle*", QueueState::Off),
            ("idle~", QueueState::Off),
            ("idle#", QueueState::Off),
            ("future", QueueState::Off),
            ("drained", QueueState::Failed),
            ("fail", QueueState::Failed),
            ("allocated+", QueueState::Used),
        ] {
            assert_eq!(node_state(t), s, "{t}");
        }
    }

    #[test]
    fn squeue_and_sinfo_become_a_snapshot() {
        let text = "12|PENDING|2|1G|1|debug|Resources\n\
                    13|PENDING|1|0|2|debug|ReqNodeNotAvail, UnavailableNodes:wn-[2-3]\n\
                    14|PENDING|1|0|1|debug|Dependency\n\
                    10|RUNNING|1|500M|1|debug|None\n\
                    ::nubo-sinfo\n\
                    wn-1|allocated\nwn-2|idle~\nwn-3|down*\nwn-1|allocated\n";
        let s = parse_both(text).unwrap();
        assert_eq!(s.running, 1);
        assert_eq!(s.pending.len(), 2);
        assert_eq!(
            (
                s.pending[0].cpus,
                s.pending[0].memory_mb,
                s.pending[0].nodes
            ),
            (2, 1024, 1)
        );
        assert_eq!(s.pending[1].nodes, 2);
        assert_eq!(s.nodes.len(), 3);
        assert_eq!(s.node("wn-2"), Some(QueueState::Off));
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let e = parse_squeue("12|PENDING|x|0|1|p|Resources\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("bad CPU count"));
        assert!(parse_sinfo("no-bar\n").is_err());
        assert!(parse_both("nothing").is_err());
    }
}
