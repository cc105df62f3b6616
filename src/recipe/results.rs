//! Reading a recipe script's output back: one result per step, from the
//! marker lines the script prints.
//!
//! ```text
//! ::nubo-step 2 file /etc/hosts
//! ...the step's own output...
//! ::nubo-result 2 changed            (or ok, skipped, failed STATUS)
//! ```
//!
//! A step's output may not end with a line break, so a marker is looked
//! for anywhere in a line; what comes before it is the step's output.

use std::fmt;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It changed the host.
    Changed,
    /// The host was already as the step wants it.
    Ok,
    /// A guard (`creates`, `unless`, `when`) said not to run it.
    Skipped,
    /// It failed with this exit status; the script stopped there.
    Failed(i32),
    /// It started but no result came (the connection or the script died).
    Unfinished,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Changed => f.write_str("changed"),
            Outcome::Ok => f.write_str("ok"),
            Outcome::Skipped => f.write_str("skipped"),
            Outcome::Failed(s) => write!(f, "failed {s}"),
            Outcome::Unfinished => f.write_str("unfinished"),
        }
    }
}

/// One step as the script reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// The step's number, from 1 (`Script::steps[number - 1]` is its
    /// label).
    pub number: usize,
    pub label: String,
    pub outcome: Outcome,
    /// What the step printed between its markers.
    pub output: String,
}

const STEP: &str = "::nubo-step ";
const RESULT: &str = "::nubo-result ";

/// The results of every step that started, in order.
pub fn parse_results(output: &str) -> Vec<StepResult> {
    let mut results: Vec<StepResult> = Vec::new();
    let mut open = false;
    for line in output.lines() {
        let (before, marker) = match (line.find(STEP), line.find(RESULT)) {
            (Some(i), _) => (&line[..i], Marker::Step(&line[i + STEP.len()..])),
            (None, Some(i)) => (&line[..i], Marker::Result(&line[i + RESULT.len()..])),
            (None, None) => (line, Marker::None),
        };
        if open
            && let Some(r) = results.last_mut()
            && (!before.is_empty() || matches!(marker, Marker::None))
        {
            r.output.push_str(before);
            r.output.push('\n');
        }
        match marker {
            Marker::None => {}
            Marker::Step(rest) => {
                let (n, label) = rest.split_once(' ').unwrap_or((rest, ""));
                if let Ok(number) = n.parse() {
                    results.push(StepResult {
                        number,
                        label: label.to_string(),
                        outcome: Outcome::Unfinished,
                        output: String::new(),
                    });
                    open = true;
                }
            }
            Marker::Result(rest) => {
                let mut words = rest.split_whitespace();
                let number: Option<usize> = words.next().and_then(|n| n.parse().ok());
                let outcome = match (words.next(), words.next()) {
                    (Some("changed"), _) => Some(Outcome::Changed),
                    (Some("ok"), _) => Some(Outcome::Ok),
                    (Some("skipped"), _) => Some(Outcome::Skipped),
                    (Some("failed"), s) => {
                        Some(Outcome::Failed(s.and_then(|s| s.parse().ok()).unwrap_or(1)))
                    }
                    _ => None,
                };
                if let (Some(n), Some(o)) = (number, outcome)
                    && let Some(r) = results.iter_mut().rev().find(|r| r.number == n)
                {
                    r.outcome = o;
                    open = false;
                }
            }
        }
    }
    results
}

enum Marker<'a> {
    None,
    Step(&'a str),
    Result(&'a str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_markers_and_output() {
        let out = "\
::nubo-step 1 shell: echo hi
hi
::nubo-result 1 changed
::nubo-step 2 file /etc/x
::nubo-result 2 ok
::nubo-step 3 guarded
::nubo-result 3 skipped
::nubo-step 4 fails
no newline::nubo-result 4 failed 3
";
        let r = parse_results(out);
        let got: Vec<_> = r
            .iter()
            .map(|s| (s.number, s.label.as_str(), s.outcome, s.output.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "shell: echo hi", Outcome::Changed, "hi\n"),
                (2, "file /etc/x", Outcome::Ok, ""),
                (3, "guarded", Outcome::Skipped, ""),
                (4, "fails", Outcome::Failed(3), "no newline\n"),
            ]
        );
    }

    #[test]
    fn a_step_without_result_is_unfinished() {
        let r = parse_results("::nubo-step 1 x\npartial");
        assert_eq!(r[0].outcome, Outcome::Unfinished);
        assert_eq!(r[0].output, "partial\n");
        assert!(parse_results("").is_empty());
        assert!(parse_results("::nubo-result x y\n::nubo-step\n").is_empty());
    }
}
