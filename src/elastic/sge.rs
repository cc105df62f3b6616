//! Reading Grid Engine's queue: `qstat -u '*' -xml` (jobs) and `qstat -f
//! -xml` (queue instances), as [`snapshot_command`] prints them one after
//! the other, parsed into a [`Snapshot`].
//!
//! - Pending jobs: `job_list` entries whose state is waiting (`qw`, `Rq`
//!   ...), not held (`h`) or in error (`E`). A job asks one node and its
//!   `slots` as CPUs (a parallel environment's slots on one host, as
//!   `allocation_rule $pe_slots` gives them). An array job's pending tasks
//!   (`<tasks>1-6:1</tasks>`) are one job each, `JOB.TASK`, at most
//!   [`MAX_TASKS`] of one array (more than any cluster's nodes take at
//!   once). Resource requests (`-l`) and queue requests (`-q`) are not
//!   read.
//! - Running: the other jobs (running `r`, transferring `t`, ...).
//! - Nodes: a host is the part after `@` of its queue instances' names.
//!   An instance in state `u` (its execd unreachable) or `o` is off; one
//!   with used slots is used (also while disabled: a drained host
//!   finishing its jobs); an idle one disabled (`d`, `D`), in error (`E`),
//!   suspended (`s`, `S`), or `c`/`C` is failed, else idle (a load alarm,
//!   `a`, still takes jobs once the load falls). A host with several
//!   instances is used if one is, else idle if one is, else failed if one
//!   is, else off.

use super::queue::{Job, QueueNode, QueueState, Snapshot};
use quick_xml::Reader;
use quick_xml::events::Event;
use std::collections::{BTreeMap, HashMap};

/// Most tasks of one array job taken as pending jobs.
pub const MAX_TASKS: u64 = 10_000;

const MARK: &str = "::nubo-sge ";

/// The two listings, one marker line before each.
pub fn snapshot_command() -> String {
    format!("set -e; echo '{MARK}jobs'; qstat -u '*' -xml; echo '{MARK}queues'; qstat -f -xml")
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SgeParseError {
    #[error(
        "qstat's output has no `{0}` listing (is Grid Engine's qstat on the front-end's PATH?)"
    )]
    Missing(&'static str),
    #[error("qstat's `{list}` XML is not well formed at byte {at}: {why}")]
    Xml {
        list: &'static str,
        at: u64,
        why: String,
    },
    #[error("qstat's `{list}` XML: a `{element}` has {why}")]
    Field {
        list: &'static str,
        element: &'static str,
        why: String,
    },
}

fn section(text: &str, name: &'static str) -> Result<String, SgeParseError> {
    let mark = format!("{MARK}{name}");
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == mark)
        .ok_or(SgeParseError::Missing(name))?;
    Ok(lines
        .take_while(|l| !l.starts_with(MARK))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Every `element` of the document, each as its child elements' texts.
fn records(
    xml: &str,
    list: &'static str,
    element: &'static str,
) -> Result<Vec<HashMap<String, String>>, SgeParseError> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<HashMap<String, String>> = None;
    let mut field: Option<String> = None;
    let mut depth = 0usize;
    let bad = |reader: &Reader<&[u8]>, why: String| SgeParseError::Xml {
        list,
        at: reader.error_position(),
        why,
    };
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(&reader, e.to_string()))?;
        match event {
            Event::Start(s) => {
                depth += 1;
                let name = s.name().into_inner().to_string();
                if name == element {
                    current = Some(HashMap::new());
                } else if current.is_some() {
                    field = Some(name);
                }
            }
            Event::Empty(s) => {
                let name = s.name().into_inner().to_string();
                if let Some(c) = current.as_mut() {
                    c.entry(name).or_default();
                }
            }
            Event::Text(t) => {
                if let (Some(c), Some(f)) = (current.as_mut(), field.as_ref()) {
                    let text = t.xml10_content();
                    c.entry(f.clone()).or_default().push_str(text.trim());
                }
            }
            Event::End(e) => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| bad(&reader, "an end tag without a start".into()))?;
                if e.name().into_inner() == element {
                    out.extend(current.take());
                }
                field = None;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 || current.is_some() {
        return Err(bad(&reader, "the document ends inside an element".into()));
    }
    Ok(out)
}

/// The task ids of `1-6:1`, `3,5-7:2` (at most [`MAX_TASKS`]).
fn tasks(text: &str) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.trim().split_once(':') {
            Some((r, s)) => (r, s.parse::<u64>().ok().filter(|s| *s > 0)?),
            None => (part.trim(), 1),
        };
        let (a, b) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?),
            None => {
                let a = range.parse::<u64>().ok()?;
                (a, a)
            }
        };
        if b < a {
            return None;
        }
        let mut t = a;
        while t <= b && (out.len() as u64) < MAX_TASKS {
            out.push(t);
            t = t.checked_add(step)?;
        }
    }
    Some(out)
}

fn pending_state(state: &str) -> bool {
    state.contains('q') && !state.contains('h') && !state.contains('E')
}

/// Parses [`snapshot_command`]'s output.
pub fn parse(text: &str) -> Result<Snapshot, SgeParseError> {
    let jobs = records(&section(text, "jobs")?, "jobs", "job_list")?;
    let queues = records(&section(text, "queues")?, "queues", "Queue-List")?;
    let mut pending = Vec::new();
    let mut running = 0u32;
    for j in &jobs {
        let field = |name: &str| j.get(name).map(String::as_str).unwrap_or("");
        let id = field("JB_job_number");
        if id.is_empty() {
            return Err(SgeParseError::Field {
                list: "jobs",
                element: "job_list",
                why: "no JB_job_number".into(),
            });
        }
        let state = field("state");
        if !pending_state(state) {
            if !state.contains('q') {
                running = running.saturating_add(1);
            }
            continue;
        }
        let slots = match field("slots") {
            "" => 1,
            s => s.parse::<u32>().map_err(|_| SgeParseError::Field {
                list: "jobs",
                element: "job_list",
                why: format!("slots {s:?} for job {id}, not a number"),
            })?,
        };
        let job = |id: String| Job {
            id,
            cpus: slots.max(1),
            memory_mb: 0,
            nodes: 1,
            partition: None,
            gpus: 0,
            pending_since: None,
            blocked: None,
        };
        match j.get("tasks").map(String::as_str) {
            None | Some("") => pending.push(job(id.to_string())),
            Some(t) => {
                let ids = tasks(t).ok_or_else(|| SgeParseError::Field {
                    list: "jobs",
                    element: "job_list",
                    why: format!("tasks {t:?} for job {id}, not a task range"),
                })?;
                pending.extend(ids.into_iter().map(|k| job(format!("{id}.{k}"))));
            }
        }
    }
    let mut hosts: BTreeMap<String, QueueState> = BTreeMap::new();
    for q in &queues {
        let name = q.get("name").map(String::as_str).unwrap_or("");
        let Some((_, host)) = name.split_once('@').filter(|(_, h)| !h.is_empty()) else {
            return Err(SgeParseError::Field {
                list: "queues",
                element: "Queue-List",
                why: format!("the name {name:?}, not QUEUE@HOST"),
            });
        };
        let used = match q.get("slots_used").map(String::as_str) {
            None | Some("") => 0,
            Some(s) => s.parse::<u32>().map_err(|_| SgeParseError::Field {
                list: "queues",
                element: "Queue-List",
                why: format!("slots_used {s:?} for {name}, not a number"),
            })?,
        };
        let flags = q.get("state").map(String::as_str).unwrap_or("");
        let state = if flags.contains(['u', 'o']) {
            QueueState::Off
        } else if used > 0 {
            QueueState::Used
        } else if flags.contains(['d', 'D', 'E', 's', 'S', 'c', 'C']) {
            QueueState::Failed
        } else {
            QueueState::Idle
        };
        let rank = |s: QueueState| match s {
            QueueState::Used => 3,
            QueueState::Idle => 2,
            QueueState::Failed => 1,
            QueueState::Off => 0,
        };
        let e = hosts.entry(host.to_string()).or_insert(state);
        if rank(state) > rank(*e) {
            *e = state;
        }
    }
    Ok(Snapshot {
        pending,
        running,
        nodes: hosts
            .into_iter()
            .map(|(name, state)| QueueNode { name, state })
            .collect(),
    })
}

/// Disables every queue instance of `node` (no new job goes there).
pub fn drain_command(node: &str) -> String {
    format!("{} qmod -d '*@{node}'", sudo())
}

/// Enables them again.
pub fn undrain_command(node: &str) -> String {
    format!("{} qmod -e '*@{node}'", sudo())
}

/// Forgets a host that is gone: out of every host group (its queue
/// instances go with it), out of the execution and administrative hosts.
/// Idempotent.
pub fn gone_command(node: &str) -> String {
    format!(
        "s={}; for g in $(qconf -shgrpl 2>/dev/null); do \
         if qconf -shgrp \"$g\" | sed -n 's/^hostlist //p' | tr ' ' '\\n' | grep -qx '{node}'; then \
         $s qconf -dattr hostgroup hostlist '{node}' \"$g\" >/dev/null; fi; done; \
         if qconf -sel 2>/dev/null | grep -qx '{node}'; then $s qconf -de '{node}' >/dev/null; fi; \
         if qconf -sh 2>/dev/null | grep -qx '{node}'; then $s qconf -dh '{node}' >/dev/null; fi; true",
        sudo()
    )
}

/// `sudo -n` unless the login user is root (managing the cell takes a
/// manager: root).
fn sudo() -> &'static str {
    "$([ \"$(id -u)\" = 0 ] || echo sudo -n)"
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Debian 12's gridengine 8.1.9 printed for `qstat -u '*' -xml`
    /// on the sge template's front-end (local provider, one worker of one
    /// slot): job 1 runs on wn-1; job 2 waits; array job 3 has four
    /// tasks waiting; job 4 is held; job 5 asks two slots of `-pe smp`.
    const JOBS: &str = r#"<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>1</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>nubo</JB_owner>
      <state>r</state>
      <JAT_start_time>2026-12-05T18:50:03</JAT_start_time>
      <queue_name>all.q@wn-1</queue_name>
      <slots>1</slots>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>2</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>nubo</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-12-05T18:50:03</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="pending">
      <JB_job_number>3</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>nubo</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-12-05T18:50:03</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
      <tasks>1-4:1</tasks>
    </job_list>
    <job_list state="pending">
      <JB_job_number>4</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>nubo</JB_owner>
      <state>hqw</state>
      <JB_submission_time>2026-12-05T18:50:04</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="pending">
      <JB_job_number>5</JB_job_number>
      <JAT_prio>0.75000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>nubo</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-12-05T18:50:11</JB_submission_time>
      <queue_name></queue_name>
      <slots>2</slots>
    </job_list>
  </job_info>
</job_info>
"#;

    /// `qstat -f -xml` of the same cell: wn-1's instance running job 1.
    const QUEUES: &str = r#"<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <Queue-List>
      <name>all.q@wn-1</name>
      <qtype>BIP</qtype>
      <slots_used>1</slots_used>
      <slots_resv>0</slots_resv>
      <slots_total>1</slots_total>
      <load_avg>8.47852</load_avg>
      <arch>lx-amd64</arch>
    </Queue-List>
  </queue_info>
  <job_info>
  </job_info>
</job_info>
"#;

    fn output(jobs: &str, queues: &str) -> String {
        format!("{MARK}jobs\n{jobs}{MARK}queues\n{queues}")
    }

    /// The instance's lines with `slots_used` and `state` replaced.
    fn queue(used: u32, state: Option<&str>) -> String {
        let q = QUEUES.replace(
            "<slots_used>1</slots_used>",
            &format!("<slots_used>{used}</slots_used>"),
        );
        match state {
            Some(s) => q.replace(
                "<arch>lx-amd64</arch>",
                &format!("<arch>lx-amd64</arch>\n      <state>{s}</state>"),
            ),
            None => q,
        }
    }

    #[test]
    fn waiting_jobs_and_array_tasks_are_pending_held_ones_not() {
        let s = parse(&output(JOBS, QUEUES)).unwrap();
        let ids: Vec<&str> = s.pending.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["2", "3.1", "3.2", "3.3", "3.4", "5"]);
        let five = s.pending.iter().find(|j| j.id == "5").unwrap();
        assert_eq!((five.cpus, five.nodes), (2, 1), "-pe smp 2: two CPUs");
        assert_eq!(s.running, 1);
        assert_eq!(s.node("wn-1"), Some(QueueState::Used));
    }

    #[test]
    fn host_states_from_the_queue_instances() {
        let state = |used, flags| {
            parse(&output(JOBS, &queue(used, flags)))
                .unwrap()
                .node("wn-1")
                .unwrap()
        };
        assert_eq!(state(0, None), QueueState::Idle);
        assert_eq!(state(1, None), QueueState::Used);
        // Seen on the template's cell: `qmod -d` (d), execd killed (u).
        assert_eq!(state(0, Some("d")), QueueState::Failed);
        assert_eq!(state(1, Some("d")), QueueState::Used, "drained, finishing");
        assert_eq!(state(1, Some("u")), QueueState::Off);
        assert_eq!(state(0, Some("au")), QueueState::Off);
        assert_eq!(state(0, Some("E")), QueueState::Failed);
        assert_eq!(state(0, Some("a")), QueueState::Idle);
        // Two queues on one host: the busiest wins.
        let two = queue(0, Some("d")).replace(
            "  </queue_info>",
            "    <Queue-List><name>big.q@wn-1</name><slots_used>0</slots_used></Queue-List>\n  </queue_info>",
        );
        let s = parse(&output(JOBS, &two)).unwrap();
        assert_eq!(s.node("wn-1"), Some(QueueState::Idle));
        assert_eq!(s.nodes.len(), 1);
    }

    #[test]
    fn task_ranges() {
        assert_eq!(tasks("1-4:1"), Some(vec![1, 2, 3, 4]));
        assert_eq!(tasks("2-10:4"), Some(vec![2, 6, 10]));
        assert_eq!(tasks("3,5-6:1"), Some(vec![3, 5, 6]));
        assert_eq!(tasks("7"), Some(vec![7]));
        assert_eq!(tasks("5-1:1"), None);
        assert_eq!(tasks("1-4:0"), None);
        assert_eq!(tasks("x"), None);
        assert_eq!(
            tasks("1-1000000000:1").map(|t| t.len() as u64),
            Some(MAX_TASKS)
        );
    }

    #[test]
    fn bad_output_is_a_clear_error() {
        assert_eq!(parse(""), Err(SgeParseError::Missing("jobs")));
        assert_eq!(
            parse(&format!("{MARK}jobs\n{JOBS}")),
            Err(SgeParseError::Missing("queues"))
        );
        let cut = output(&JOBS[..JOBS.len() / 2], QUEUES);
        let e = parse(&cut).unwrap_err();
        assert!(matches!(e, SgeParseError::Xml { list: "jobs", .. }), "{e}");
        let e = parse(&output(
            &JOBS.replace("<slots>2</slots>", "<slots>two</slots>"),
            QUEUES,
        ))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "qstat's `jobs` XML: a `job_list` has slots \"two\" for job 5, not a number"
        );
        let e = parse(&output(
            &JOBS.replace("<tasks>1-4:1</tasks>", "<tasks>4-1</tasks>"),
            QUEUES,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("tasks \"4-1\" for job 3"), "{e}");
        let e = parse(&output(JOBS, &QUEUES.replace("all.q@wn-1", "all.q"))).unwrap_err();
        assert!(e.to_string().contains("not QUEUE@HOST"), "{e}");
        let e = parse(&output("<job_info><job_list></job_info>", QUEUES)).unwrap_err();
        assert!(matches!(e, SgeParseError::Xml { .. }), "{e}");
        // Nothing queued, no host: empty documents.
        let empty = "<?xml version='1.0'?>\n<job_info>\n  <queue_info>\n  </queue_info>\n  <job_info>\n  </job_info>\n</job_info>\n";
        let s = parse(&output(empty, empty)).unwrap();
        assert_eq!((s.pending.len(), s.running, s.nodes.len()), (0, 0, 0));
    }
}
