//! What the benchmarks share: quick mode, the skip rule and the report
//! file; for the system benchmarks (`configure`, `launch`) a workspace
//! under `/tmp/nubo-bench-*` with a `NUBO_HOME` and `NUBO_LOCAL_ROOT` of its
//! own, clusters that are destroyed when dropped (even when the benchmark
//! fails), the `nubo` binary run as a user runs it, and CPU accounting
//! through a cgroup.

#![allow(dead_code)] // each benchmark uses its own part of this module

use nubo::provider::local::LocalProvider;
use std::cell::Cell;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

/// Whether `NUBO_REQUIRE_SYSTEM_TESTS=1` (CI): a benchmark that cannot run
/// is then a failure instead of a skip.
pub fn required() -> bool {
    std::env::var("NUBO_REQUIRE_SYSTEM_TESTS").as_deref() == Ok("1")
}

/// A benchmark that cannot run here says why and succeeds, unless
/// `NUBO_REQUIRE_SYSTEM_TESTS=1`.
pub fn skip(bench: &str, why: &str) -> ExitCode {
    if required() {
        eprintln!("{bench}: cannot run here and NUBO_REQUIRE_SYSTEM_TESTS=1: {why}");
        ExitCode::FAILURE
    } else {
        println!("SKIPPED: {bench}: {why}");
        log_skip(&format!("{bench}: {why}"));
        ExitCode::SUCCESS
    }
}

/// Appends a line to the file `NUBO_SKIP_LOG` names, if set: the list of
/// what did not run that `scripts/bench-quick.sh` prints at its end.
fn log_skip(line: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("NUBO_SKIP_LOG") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "cannot append to NUBO_SKIP_LOG ({}): {e}",
            Path::new(&path).display()
        );
    }
}

/// Why the local provider cannot run here, if it cannot.
pub fn local_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(
            "needs root (local nodes are namespaces, mounts and a bridge): run as root".into(),
        );
    }
    if let Err(e) = LocalProvider::check_host() {
        return Some(format!(
            "the local provider cannot run here: {e} (scripts/install-local-deps.sh)"
        ));
    }
    for (tool, package) in [("ssh", "openssh-client"), ("busybox", "busybox")] {
        if !command_exists(tool) {
            return Some(format!("no {tool}: apt-get install {package}"));
        }
    }
    None
}

pub fn command_exists(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether `NUBO_BENCH_QUICK=1`: one round at the smallest sizes, the
/// peer tool included where it is cheap. CI runs every benchmark so
/// (`scripts/bench-quick.sh`) to find one that no longer works: a failed
/// check still fails the benchmark, but its times, on a loaded machine
/// after one round, judge nothing, so a target is only reported.
pub fn quick() -> bool {
    std::env::var("NUBO_BENCH_QUICK").as_deref() == Ok("1")
}

/// `quick` in quick mode, else `full`: the default of a count.
pub fn by_mode(full: u32, quick: u32) -> u32 {
    if self::quick() { quick } else { full }
}

/// A positive count from the environment, or `default` if unset.
pub fn env_count(name: &str, default: u32) -> Result<u32, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.parse::<u32>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{name} must be a positive integer, not {v:?}")),
        },
    }
}

/// The crate's root, the checkout the benchmark runs in. Cargo sets
/// `CARGO_MANIFEST_DIR` when it runs a benchmark; the path compiled in is
/// only a fallback, since a target directory shared by several clones
/// (CI's) can hold a benchmark compiled in another, maybe deleted, clone.
pub fn crate_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `benches/fixtures`: nubo runs there, so `include:` and `template:`
/// find `benches/fixtures/recipes/`.
pub fn fixtures() -> PathBuf {
    crate_root().join("benches/fixtures")
}

/// What one timed command did.
#[derive(Debug, Clone)]
pub struct Timed {
    pub wall: Duration,
    /// CPU time of every process in the benchmark's cgroup meanwhile: the
    /// command, what it started, and the nodes' processes (sshd, the
    /// commands run over SSH). `None` without cgroup accounting.
    pub cpu: Option<Duration>,
    pub stdout: String,
    pub stderr: String,
}

/// The fastest of several measurements, and the CPU time of each.
#[derive(Debug, Clone, Default)]
pub struct Best {
    pub wall: Option<Duration>,
    pub cpu: Option<Duration>,
    pub rounds: u32,
}

impl Best {
    pub fn add(&mut self, t: &Timed) {
        self.rounds += 1;
        self.wall = Some(self.wall.map_or(t.wall, |w| w.min(t.wall)));
        if let Some(c) = t.cpu {
            self.cpu = Some(self.cpu.map_or(c, |b| b.min(c)));
        }
    }
    pub fn add_wall(&mut self, wall: Duration) {
        self.rounds += 1;
        self.wall = Some(self.wall.map_or(wall, |w| w.min(wall)));
    }
    pub fn wall(&self) -> Duration {
        self.wall.unwrap_or_default()
    }
}

/// A cgroup holding every process the benchmark times, for CPU time: v2
/// (`cpu.stat`'s `usage_usec`) or v1 (`cpuacct.usage`).
struct CpuGroup {
    dir: PathBuf,
    v2: bool,
}

impl CpuGroup {
    fn new() -> Option<CpuGroup> {
        let name = format!("nubo-bench-{}", std::process::id());
        let (dir, v2) = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            (Path::new("/sys/fs/cgroup").join(name), true)
        } else if Path::new("/sys/fs/cgroup/cpuacct/cpuacct.usage").exists() {
            (Path::new("/sys/fs/cgroup/cpuacct").join(name), false)
        } else {
            return None;
        };
        std::fs::create_dir(&dir).ok()?;
        let g = CpuGroup { dir, v2 };
        g.usage().map(|_| g)
    }

    fn usage(&self) -> Option<Duration> {
        if self.v2 {
            let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).ok()?;
            let usec = stat
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))?
                .trim()
                .parse()
                .ok()?;
            Some(Duration::from_micros(usec))
        } else {
            let ns = std::fs::read_to_string(self.dir.join("cpuacct.usage")).ok()?;
            Some(Duration::from_nanos(ns.trim().parse().ok()?))
        }
    }

    /// `program args` started inside the group (a shell moves itself in,
    /// then execs the program, so everything it starts is counted).
    fn command(&self, program: &OsStr) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(r#"echo $$ >"$0" && exec "$@""#)
            .arg(self.dir.join("cgroup.procs"))
            .arg(program);
        c
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        // Empty once the clusters are destroyed; give exiting processes a moment.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("note: could not remove the cgroup {}", self.dir.display());
    }
}

/// A directory `/tmp/nubo-bench-TAG-PID-HEX` holding the state
/// (`NUBO_HOME`), the local provider's root (`NUBO_LOCAL_ROOT`) and the
/// benchmark's files; removed when dropped (after the clusters, which
/// borrow it).
pub struct Workspace {
    pub dir: PathBuf,
    pub home: PathBuf,
    pub root: PathBuf,
    tag: String,
    seq: Cell<u32>,
    cpu: Option<CpuGroup>,
}

impl Workspace {
    /// `tag`: letters only (the stale sweep parses the directory name).
    pub fn new(tag: &str) -> Result<Workspace, String> {
        sweep_stale();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = PathBuf::from(format!(
            "/tmp/nubo-bench-{tag}-{}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Workspace {
            home: dir.join("state"),
            root: dir.join("local"),
            dir,
            tag: tag.to_string(),
            seq: Cell::new(0),
            cpu: CpuGroup::new(),
        })
    }

    /// Whether commands' CPU time is measured.
    pub fn has_cpu(&self) -> bool {
        self.cpu.is_some()
    }

    /// A fresh cluster name.
    pub fn cluster_name(&self, what: &str) -> String {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        format!("bench-{}-{what}-{}-{n}", self.tag, std::process::id())
    }

    pub fn provider(&self) -> LocalProvider {
        LocalProvider::new(&self.root)
    }

    /// A command started in the CPU-accounting group when there is one.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        match &self.cpu {
            Some(g) => g.command(program.as_ref()),
            None => Command::new(program),
        }
    }

    /// `nubo ARGS` with this workspace's state and local root, run from
    /// `benches/fixtures`.
    pub fn nubo(&self, args: &[&str]) -> Command {
        let mut c = self.command(env!("CARGO_BIN_EXE_nubo"));
        c.args(args)
            .env("NUBO_HOME", &self.home)
            .env("NUBO_LOCAL_ROOT", &self.root)
            .env("NUBO_LOG", "warn")
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env_remove("NUBO_TEST_KILL_AT")
            .current_dir(fixtures());
        c
    }

    /// Runs and times a command; an error unless it exits 0.
    pub fn time(&self, what: &str, mut cmd: Command) -> Result<Timed, String> {
        cmd.stdin(Stdio::null());
        let cpu0 = self.cpu.as_ref().and_then(CpuGroup::usage);
        let start = Instant::now();
        let out: Output = cmd
            .output()
            .map_err(|e| format!("{what}: cannot start: {e}"))?;
        let wall = start.elapsed();
        let cpu1 = self.cpu.as_ref().and_then(CpuGroup::usage);
        let timed = Timed {
            wall,
            cpu: cpu0.zip(cpu1).map(|(a, b)| b.saturating_sub(a)),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        if !out.status.success() {
            return Err(format!(
                "{what}: {}\n--- stdout (end)\n{}\n--- stderr (end)\n{}",
                out.status,
                tail(&timed.stdout, 30),
                tail(&timed.stderr, 30)
            ));
        }
        Ok(timed)
    }

    pub fn run_nubo(&self, args: &[&str]) -> Result<Timed, String> {
        self.time(&format!("nubo {}", args.join(" ")), self.nubo(args))
    }

    /// Writes a file in the workspace; returns its path.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let p = self.dir.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        Ok(p)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        // Anything a cluster guard could not remove goes with the sweep.
        if let Ok(dirs) = std::fs::read_dir(&self.root) {
            let provider = self.provider();
            for d in dirs.flatten() {
                if let Ok(name) = std::fs::read_to_string(d.path().join("cluster")) {
                    let _ = provider.destroy_cluster(name.trim_end_matches('\n'));
                }
            }
        }
        self.cpu = None; // removes the cgroup, now empty
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Destroys what a benchmark killed before its guards ran left behind:
/// `/tmp/nubo-bench-TAG-PID-HEX` of a process that is gone, and its cgroup.
fn sweep_stale() {
    let dead = |pid: Option<u32>| pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists());
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix("nubo-bench-"))
        else {
            continue;
        };
        if !dead(rest.split('-').nth(1).and_then(|p| p.parse().ok())) {
            continue;
        }
        let local = e.path().join("local");
        let provider = LocalProvider::new(&local);
        for c in std::fs::read_dir(&local).into_iter().flatten().flatten() {
            if let Ok(name) = std::fs::read_to_string(c.path().join("cluster")) {
                let name = name.trim_end_matches('\n');
                if let Err(err) = provider.destroy_cluster(name) {
                    eprintln!("sweeping stale benchmark cluster {name}: {err}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
    for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/cpuacct"] {
        for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
            let pid = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("nubo-bench-"))
                .and_then(|p| p.parse().ok());
            if dead(pid) {
                let _ = std::fs::remove_dir(e.path());
            }
        }
    }
}

/// A launched cluster of the workspace; destroyed when dropped unless
/// [`Cluster::destroy`] already did.
pub struct Cluster<'w> {
    ws: &'w Workspace,
    pub name: String,
    gone: bool,
}

/// A node as `nubo show --json` gives it.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub ip: String,
}

impl<'w> Cluster<'w> {
    /// `nubo launch NAME bench-node.radl --add ADD -y`, timed; the guard
    /// exists before the launch starts, so a failed launch is cleaned up.
    pub fn launch(ws: &'w Workspace, what: &str, add: &str) -> Result<(Self, Timed), String> {
        Self::launch_templates(ws, what, &["bench-node.radl"], add)
    }

    /// `nubo launch NAME TEMPLATES... --add ADD -y`, timed, with the same
    /// guard.
    pub fn launch_templates(
        ws: &'w Workspace,
        what: &str,
        templates: &[&str],
        add: &str,
    ) -> Result<(Self, Timed), String> {
        let c = Cluster {
            ws,
            name: ws.cluster_name(what),
            gone: false,
        };
        let add_file = ws.write(&format!("{}.radl", c.name), add)?;
        let add_file = add_file.display().to_string();
        let mut args = vec!["launch", c.name.as_str()];
        args.extend_from_slice(templates);
        args.extend_from_slice(&["--add", &add_file, "-y"]);
        let t = ws.run_nubo(&args)?;
        Ok((c, t))
    }

    pub fn show(&self) -> Result<serde_json::Value, String> {
        let t = self.ws.run_nubo(&["show", &self.name, "--json"])?;
        serde_json::from_str(&t.stdout).map_err(|e| format!("nubo show --json: {e}"))
    }

    /// The running nodes, in `show` order.
    pub fn nodes(&self) -> Result<Vec<Node>, String> {
        let shown = self.show()?;
        let vms = shown["vms"].as_array().cloned().unwrap_or_default();
        vms.iter()
            .filter(|v| v["state"] == "running")
            .map(|v| {
                Ok(Node {
                    name: v["node"].as_str().ok_or("a VM without a node name")?.into(),
                    ip: v["addresses"][0]
                        .as_str()
                        .ok_or("a VM without an address")?
                        .into(),
                })
            })
            .collect()
    }

    /// Checks that the cluster runs `nodes` nodes and that every recorded
    /// step is `ok`, `steps` of them.
    pub fn expect(&self, nodes: usize, steps: usize) -> Result<Vec<Node>, String> {
        let shown = self.show()?;
        let running = self.nodes()?;
        if running.len() != nodes {
            return Err(format!(
                "{}: {} nodes running, {nodes} expected",
                self.name,
                running.len()
            ));
        }
        let all = shown["steps"].as_array().cloned().unwrap_or_default();
        let ok = all.iter().filter(|s| s["status"] == "ok").count();
        if all.len() != steps || ok != steps {
            return Err(format!(
                "{}: {} steps recorded, {ok} ok; {steps} ok expected: {all:?}",
                self.name,
                all.len()
            ));
        }
        Ok(running)
    }

    /// The private key root logs in to the nodes with.
    pub fn key(&self) -> PathBuf {
        self.ws.provider().user_key_path(&self.name)
    }

    /// Records `bench-node.radl` composed with `add` as the cluster's
    /// description, the way `nubo launch` records one (nubo's own
    /// `templates::compose`, `Composed::record`, `set_cluster_source`), for
    /// `nubo reconfigure` to read; a user changes a cluster's description
    /// the same way, by launching it again. First checks, with nubo's own
    /// reader (`templates::compose_recorded`), that the recorded
    /// description is `bench-node.radl` with `was` added, so the change is
    /// exactly `was` to `add`.
    pub fn set_added(&self, was: &str, add: &str) -> Result<(), String> {
        use nubo::ops::templates::{self, TemplateSearch};
        let store = nubo::state::StateStore::open(&self.ws.home).map_err(|e| e.to_string())?;
        let recorded = store
            .cluster(&self.name)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} is not recorded", self.name))?;
        let search = TemplateSearch {
            dirs: vec![fixtures()],
            builtin: false,
            ..TemplateSearch::default()
        };
        let compose = |add: &str| {
            let c = templates::compose(&search, &["bench-node".to_string()], Some(add))
                .map_err(|e| format!("composing bench-node.radl with {add:?}: {e}"))?;
            if c.has_errors() {
                let mut text = String::new();
                for d in &c.diagnostics {
                    text.push_str(&d.render(&c.sources));
                }
                return Err(format!(
                    "bench-node.radl with {add:?} is not valid:\n{text}"
                ));
            }
            Ok(c)
        };
        let pieces = |c: &templates::Composed| -> Vec<(String, String)> {
            c.pieces
                .iter()
                .map(|p| (p.name.clone(), p.text.clone()))
                .collect()
        };
        let now = templates::compose_recorded(&search, &recorded.description)
            .map_err(|e| format!("{}: {e}", self.name))?;
        if pieces(&now) != pieces(&compose(was)?) {
            return Err(format!(
                "{}: the recorded description is not bench-node.radl with {was:?} added: {:?}",
                self.name,
                pieces(&now)
            ));
        }
        let new = compose(add)?;
        store
            .set_cluster_source(&self.name, &new.record(), &new.templates)
            .map_err(|e| e.to_string())
    }

    /// `nubo reconfigure NAME`, timed.
    pub fn reconfigure(&self) -> Result<Timed, String> {
        self.ws.run_nubo(&["reconfigure", &self.name])
    }

    /// Runs `sh -s NODE CLUSTER` with `script` as input on every node over
    /// OpenSSH (in parallel); returns each node's output, or the first
    /// failure.
    pub fn on_each_node(&self, nodes: &[Node], script: &str) -> Result<Vec<String>, String> {
        let key = self.key();
        let cluster = self.name.as_str();
        std::thread::scope(|s| {
            let handles: Vec<_> = nodes
                .iter()
                .map(|n| {
                    let key = &key;
                    s.spawn(move || ssh_script(key, n, script, &[&n.name, cluster]))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("a check panicked".into())))
                .collect()
        })
    }

    /// `nubo destroy NAME -y`, timed; then checks that the provider holds
    /// nothing of the cluster.
    pub fn destroy(mut self) -> Result<Timed, String> {
        let t = self.ws.run_nubo(&["destroy", &self.name, "-y"])?;
        self.gone = true;
        let left = self
            .ws
            .provider()
            .list_nodes(&self.name)
            .map_err(|e| e.to_string())?;
        if !left.is_empty() {
            return Err(format!("{}: nodes left after destroy: {left:?}", self.name));
        }
        Ok(t)
    }
}

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        if self.gone {
            return;
        }
        let _ = self
            .ws
            .nubo(&["destroy", &self.name, "-y", "--force"])
            .stdin(Stdio::null())
            .output();
        if let Err(e) = self.ws.provider().destroy_cluster(&self.name) {
            eprintln!("cleanup of {}: {e}", self.name);
        }
    }
}

/// `ssh root@NODE sh -s ARGS < script` with the cluster's key.
fn ssh_script(key: &Path, node: &Node, script: &str, args: &[&str]) -> Result<String, String> {
    use std::io::Write;
    let mut child = Command::new("ssh")
        .arg("-i")
        .arg(key)
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=20",
        ])
        .arg(format!("root@{}", node.ip))
        .arg("sh")
        .arg("-s")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|e| format!("ssh {}: {e}", node.name))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ssh {}: {e}", node.name))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "on {} ({}): {}\n{}{}",
            node.name,
            node.ip,
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// The last `n` lines of a text.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The RADL composed after `bench-node.radl`: `deploy node N` and a
/// contextualize running `configure` (or nothing).
pub fn add_radl(nodes: u32, configure: Option<&str>) -> String {
    match configure {
        Some(c) => format!(
            "deploy node {nodes}\ncontextualize (\n    system node configure {c} step 1\n)\n"
        ),
        None => format!("deploy node {nodes}\ncontextualize ()\n"),
    }
}

pub fn secs(d: Duration) -> String {
    if d >= Duration::from_secs(10) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

pub fn opt(d: Option<Duration>, f: fn(Duration) -> String) -> String {
    d.map_or_else(|| "n/a".to_string(), f)
}

/// The machine as the numbers were taken: cores and load.
pub fn machine_note() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores, load average {load}")
}

/// What quick mode adds to a report.
pub const QUICK_NOTE: &str = "quick mode (NUBO_BENCH_QUICK=1): one round at the smallest sizes, \
     to check that the benchmark works and its results are right; its times and the target \
     above say nothing about speed (run it without NUBO_BENCH_QUICK for that)\n";

/// Prints the report and writes it to `target/bench/NAME.md`
/// (`NAME-quick.md` in quick mode, with [`QUICK_NOTE`] at its end).
pub fn publish(name: &str, report: &str) -> Result<(), String> {
    let (report, file) = if quick() {
        (format!("{report}{QUICK_NOTE}"), format!("{name}-quick.md"))
    } else {
        (report.to_string(), format!("{name}.md"))
    };
    print!("{report}");
    let dir = crate_root().join("target/bench");
    let path = dir.join(file);
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, &report))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("(written to {})", path.display());
    Ok(())
}

/// Runs `check` on every node; each must print `bench-check ok`, else the
/// error says which node lacks `what`.
pub fn verify_nodes(c: &Cluster, nodes: &[Node], check: &str, what: &str) -> Result<(), String> {
    let outputs = c.on_each_node(nodes, check)?;
    for (node, out) in nodes.iter().zip(&outputs) {
        if out.trim() != "bench-check ok" {
            return Err(format!(
                "{} on {}: {what} are not all there:\n{out}",
                c.name, node.name
            ));
        }
    }
    Ok(())
}

/// `ansible-playbook` run by hand on a cluster's nodes, as the benchmarks
/// compare nubo with: root with the cluster's key, the host's python3,
/// `forks`, pipelining and SSH control masters, no host key checking, no
/// facts.
pub struct BarePlay<'a> {
    /// The program and the arguments before ours (a Python module run).
    pub program: &'a OsStr,
    pub prefix: &'a [String],
    pub play: &'a Path,
    pub forks: u32,
    /// One more inventory variable for every node: (name, value).
    pub var: (&'a str, &'a str),
    /// Tasks each host must report ok, with none failed or unreachable.
    pub tasks: usize,
}

impl BarePlay<'_> {
    /// Runs the play on `nodes` of `c` from a directory of its own under
    /// the workspace (`tag`, short: OpenSSH's control sockets live under
    /// it, 108 bytes at most); checks Ansible's recap; returns the time.
    pub fn run(
        &self,
        ws: &Workspace,
        c: &Cluster,
        nodes: &[Node],
        tag: &str,
    ) -> Result<Timed, String> {
        let seq = c.name.rsplit('-').next().unwrap_or("0");
        let dir = ws.dir.join(format!("{tag}-{seq}"));
        let cp = dir.join("cp");
        std::fs::create_dir_all(&cp).map_err(|e| format!("cannot create {}: {e}", cp.display()))?;
        let mut inventory = String::from("[nodes]\n");
        for node in nodes {
            inventory.push_str(&format!("{} ansible_host={}\n", node.name, node.ip));
        }
        inventory.push_str(&format!(
            "\n[nodes:vars]\nansible_user=root\nansible_ssh_private_key_file={}\n\
             ansible_python_interpreter=/usr/bin/python3\n{}={}\n",
            c.key().display(),
            self.var.0,
            self.var.1
        ));
        let config = format!(
            "[defaults]\nforks = {}\nhost_key_checking = False\ngathering = explicit\n\
             retry_files_enabled = False\nnocolor = True\n\n\
             [ssh_connection]\npipelining = True\n\
             ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null\n\
             control_path_dir = {}\n",
            self.forks,
            cp.display()
        );
        let (inventory_path, config_path) = (dir.join("inventory.ini"), dir.join("ansible.cfg"));
        for (path, text) in [(&inventory_path, &inventory), (&config_path, &config)] {
            std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        let mut cmd = ws.command(self.program);
        cmd.args(self.prefix)
            .arg("-i")
            .arg(&inventory_path)
            .arg(self.play)
            .env("ANSIBLE_CONFIG", &config_path)
            .env("ANSIBLE_HOME", dir.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"))
            .current_dir(&dir);
        let timed = ws.time("ansible-playbook", cmd);
        stop_ssh_masters(&cp);
        let timed = timed?;
        // Every host ran every task: ok=N and nothing failed.
        let recap: Vec<&str> = timed
            .stdout
            .lines()
            .filter(|l| l.contains(" : ok="))
            .collect();
        let good = recap
            .iter()
            .filter(|l| {
                l.contains(&format!("ok={} ", self.tasks))
                    && l.contains(" failed=0 ")
                    && l.contains(" unreachable=0 ")
            })
            .count();
        if recap.len() != nodes.len() || good != nodes.len() {
            return Err(format!(
                "ansible-playbook's recap is not {} ok tasks on each of {} hosts:\n{}",
                self.tasks,
                nodes.len(),
                tail(&timed.stdout, 40)
            ));
        }
        Ok(timed)
    }
}

/// Ends the SSH control masters Ansible left (ControlPersist), which
/// would otherwise wait a minute for connections to nodes that are gone.
fn stop_ssh_masters(cp: &Path) {
    for e in std::fs::read_dir(cp).into_iter().flatten().flatten() {
        let _ = Command::new("ssh")
            .arg("-o")
            .arg(format!("ControlPath={}", e.path().display()))
            .args(["-O", "exit", "control-master"])
            .output();
    }
}

/// Measures, then prints and writes the report `report` makes of the
/// measurements and the machine's load before and after; a failure ends
/// the benchmark with `NAME: FAILED: why`.
pub fn measure_and_publish<M>(
    bench: &str,
    measure: impl FnOnce() -> Result<M, String>,
    report: impl FnOnce(&M, &str, &str) -> String,
) -> ExitCode {
    let before = machine_note();
    let result = measure();
    let after = machine_note();
    match result.and_then(|m| publish(bench, &report(&m, &before, &after))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{bench}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
