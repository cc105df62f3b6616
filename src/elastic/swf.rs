//! The Standard Workload Format (SWF) of the Parallel Workloads Archive:
//! one job a line, 18 whitespace-separated numbers, `;` starting a header
//! comment. Read here: field 2 (submit time, seconds from the log's start),
//! field 4 (run time, seconds) and field 5 (allocated processors; field 8,
//! the requested processors, when field 5 is -1). A job whose run time or
//! processors are unknown (-1) or zero is skipped and counted.
//!
//! `to_trace` turns a time window of a log into a simulator trace: one node
//! type of `nodes` nodes with `cpus_per_node` CPUs each; a job of P
//! processors asks for ceil(P / cpus_per_node) nodes.

use super::simulate::{Trace, TraceJobs, TraceType};
use std::io::Read;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SwfError {
    #[error("{file}:{line}:{column}: {what}")]
    At {
        file: String,
        line: usize,
        column: usize,
        what: String,
    },
    #[error("{file}: not a gzip stream that can be read: {what}")]
    Gzip { file: String, what: String },
    #[error("{file}: the text is not UTF-8")]
    NotText { file: String },
    #[error("{0}")]
    Options(String),
}

/// One job of a log.
#[derive(Clone, Debug, PartialEq)]
pub struct SwfJob {
    pub line: usize,
    pub submit: u64,
    pub run: u64,
    pub procs: u32,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwfLog {
    pub jobs: Vec<SwfJob>,
    /// Lines with an unknown run time or processor count.
    pub skipped: usize,
}

/// Reads a log from its bytes, gunzipping them when they start with
/// gzip's magic number.
pub fn read(file: &str, bytes: &[u8]) -> Result<SwfLog, SwfError> {
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| SwfError::Gzip {
                file: file.to_string(),
                what: e.to_string(),
            })?;
        String::from_utf8(out)
    } else {
        String::from_utf8(bytes.to_vec())
    }
    .map_err(|_| SwfError::NotText {
        file: file.to_string(),
    })?;
    parse(file, &text)
}

/// Parses a log's text.
pub fn parse(file: &str, text: &str) -> Result<SwfLog, SwfError> {
    let mut log = SwfLog::default();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let body = line.trim_start();
        if body.is_empty() || body.starts_with(';') {
            continue;
        }
        let mut fields: Vec<(usize, i64)> = Vec::with_capacity(18);
        let mut rest = line;
        let mut offset = 0;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            let tail = &rest[start..];
            let len = tail.find(char::is_whitespace).unwrap_or(tail.len());
            let word = &tail[..len];
            let column = offset + start + 1;
            let err = |what: String| SwfError::At {
                file: file.to_string(),
                line: line_no,
                column,
                what,
            };
            // Some logs write whole numbers as `12.0`.
            let value = match word.parse::<i64>() {
                Ok(v) => v,
                Err(_) => match word.parse::<f64>() {
                    Ok(x) if x.is_finite() => x.round() as i64,
                    _ => {
                        return Err(err(format!(
                            "field {} is `{word}`, not a number",
                            fields.len() + 1
                        )));
                    }
                },
            };
            fields.push((column, value));
            offset += start + len;
            rest = &tail[len..];
        }
        if fields.len() < 18 {
            return Err(SwfError::At {
                file: file.to_string(),
                line: line_no,
                column: line.len() + 1,
                what: format!("{} fields, an SWF job line has 18", fields.len()),
            });
        }
        let (submit_col, submit) = fields[1];
        if submit < 0 {
            return Err(SwfError::At {
                file: file.to_string(),
                line: line_no,
                column: submit_col,
                what: format!("submit time {submit} is negative"),
            });
        }
        let run = fields[3].1;
        let procs = if fields[4].1 > 0 {
            fields[4].1
        } else {
            fields[7].1
        };
        if run < 0 || procs <= 0 {
            log.skipped += 1;
            continue;
        }
        log.jobs.push(SwfJob {
            line: line_no,
            submit: submit as u64,
            run: run as u64,
            procs: procs.min(u32::MAX as i64) as u32,
        });
    }
    Ok(log)
}

/// How to map a log onto a simulated cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct SwfOptions {
    /// Window start, seconds from the log's start.
    pub from: u64,
    /// Window end (exclusive); none: the whole log.
    pub to: Option<u64>,
    pub cpus_per_node: u32,
    /// The maximum number of nodes.
    pub nodes: u32,
    /// Seconds from power-on until the queue sees a node.
    pub boot: u64,
}

impl Default for SwfOptions {
    fn default() -> Self {
        SwfOptions {
            from: 0,
            to: None,
            cpus_per_node: 1,
            nodes: 128,
            boot: 180,
        }
    }
}

/// The trace of the jobs submitted in the window, times counted from the
/// window's start; the run may go on past the window's end until its jobs
/// are done (at most a week more).
pub fn to_trace(log: &SwfLog, o: &SwfOptions) -> Result<Trace, SwfError> {
    if o.cpus_per_node == 0 || o.nodes == 0 {
        return Err(SwfError::Options(
            "--cpus-per-node and --nodes must be at least 1".into(),
        ));
    }
    if let Some(to) = o.to
        && to <= o.from
    {
        return Err(SwfError::Options(format!(
            "--to {to} is not after --from {}",
            o.from
        )));
    }
    let cpn = o.cpus_per_node;
    let jobs: Vec<TraceJobs> = log
        .jobs
        .iter()
        .filter(|j| j.submit >= o.from && o.to.is_none_or(|to| j.submit < to))
        .map(|j| TraceJobs {
            at: j.submit - o.from,
            duration: j.run,
            count: 1,
            cpus: j.procs.min(cpn),
            memory_mb: 0,
            nodes: j.procs.div_ceil(cpn),
        })
        .collect();
    let last = jobs.iter().map(|j| j.at).max().unwrap_or(0);
    let window = o.to.map_or(last, |to| to - o.from);
    Ok(Trace {
        tick: 1,
        boot: o.boot,
        end: window.max(last) + 7 * 86_400,
        types: vec![TraceType::new("wn", o.nodes, cpn)],
        policies: None,
        jobs,
        broken: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "; Version: 2.2\n\
        ; MaxNodes: 4\n\
        \x20   1     0  -1   100   2  -1 -1  -1  -1 -1 -1 1 1 -1 -1 -1 -1 -1\n\
        \x20   2    50  -1    -1   1  -1 -1  -1  -1 -1 -1 1 1 -1 -1 -1 -1 -1\n\
        \x20   3    60  -1    30  -1  -1 -1   3  -1 -1 -1 1 1 -1 -1 -1 -1 -1\n\
        \x20   4   500  -1    10 1.0  -1 -1  -1  -1 -1 -1 1 1 -1 -1 -1 -1 -1\n";

    #[test]
    fn jobs_are_read_and_unknown_ones_skipped() {
        let log = parse("t.swf", LOG).unwrap();
        assert_eq!(log.skipped, 1);
        let got: Vec<(u64, u64, u32)> = log
            .jobs
            .iter()
            .map(|j| (j.submit, j.run, j.procs))
            .collect();
        assert_eq!(got, [(0, 100, 2), (60, 30, 3), (500, 10, 1)]);
        assert_eq!(log.jobs[1].line, 5);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("t.swf", "1 0 -1 x 1 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1\n").unwrap_err();
        assert_eq!(e.to_string(), "t.swf:1:8: field 4 is `x`, not a number");
        let e = parse("t.swf", "; c\n1 0 -1 5 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.swf:2:11: 5 fields, an SWF job line has 18"
        );
        let e = parse(
            "t.swf",
            "1 -4 -1 5 1 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "t.swf:1:3: submit time -4 is negative");
        let e = read("t.swf.gz", &[0x1f, 0x8b, 0, 1, 2]).unwrap_err();
        assert!(matches!(e, SwfError::Gzip { .. }), "{e}");
    }

    #[test]
    fn a_window_and_cpus_per_node_make_a_trace() {
        let log = parse("t.swf", LOG).unwrap();
        let o = SwfOptions {
            from: 50,
            to: Some(400),
            cpus_per_node: 2,
            nodes: 3,
            boot: 20,
        };
        let t = to_trace(&log, &o).unwrap();
        assert_eq!(t.jobs.len(), 1);
        let j = &t.jobs[0];
        assert_eq!((j.at, j.duration, j.nodes, j.cpus), (10, 30, 2, 2));
        assert_eq!((t.types[0].max, t.types[0].cpus, t.boot), (3, 2, 20));
        let bad = SwfOptions { to: Some(10), ..o };
        assert!(to_trace(&log, &bad).is_err());
    }

    #[test]
    fn the_real_nasa_log_reads() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/traces/NASA-iPSC-1993-3.1-cln.swf.gz"
        );
        let Ok(bytes) = std::fs::read(path) else {
            panic!("the corpus log {path} is missing");
        };
        let log = read(path, &bytes).unwrap();
        // The header says MaxJobs: 18239, MaxProcs: 128.
        assert_eq!(log.jobs.len() + log.skipped, 18_239);
        assert!(log.jobs.iter().all(|j| j.procs <= 128));
        assert_eq!(
            (log.jobs[0].submit, log.jobs[0].run, log.jobs[0].procs),
            (0, 1451, 128)
        );
    }
}
