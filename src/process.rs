//! Running the host's programs (`git`, `ssh-keygen`, a queue's command):
//! one runner on `tokio::process`, with a time limit on every call.
//!
//! A [`Program`] is built with its arguments and time limit, then run:
//!
//! - [`Program::output`] (async) waits for it and returns what it printed
//!   and its exit status, whatever the status; [`Program::run`] also
//!   turns a non-zero exit into [`ProcessError::Failed`], with its
//!   standard error.
//! - A call that runs past its time limit kills the program (`SIGKILL`)
//!   and reaps it before returning [`ProcessError::TimedOut`]. A caller
//!   that gives up (drops the future, or its task is aborted) kills it
//!   too: no program outlives the call that started it.
//! - Standard input is closed unless given ([`Program::stdin`]); standard
//!   output and error are captured, read as the program writes them.
//! - Every error names the program and its arguments, and says what to do
//!   (a program not found says which package to install, when the caller
//!   gave it with [`Program::package`]).
//!
//! [`Program::output_blocking`] and [`Program::run_blocking`] are for
//! synchronous code only (recipe compiles, the local provider, which
//! async callers run in `tokio::task::spawn_blocking`): they block the
//! calling thread until the program ends. Called from an async task they
//! still work, on a thread of their own, but they hold up that task's
//! worker thread all the while: do not call them on the runtime.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// What can go wrong running a program. Each message names the command.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("`{program}` not found (to run `{command}`): {hint}")]
    NotFound {
        program: String,
        command: String,
        /// What to do: the package to install, or to put it on PATH.
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("lost track of `{command}` while it ran: {source}")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{command}` did not finish within {after:?} and was killed: it hangs, or its work needs more time than that"
    )]
    TimedOut { command: String, after: Duration },
    #[error("`{command}` failed ({status}): {}", stderr_summary(.stderr))]
    Failed {
        command: String,
        status: ExitStatus,
        /// Its standard error, as it wrote it.
        stderr: String,
    },
    #[error("cannot run `{command}`: no async runtime could be started for it: {source}")]
    Runtime {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

fn stderr_summary(stderr: &str) -> &str {
    match stderr.trim() {
        "" => "it wrote nothing on standard error",
        s => s,
    }
}

/// What a program that ran to its end printed, and how it exited.
#[derive(Clone, Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Standard output as text (invalid UTF-8 replaced).
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Standard error as text (invalid UTF-8 replaced).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A program to run: its arguments, environment, input and time limit.
#[derive(Clone, Debug)]
pub struct Program {
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    package: Option<&'static str>,
}

impl Program {
    /// `program` (a name looked up on `PATH`, or a path), to be killed
    /// when it runs longer than `timeout`.
    pub fn new(program: impl AsRef<OsStr>, timeout: Duration) -> Program {
        Program {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            dir: None,
            stdin: None,
            timeout,
            package: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Program {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Program
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable for the program (the rest of the
    /// environment is inherited).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Program {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The working directory (default: the caller's).
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Program {
        self.dir = Some(dir.into());
        self
    }

    /// Feeds `input` to the program's standard input, then closes it.
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Program {
        self.stdin = Some(input.into());
        self
    }

    /// The Debian package that provides the program, named when it is
    /// not found (`apt-get install PACKAGE`).
    pub fn package(mut self, package: &'static str) -> Program {
        self.package = Some(package);
        self
    }

    /// The time limit.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The command as a shell would show it (for messages and logs; not
    /// to be run by a shell).
    pub fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shown(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the program to its end (or its time limit) and returns its
    /// output and exit status, whatever the status.
    pub async fn output(&self) -> Result<Output, ProcessError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(d) = &self.dir {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        tracing::debug!(command = %self.command_line(), pid = child.id(), "started");
        let input = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let data = self.stdin.as_deref();
        let done = tokio::time::timeout(self.timeout, async {
            let feed = async {
                if let (Some(mut pipe), Some(data)) = (input, data) {
                    // A program that exits early closes its input; its
                    // exit status tells why.
                    let _ = pipe.write_all(data).await;
                }
            };
            let ((), out, err) = tokio::join!(feed, read_all(stdout), read_all(stderr));
            let status = child.wait().await?;
            Ok::<_, std::io::Error>(Output {
                status,
                stdout: out?,
                stderr: err?,
            })
        })
        .await;
        match done {
            Ok(Ok(out)) => {
                tracing::debug!(command = %self.command_line(), status = %out.status, "finished");
                Ok(out)
            }
            Ok(Err(source)) => {
                let _ = child.kill().await;
                Err(ProcessError::Wait {
                    command: self.command_line(),
                    source,
                })
            }
            Err(_) => {
                // Kill it and reap it before saying so.
                let _ = child.kill().await;
                tracing::warn!(command = %self.command_line(), after = ?self.timeout, "killed at its time limit");
                Err(ProcessError::TimedOut {
                    command: self.command_line(),
                    after: self.timeout,
                })
            }
        }
    }

    /// [`Program::output`], with a non-zero exit an error
    /// ([`ProcessError::Failed`], with its standard error).
    pub async fn run(&self) -> Result<Output, ProcessError> {
        let out = self.output().await?;
        self.check(out)
    }

    /// [`Program::output`] for synchronous code: blocks the calling thread
    /// until the program ends or is killed. Not for the async runtime:
    /// call it from synchronous code or inside `spawn_blocking`.
    pub fn output_blocking(&self) -> Result<Output, ProcessError> {
        let block = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| ProcessError::Runtime {
                    command: self.command_line(),
                    source,
                })?
                .block_on(self.output())
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // A runtime's thread (a blocking one, or, wrongly, a worker)
            // cannot start another runtime: use a thread of its own.
            std::thread::scope(|s| match s.spawn(block).join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            block()
        }
    }

    /// [`Program::run`] for synchronous code; see
    /// [`Program::output_blocking`].
    pub fn run_blocking(&self) -> Result<Output, ProcessError> {
        let out = self.output_blocking()?;
        self.check(out)
    }

    fn check(&self, out: Output) -> Result<Output, ProcessError> {
        if out.success() {
            Ok(out)
        } else {
            Err(ProcessError::Failed {
                command: self.command_line(),
                status: out.status,
                stderr: out.stderr_text(),
            })
        }
    }

    fn spawn_error(&self, source: std::io::Error) -> ProcessError {
        if source.kind() == std::io::ErrorKind::NotFound {
            let program = self.program.to_string_lossy().into_owned();
            let hint = match self.package {
                Some(p) => format!("install it with `apt-get install {p}`"),
                None if program.contains('/') => "no program is there: give its right path".into(),
                None => "install it, or put its directory on PATH".into(),
            };
            ProcessError::NotFound {
                program,
                command: self.command_line(),
                hint,
                source,
            }
        } else {
            ProcessError::Spawn {
                command: self.command_line(),
                source,
            }
        }
    }
}

async fn read_all(pipe: Option<impl AsyncRead + Unpin>) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut p) = pipe {
        p.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

/// One argument as a shell would need it: as it is when plain, else in
/// single quotes.
fn shown(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@+,%^{}".contains(&b));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    /// Whether `pid` is a process that has not ended (a zombie has).
    fn alive(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the command name's closing parenthesis.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => false,
        }
    }

    fn exists(pid: u32) -> bool {
        Path::new(&format!("/proc/{pid}")).exists()
    }

    /// A shell that writes its pid to `file`, then becomes `sleep 30`.
    fn sleeper(file: &Path, timeout: Duration) -> Program {
        Program::new("sh", timeout)
            .arg("-c")
            .arg(format!("echo $$ > {}; exec sleep 30", file.display()))
    }

    fn read_pid(file: &Path) -> u32 {
        std::fs::read_to_string(file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn output_is_captured_and_input_fed() {
        let out = Program::new("sh", Duration::from_secs(10))
            .args(["-c", "cat; echo err >&2; echo \"v=$V\""])
            .env("V", "x y")
            .stdin("in\n")
            .run()
            .await
            .unwrap();
        assert_eq!(out.stdout_text(), "in\nv=x y\n");
        assert_eq!(out.stderr_text(), "err\n");
    }

    #[tokio::test]
    async fn the_time_limit_kills_and_reaps_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pid");
        let p = sleeper(&file, Duration::from_millis(300));
        let e = p.output().await.unwrap_err();
        assert!(matches!(e, ProcessError::TimedOut { .. }), "{e}");
        assert!(
            e.to_string().starts_with(&format!(
                "`sh -c 'echo $$ > {}; exec sleep 30'` did not finish within 300ms and was killed",
                file.display()
            )),
            "{e}"
        );
        let pid = read_pid(&file);
        // Killed and reaped before the error came back: no zombie either.
        assert!(!exists(pid), "pid {pid} is still there");
    }

    #[tokio::test]
    async fn a_caller_giving_up_kills_the_program() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pid");
        let p = sleeper(&file, Duration::from_secs(60));
        let task = tokio::spawn(async move { p.output().await });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&file).map_or(true, |s| !s.ends_with('\n')) {
            assert!(Instant::now() < deadline, "the program never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let pid = read_pid(&file);
        assert!(alive(pid));
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        // The kill is sent when the future is dropped; the reaping follows.
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            assert!(Instant::now() < deadline, "pid {pid} outlived its caller");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn a_missing_program_says_what_to_install() {
        let e = Program::new("nubo-no-such-program", Duration::from_secs(5))
            .args(["a", "b c"])
            .package("nubo-tools")
            .output()
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "`nubo-no-such-program` not found (to run `nubo-no-such-program a 'b c'`): install it with `apt-get install nubo-tools`"
        );
        let e = Program::new("/nonexistent/tool", Duration::from_secs(5))
            .output()
            .await
            .unwrap_err();
        assert!(matches!(e, ProcessError::NotFound { .. }), "{e}");
        assert!(e.to_string().ends_with("give its right path"), "{e}");
    }

    #[tokio::test]
    async fn a_failure_carries_its_standard_error() {
        let p = Program::new("sh", Duration::from_secs(10))
            .args(["-c", "echo partial; echo 'no such thing' >&2; exit 3"]);
        let out = p.output().await.unwrap();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout_text(), "partial\n");
        let e = p.run().await.unwrap_err();
        match &e {
            ProcessError::Failed { stderr, status, .. } => {
                assert_eq!(stderr, "no such thing\n");
                assert_eq!(status.code(), Some(3));
            }
            e => panic!("{e}"),
        }
        assert_eq!(
            e.to_string(),
            "`sh -c 'echo partial; echo '\\''no such thing'\\'' >&2; exit 3'` failed (exit status: 3): no such thing"
        );
    }

    #[test]
    fn blocking_calls_work_without_and_within_a_runtime() {
        let p = Program::new("sh", Duration::from_secs(10)).args(["-c", "echo $0", "here"]);
        assert_eq!(p.run_blocking().unwrap().stdout_text(), "here\n");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let q = p.clone();
        let out = rt
            .block_on(rt.spawn_blocking(move || q.run_blocking()))
            .unwrap()
            .unwrap();
        assert_eq!(out.stdout_text(), "here\n");
        // Wrongly, on the runtime itself: slow for the runtime, but no panic.
        let out = rt.block_on(async { p.run_blocking() }).unwrap();
        assert_eq!(out.stdout_text(), "here\n");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pid");
        let e = sleeper(&file, Duration::from_millis(200))
            .output_blocking()
            .unwrap_err();
        assert!(matches!(e, ProcessError::TimedOut { .. }), "{e}");
        assert!(!exists(read_pid(&file)));
    }
}
