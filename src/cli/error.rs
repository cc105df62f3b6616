//! `CliError`: how a command fails, and the one mapping from a failure to
//! the process's exit code (as cargo's `CliResult`). Every command returns
//! [`CliResult`] and uses `?`; the errors of the layers below convert with
//! `From`, each cause to the same exit code everywhere.

use crate::diagnostic::Diagnostic;
use crate::ops;
use crate::source::SourceMap;
use crate::state::StateError;
use std::error::Error;
use std::process::ExitCode;

pub type CliResult = Result<(), CliError>;

/// Why a command failed, as its exit code tells it. Closed: every cause
/// has its code here and nowhere else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The operation failed or its input is invalid (a description with
    /// errors, a launch that did not complete, a cluster not found, a
    /// provider's refusal).
    Failed,
    /// nubo could not run: bad arguments, a file it cannot read, a bad
    /// auth file, a state store it cannot use.
    Usage,
    /// Another nubo holds the cluster's lock: try again when it is done.
    Busy,
}

impl Cause {
    pub fn code(self) -> u8 {
        match self {
            Cause::Failed => 1,
            Cause::Usage => 2,
            Cause::Busy => 3,
        }
    }

    /// Every cause, for the help text and the tests.
    pub const ALL: [Cause; 3] = [Cause::Failed, Cause::Usage, Cause::Busy];

    pub fn describe(self) -> &'static str {
        match self {
            Cause::Failed => {
                "the input is invalid or the operation failed (a launch that did not complete, a cluster not found)"
            }
            Cause::Usage => {
                "nubo could not run (bad arguments, an unreadable file, a bad auth file, an unusable state store)"
            }
            Cause::Busy => "the cluster is busy: another nubo is working on it",
        }
    }
}

/// A failed command: its cause and, unless it was already reported (as
/// diagnostics, or per file), the error to print.
#[derive(Debug)]
pub struct CliError {
    pub cause: Cause,
    error: Option<Box<dyn Error + Send + Sync>>,
}

/// A message as an error, for failures that are only words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Message(pub String);

impl CliError {
    pub fn new(cause: Cause, e: impl Into<Box<dyn Error + Send + Sync>>) -> CliError {
        CliError {
            cause,
            error: Some(e.into()),
        }
    }

    pub fn failed(e: impl Into<Box<dyn Error + Send + Sync>>) -> CliError {
        CliError::new(Cause::Failed, e)
    }

    pub fn usage(e: impl Into<Box<dyn Error + Send + Sync>>) -> CliError {
        CliError::new(Cause::Usage, e)
    }

    /// Already reported to the user: only the exit code is left.
    pub fn reported(cause: Cause) -> CliError {
        CliError { cause, error: None }
    }

    /// Diagnostics rendered from `sources` on standard error, then a line
    /// saying what to do.
    pub fn invalid(sources: &SourceMap, diagnostics: &[Diagnostic], what: &str) -> CliError {
        for d in diagnostics {
            eprint!("{}", d.render(sources));
        }
        let n = diagnostics.iter().filter(|d| d.is_error()).count();
        CliError::failed(Message(format!(
            "{what} has {n} error(s); fix them and try again"
        )))
    }

    /// The error and each of its causes, `: ` between them.
    pub fn message(&self) -> Option<String> {
        let e = self.error.as_ref()?;
        let mut out = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            let text = s.to_string();
            // thiserror's `transparent` and `{0}` messages repeat their cause.
            if !out.ends_with(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        Some(out)
    }

    /// Prints the error (if not reported yet) and gives the exit code.
    pub fn exit(self) -> ExitCode {
        if let Some(m) = self.message() {
            eprintln!("nubo: {m}");
        }
        ExitCode::from(self.cause.code())
    }
}

/// The state store: busy, or unusable.
impl From<StateError> for CliError {
    fn from(e: StateError) -> CliError {
        let cause = match &e {
            StateError::ClusterBusy { .. } => Cause::Busy,
            StateError::ClusterNotFound(_) => Cause::Failed,
            _ => Cause::Usage,
        };
        CliError::new(cause, e)
    }
}

impl From<crate::serve::StartError> for CliError {
    fn from(e: crate::serve::StartError) -> CliError {
        match e {
            // A certificate or key file that will not do: the user's input.
            crate::serve::StartError::Tls(_) => CliError::usage(e),
            _ => CliError::failed(e),
        }
    }
}

impl From<ops::env::EnvError> for CliError {
    fn from(e: ops::env::EnvError) -> CliError {
        CliError::usage(e)
    }
}

impl From<crate::source::ReadError> for CliError {
    fn from(e: crate::source::ReadError) -> CliError {
        CliError::usage(e)
    }
}

impl From<ops::prepare::PrepareError> for CliError {
    fn from(e: ops::prepare::PrepareError) -> CliError {
        use ops::prepare::PrepareError as P;
        match e {
            P::Invalid {
                sources,
                diagnostics,
            } => CliError::invalid(&sources, &diagnostics, "the cluster description"),
            P::Template(e) => CliError::usage(e),
            P::State(e) => e.into(),
            e @ P::Graph(_) => CliError::failed(e),
        }
    }
}

impl From<ops::plan::PlanOpError> for CliError {
    fn from(e: ops::plan::PlanOpError) -> CliError {
        use ops::plan::PlanOpError as P;
        match e {
            P::Prepare(e) => e.into(),
            P::State(e) => e.into(),
            e @ P::Placement(_) => CliError::failed(e),
        }
    }
}

impl From<ops::launch::LaunchError> for CliError {
    fn from(e: ops::launch::LaunchError) -> CliError {
        use ops::launch::LaunchError as L;
        match e {
            L::Prepare(e) => e.into(),
            L::State(e) => e.into(),
            L::Env(e) => e.into(),
            L::Reconcile(e) => e.into(),
            e => CliError::failed(e),
        }
    }
}

impl From<ops::reconcile::ReconcileError> for CliError {
    fn from(e: ops::reconcile::ReconcileError) -> CliError {
        match e {
            ops::reconcile::ReconcileError::State(e) => e.into(),
            e => CliError::failed(e),
        }
    }
}

impl From<ops::info::InfoError> for CliError {
    fn from(e: ops::info::InfoError) -> CliError {
        match e {
            ops::info::InfoError::State(e) => e.into(),
            ops::info::InfoError::Reconcile(e) => e.into(),
            e => CliError::failed(e),
        }
    }
}

impl From<ops::destroy::DestroyError> for CliError {
    fn from(e: ops::destroy::DestroyError) -> CliError {
        match e {
            ops::destroy::DestroyError::State(e) => e.into(),
            ops::destroy::DestroyError::Reconcile(e) => e.into(),
            e => CliError::failed(e),
        }
    }
}

impl From<ops::lifecycle::LifecycleError> for CliError {
    fn from(e: ops::lifecycle::LifecycleError) -> CliError {
        use ops::lifecycle::LifecycleError as L;
        match e {
            L::State(e) => e.into(),
            L::Reconcile(e) => e.into(),
            L::Reconfigure(e) => (*e).into(),
            e => CliError::failed(e),
        }
    }
}

impl From<ops::elastic::ElasticError> for CliError {
    fn from(e: ops::elastic::ElasticError) -> CliError {
        match e {
            ops::elastic::ElasticError::State(e) => e.into(),
            ops::elastic::ElasticError::Launch(e) => e.into(),
            e @ ops::elastic::ElasticError::AlreadyRunning { .. } => CliError::new(Cause::Busy, e),
            e => CliError::failed(e),
        }
    }
}

/// The exit codes, for `--help` and the README.
pub fn exit_codes_help() -> String {
    let mut out = String::from("Exit codes: 0 success");
    for c in Cause::ALL {
        out.push_str(&format!("; {} {}", c.code(), c.describe()));
    }
    out.push('.');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_has_its_own_code() {
        let codes: Vec<u8> = Cause::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [1, 2, 3]);
        let busy = StateError::ClusterBusy {
            cluster: "c".into(),
            pid: Some(1),
        };
        assert_eq!(CliError::from(busy).cause, Cause::Busy);
        assert_eq!(CliError::from(StateError::NoStateDir).cause, Cause::Usage);
    }

    #[test]
    fn the_message_keeps_every_cause_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] Message);
        let e = CliError::failed(Outer(Message("inner".into())));
        assert_eq!(e.message().unwrap(), "outer: inner");
    }
}
