//! Reading SLURM's queue: `squeue` and `sinfo` output in the formats
//! [`SQUEUE`] and [`SINFO`] ask for, parsed into a [`Snapshot`].
//!
//! Node states ([`node_state`]): sinfo's long state is a base state, then
//! flags, either as one suffix character (`idle~`) or joined with `+`
//! (`mixed+drain`, `idle+cloud+power`). The flags decide first:
//! - powered off or powering (`~` powered down, `#` powering up, `%`
//!   powering down, `*` not responding; `+powered_down`, `+powering_up`,
//!   `+powering_down`, `+not_responding`, `+reboot_issued`): off. A node
//!   powering up is off until slurmd registers; the daemon waits for it;
//! - drained (`+drain` on an idle node, `+fail`): failed, as base states
//!   `drained`, `fail` and `failing` are; a node still running jobs while
//!   it drains (`mixed+drain`, `allocated+drain`, `draining`) is used;
//! - the others (`!` power-down pending, `$` maintenance reservation, `@`
//!   reboot pending, `^` reboot issued (off), `-` planned, `+cloud`,
//!   `+completing`, `+reserved`, ...) leave the base state's meaning.
//!
//! Base states: `idle` is idle; `allocated`, `mixed`, `completing` are
//! used; `down`, `future`, `unknown` and the power states are off.
//!
//! Pending jobs count only when they wait for nodes (reason `Resources`,
//! `Priority`, `None`, `ReqNodeNotAvail...`, `NodeDown`, `Nodes required...`),
//! not when held, waiting on a dependency or a start time. A job pending
//! with reason `PartitionConfig` (its request exceeds what its partition
//! may ever give, such as more nodes than it has) is kept as blocked: the
//! daemon reports it and powers nothing on for it. A job's GPUs
//! per node come from its TRES per node (`%b`: `gres:gpu:2`,
//! `gres/gpu:2`, `gpu:tesla:2`; `N/A` is none).

use super::queue::{Job, QueueNode, QueueState, Snapshot};

/// The squeue command the parser reads: id, state, CPUs per node, memory,
/// nodes, partition, TRES per node, reason.
pub const SQUEUE: &str =
    "squeue -h -a -t PENDING,RUNNING,CONFIGURING,COMPLETING -o '%i|%T|%c|%m|%D|%P|%b|%r'";
/// The sinfo command the parser reads: node and long state.
pub const SINFO: &str = "sinfo -h -N -a -o '%N|%T'";
/// Printed between the two outputs when they are read in one go.
pub const SEPARATOR: &str = "::nubo-sinfo";

/// Fields of one [`SQUEUE`] line.
const SQUEUE_FIELDS: usize = 8;

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

/// A node's state from sinfo's long state text (see the module
/// documentation for the rules).
pub fn node_state(text: &str) -> QueueState {
    let t = text.trim().to_ascii_lowercase();
    let mut parts = t.split('+');
    let first = parts.next().unwrap_or("");
    let flags: Vec<&str> = parts.collect();
    let suffix = first.chars().last().filter(|c| "*~#%!$@^-".contains(*c));
    let base = first.trim_end_matches(|c| "*~#%!$@^-".contains(c));
    let off_flag = matches!(suffix, Some('*' | '~' | '#' | '%' | '^'))
        || flags.iter().any(|f| {
            matches!(
                *f,
                "powered_down"
                    | "powering_up"
                    | "powering_down"
                    | "not_responding"
                    | "reboot_issued"
            )
        });
    if off_flag {
        return QueueState::Off;
    }
    let used = matches!(
        base,
        "allocated" | "alloc" | "mixed" | "mix" | "completing" | "comp" | "draining" | "drng"
    );
    if flags.contains(&"fail") {
        return QueueState::Failed;
    }
    if flags.contains(&"drain") {
        return if used {
            QueueState::Used
        } else {
            QueueState::Failed
        };
    }
    match base {
        "idle" => QueueState::Idle,
        _ if used => QueueState::Used,
        "drained" | "drain" | "fail" | "failing" | "failg" => QueueState::Failed,
        _ => QueueState::Off,
    }
}

/// GPUs per node from squeue's `%b` (TRES per node): the count of its
/// `gpu` entries, `0` for `N/A` or none.
fn gpus_per_node(text: &str) -> Option<u32> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("n/a") {
        return Some(0);
    }
    let mut total = 0u32;
    for entry in t.split(',') {
        let entry = entry.trim();
        let rest = entry
            .strip_prefix("gres:")
            .or_else(|| entry.strip_prefix("gres/"))
            .unwrap_or(entry);
        let mut fields = rest.split(':');
        if fields.next() != Some("gpu") {
            continue;
        }
        let rest: Vec<&str> = fields.collect();
        let count = match rest.last() {
            None => 1,
            Some(last) => match last.parse::<u32>() {
                Ok(n) => n,
                Err(_) if rest.len() == 1 => 1,
                Err(_) => return None,
            },
        };
        total = total.saturating_add(count);
    }
    Some(total)
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
        let f: Vec<&str> = line.splitn(SQUEUE_FIELDS, '|').collect();
        if f.len() != SQUEUE_FIELDS {
            return Err(err(
                line_no,
                &format!("expected {SQUEUE_FIELDS} fields separated by `|`"),
                line,
            ));
        }
        match f[1].trim() {
            "PENDING" => {
                let blocked = match f[7].trim() {
                    "PartitionConfig" => Some(
                        "SLURM will not run it: its request exceeds what its partition may give (PartitionConfig)"
                            .to_string(),
                    ),
                    r if waits_for_nodes(r) => None,
                    _ => continue,
                };
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
                    gpus: gpus_per_node(f[6])
                        .ok_or_else(|| err(line_no, "bad GPU request", line))?,
                    pending_since: None,
                    blocked,
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
            ("mixed+drain", QueueState::Used),
            ("allocated+drain", QueueState::Used),
            ("idle+drain", QueueState::Failed),
            ("idle+cloud", QueueState::Idle),
            ("idle+cloud+powered_down", QueueState::Off),
            ("idle+powering_up", QueueState::Off),
            ("mixed+powering_down", QueueState::Off),
            ("idle!", QueueState::Idle),
            ("mixed!", QueueState::Used),
            ("idle$", QueueState::Idle),
            ("allocated@", QueueState::Used),
            ("idle^", QueueState::Off),
            ("idle-", QueueState::Idle),
            ("idle%", QueueState::Off),
            ("down+drain", QueueState::Failed),
            ("idle+fail", QueueState::Failed),
            ("mixed+fail", QueueState::Failed),
            ("unknown", QueueState::Off),
            ("IDLE~", QueueState::Off),
            ("MIXED+DRAIN", QueueState::Used),
        ] {
            assert_eq!(node_state(t), s, "{t}");
        }
    }

    #[test]
    fn squeue_and_sinfo_become_a_snapshot() {
        let text = "12|PENDING|2|1G|1|debug|N/A|Resources\n\
                    13|PENDING|1|0|2|gpu|gres:gpu:2|ReqNodeNotAvail, UnavailableNodes:wn-[2-3]\n\
                    14|PENDING|1|0|1|debug|N/A|Dependency\n\
                    15|PENDING|1|0|4|debug|N/A|PartitionConfig\n\
                    10|RUNNING|1|500M|1|debug|N/A|None\n\
                    ::nubo-sinfo\n\
                    wn-1|allocated\nwn-2|idle~\nwn-3|down*\nwn-1|allocated\n";
        let s = parse_both(text).unwrap();
        assert_eq!(s.running, 1);
        assert_eq!(s.pending.len(), 3);
        assert!(
            s.pending[2]
                .blocked
                .as_deref()
                .unwrap()
                .contains("PartitionConfig")
        );
        assert_eq!(s.pending[0].blocked, None);
        assert_eq!(
            (
                s.pending[0].cpus,
                s.pending[0].memory_mb,
                s.pending[0].nodes
            ),
            (2, 1024, 1)
        );
        assert_eq!(s.pending[1].nodes, 2);
        assert_eq!(
            (s.pending[1].partition.as_deref(), s.pending[1].gpus),
            (Some("gpu"), 2)
        );
        assert_eq!(
            (s.pending[0].partition.as_deref(), s.pending[0].gpus),
            (Some("debug"), 0)
        );
        assert_eq!(s.nodes.len(), 3);
        assert_eq!(s.node("wn-2"), Some(QueueState::Off));
    }

    #[test]
    fn gpu_requests_are_read_from_tres_per_node() {
        for (t, n) in [
            ("N/A", Some(0)),
            ("", Some(0)),
            ("gres:gpu:1", Some(1)),
            ("gres/gpu:2", Some(2)),
            ("gres:gpu:tesla:4", Some(4)),
            ("gres:gpu", Some(1)),
            ("gres:gpu:tesla", Some(1)),
            ("gres:mps:100", Some(0)),
            ("gres:gpu:2,gres:mps:50", Some(2)),
            ("gres:gpu:tesla:x", None),
        ] {
            assert_eq!(gpus_per_node(t), n, "{t}");
        }
        let e = parse_squeue("12|PENDING|1|0|1|p|gres:gpu:a:b|Resources\n").unwrap_err();
        assert!(e.to_string().contains("bad GPU request"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_naming_the_line() {
        let e = parse_squeue("12|PENDING|x|0|1|p|N/A|Resources\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.to_string().contains("bad CPU count"));
        assert!(parse_sinfo("no-bar\n").is_err());
        assert!(parse_both("nothing").is_err());
    }
}
