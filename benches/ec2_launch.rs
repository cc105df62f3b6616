//! Launching 50 VMs on EC2, nubo against the Infrastructure Manager, both
//! talking to one `moto_server` on 127.0.0.1 (moto's EC2, no network).
//!
//! Run with `cargo bench --bench ec2_launch` (moto and IM from
//! `scripts/install-test-deps.sh`). `NUBO_BENCH_VMS` changes the count
//! (default 50; 2 with `NUBO_BENCH_QUICK=1`, as CI runs it, IM included).
//!
//! - nubo: `nubo launch NAME cluster.radl -a auth.dat -y`, from start to
//!   exit (the process, its state store, the cluster key, then every VM
//!   created and seen running); checked with `nubo show --json` (N VMs
//!   running), then destroyed.
//! - IM: `benches/ec2_im_launch.py`, IM 2.0's `InfrastructureManager` in a
//!   Python process with its EC2 connector (boto3) pointed at the same
//!   moto_server, from `CreateInfrastructure` until
//!   `GetInfrastructureState` reports every VM running (Python's start
//!   and IM's imports are not counted); then destroyed.
//!
//! Both describe the same system (1 vCPU, 1 GB, a public network, one AMI)
//! with `contextualize ()`: nothing is configured, so the time is the
//! cloud calls and the waiting. The report prints both times and their
//! ratio; the target (nubo at least 10x faster) is reported, not
//! enforced.
//!
//! It also counts the EC2 API calls each tool makes to launch the VMs, per
//! action, as moto itself saw them: moto_server's recorder
//! (`/moto-api/recorder/`, moto 5.x) records every request it serves
//! while recording, before handling it, to a file in the benchmark's
//! directory (`MOTO_RECORDER_FILEPATH`); the action is the `Action=` of
//! each request's body (EC2's query protocol). The recording is erased
//! and started just before each tool starts, and stopped once all its VMs
//! run: after `nubo launch` exits, and while `ec2_im_launch.py --pause`
//! waits before its destroy. So only the launch is counted (a retried
//! request counts each time it is sent), never the destroy nor
//! `nubo show`. The counts are checked (a request with no action, or
//! RunInstances asking for fewer than N instances in all, fails the
//! benchmark, quick mode too) and printed as a second table.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const BENCH: &str = "ec2_launch";
const AMI: &str = "ami-12c6146b";

fn main() -> ExitCode {
    let n = match support::env_count("NUBO_BENCH_VMS", support::by_mode(50, 2)) {
        Ok(n) if (1..=500).contains(&n) => n,
        Ok(n) => {
            eprintln!("{BENCH}: NUBO_BENCH_VMS must be from 1 to 500, not {n}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(why) = unavailable() {
        return support::skip(BENCH, &why);
    }
    support::measure_and_publish(BENCH, || measure(n), |m, b, a| report(n, m, b, a))
}

/// Why the benchmark cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    let ok = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok("moto_server", &["--help"]) {
        return Some(
            "moto_server is not installed (scripts/install-test-deps.sh: pip install 'moto[server]')"
                .into(),
        );
    }
    if !ok("python3", &["-c", "import IM.InfrastructureManager, yaml"]) {
        return Some("the Infrastructure Manager is not installed (pip install im)".into());
    }
    if !support::command_exists("ssh-keygen") {
        return Some("ssh-keygen (openssh-client) is not installed".into());
    }
    None
}

/// moto_server on a free port of 127.0.0.1, killed with its process group
/// when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Started in `dir`, its recorder writing to `dir/moto-recording.jsonl`.
    fn start(dir: &Path) -> Result<Moto, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", dir.join("moto-recording.jsonl"))
            .env_remove("MOTO_ENABLE_RECORDING")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start moto_server: {e}"))?;
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err(format!("moto_server did not listen on port {port}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this benchmark started.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nubo(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nubo"));
    c.args(args)
        .env("NUBO_HOME", dir.join("state"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("NUBO_TEST_KILL_AT")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .stdin(Stdio::null())
        .current_dir(dir);
    c
}

fn run(what: &str, mut c: Command) -> Result<(Duration, String), String> {
    let start = Instant::now();
    let out = c
        .output()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let wall = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{what}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((wall, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// What one run measured.
struct Measured {
    nubo: Duration,
    im: Duration,
    nubo_calls: Calls,
    im_calls: Calls,
}

/// Launches with nubo, then with IM, timing each and counting its calls.
fn measure(n: u32) -> Result<Measured, String> {
    let tmp = tempfile::Builder::new()
        .prefix("nubo-bench-ec2-")
        .tempdir()
        .map_err(|e| format!("cannot make a directory: {e}"))?;
    let dir = tmp.path();
    let moto = Moto::start(dir)?;
    let recorder = Recorder::new(&moto)?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("cannot write {name}: {e}"))
    };
    write(
        "cluster.radl",
        format!(
            "network public (outbound = 'yes')\n\
             system node (cpu.count >= 1 and memory.size >= 1g and \
               net_interface.0.connection = 'public' and \
               disk.0.image.url = 'aws://us-east-1/{AMI}' and disk.0.os.name = 'linux')\n\
             contextualize ()\n\
             deploy node {n}\n"
        ),
    )?;
    write(
        "auth.dat",
        format!(
            "id = ec2; type = EC2; host = {}; username = AKIDBENCH; password = bench-secret\n",
            moto.endpoint()
        ),
    )?;

    let name = "bench-ec2";
    recorder.start()?;
    let launched = run(
        "nubo launch",
        nubo(
            dir,
            &["launch", name, "cluster.radl", "-a", "auth.dat", "-y"],
        ),
    );
    let nubo_calls = recorder.stop().map(|r| Calls::count("nubo", &r, n));
    let checked = match &launched {
        Ok(_) => check_running(dir, name, n),
        Err(_) => Ok(()),
    };
    let destroyed = run("nubo destroy", nubo(dir, &["destroy", name, "-y"]));
    let (nubo_time, _) = launched?;
    checked?;
    destroyed?;
    let nubo_calls = nubo_calls??;

    let script: PathBuf = support::crate_root().join("benches/ec2_im_launch.py");
    let mut im = Command::new("python3");
    im.arg(&script)
        .arg(moto.endpoint())
        .arg(n.to_string())
        .arg(dir)
        .arg("--pause")
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .current_dir(dir);
    recorder.start()?;
    let (line, im_calls) = run_paused("IM", im, || recorder.stop())?;
    let im_calls = Calls::count("IM", &im_calls, n)?;
    let seconds = line["seconds"]
        .as_f64()
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("IM printed no time: {line}"))?;
    if line["vms"].as_u64() != Some(u64::from(n)) {
        return Err(format!("IM launched a different count: {line}"));
    }
    Ok(Measured {
        nubo: nubo_time,
        im: Duration::from_secs_f64(seconds),
        nubo_calls,
        im_calls,
    })
}

/// Runs `c` (`ec2_im_launch.py ... --pause`) until it prints its JSON
/// result line, which it does once every VM runs; then calls `paused`
/// while the script waits, lets it go on (to its destroy) and waits for
/// its exit, which must be a success. Returns the line and what `paused`
/// returned.
fn run_paused<T>(
    what: &str,
    mut c: Command,
    paused: impl FnOnce() -> Result<T, String>,
) -> Result<(serde_json::Value, T), String> {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
    let mut printed = String::new();
    let mut result = None;
    let mut line = String::new();
    while result.is_none() {
        line.clear();
        match stdout.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                printed.push_str(&line);
                result = serde_json::from_str::<serde_json::Value>(line.trim())
                    .ok()
                    .filter(|v| v.get("seconds").is_some());
            }
        }
    }
    // Measured in the pause, before the script goes on; an error is
    // returned only after the script has finished (destroyed its VMs).
    let measured = result.as_ref().map(|_| paused());
    let _ = stdin.write_all(b"\n");
    drop(stdin);
    let _ = stdout.read_to_string(&mut printed);
    let status = child
        .wait()
        .map_err(|e| format!("{what}: cannot wait: {e}"))?;
    let errors = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("{what}: {status}\n{printed}{errors}"));
    }
    let result = result.ok_or_else(|| format!("{what} printed no result: {printed}{errors}"))?;
    let measured = measured.expect("measured once there is a result")?;
    Ok((result, measured))
}

/// moto_server's recorder, moto 5.x (`moto/moto_api/_internal/recorder/`):
/// while on, moto appends every request it serves (except the recorder's
/// own) to the file `MOTO_RECORDER_FILEPATH` names, before handling it,
/// as one JSON object a line: `headers`, `method`, `url` and `body`
/// (base64 when `body_encoded`). `reset-recording` empties the file,
/// `start-recording` and `stop-recording` turn it on and off,
/// `download-recording` returns it.
struct Recorder {
    base: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Recorder {
    fn new(moto: &Moto) -> Result<Recorder, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Recorder {
            base: format!("{}/moto-api/recorder", moto.endpoint()),
            http,
            rt,
        })
    }

    fn call(&self, method: reqwest::Method, what: &str) -> Result<String, String> {
        let url = format!("{}/{what}", self.base);
        self.rt.block_on(async {
            let failed = |e: reqwest::Error| format!("moto's recorder, {method} {url}: {e}");
            let resp = self
                .http
                .request(method.clone(), &url)
                .send()
                .await
                .map_err(failed)?;
            let status = resp.status();
            let body = resp.bytes().await.map_err(failed)?;
            let body = String::from_utf8_lossy(&body).into_owned();
            if !status.is_success() {
                return Err(format!(
                    "moto's recorder, {method} {url}: HTTP {status}: {body}"
                ));
            }
            Ok(body)
        })
    }

    /// Erases the recording and starts recording.
    fn start(&self) -> Result<(), String> {
        self.call(reqwest::Method::POST, "reset-recording")?;
        let said = self.call(reqwest::Method::POST, "start-recording")?;
        if said != "Recording is set to True" {
            return Err(format!("moto's recorder did not start: {said:?}"));
        }
        Ok(())
    }

    /// Stops recording; what was recorded since `start`.
    fn stop(&self) -> Result<String, String> {
        let said = self.call(reqwest::Method::POST, "stop-recording")?;
        if said != "Recording is set to False" {
            return Err(format!("moto's recorder did not stop: {said:?}"));
        }
        self.call(reqwest::Method::GET, "download-recording")
    }
}

/// The API calls moto recorded, per action.
struct Calls {
    /// EC2 actions by name; another service's as `service:Action`.
    actions: BTreeMap<String, u64>,
    /// Instances RunInstances asked for, all calls together (`MaxCount`).
    instances: u64,
}

impl Calls {
    /// Counts a recording of `tool`'s launch of `n` VMs. An error if a
    /// request has no action, or if RunInstances asked for fewer than `n`
    /// instances in all: then the recording missed calls.
    fn count(tool: &str, recording: &str, n: u32) -> Result<Calls, String> {
        let mut calls = Calls {
            actions: BTreeMap::new(),
            instances: 0,
        };
        for entry in serde_json::Deserializer::from_str(recording).into_iter() {
            let entry: serde_json::Value =
                entry.map_err(|e| format!("{tool}: moto's recording is not JSON: {e}"))?;
            let (name, params) =
                action(&entry).map_err(|e| format!("{tool}: moto recorded {e}"))?;
            if name == "RunInstances" {
                let max = params
                    .get("MaxCount")
                    .and_then(|m| m.parse::<u64>().ok())
                    .ok_or_else(|| format!("{tool}: a RunInstances without MaxCount"))?;
                calls.instances += max;
            }
            *calls.actions.entry(name).or_default() += 1;
        }
        if calls.instances < u64::from(n) {
            return Err(format!(
                "{tool}: moto recorded RunInstances calls for {} instances, not {n} \
                 (calls recorded: {:?})",
                calls.instances, calls.actions
            ));
        }
        Ok(calls)
    }

    fn get(&self, action: &str) -> u64 {
        self.actions.get(action).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.actions.values().sum()
    }
}

/// A recorded request's action (`service:Action` for a service other
/// than EC2) and its query parameters: the service from the SigV4
/// credential scope of `Authorization`, the action from `X-Amz-Target`
/// (JSON protocols) or `Action=` in the form body or the URL's query (the
/// query protocol, EC2's).
fn action(entry: &serde_json::Value) -> Result<(String, BTreeMap<String, String>), String> {
    use base64::Engine;
    let what = || {
        format!(
            "{} {}",
            entry["method"].as_str().unwrap_or("?"),
            entry["url"].as_str().unwrap_or("?")
        )
    };
    let header = |name: &str| {
        entry["headers"].as_object().and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        })
    };
    let service = header("Authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split([',', ' ']).next())
        .and_then(|c| c.split('/').nth(3))
        .ok_or_else(|| format!("a request with no SigV4 credential scope: {}", what()))?;
    let body = match (&entry["body"], entry["body_encoded"].as_bool()) {
        (serde_json::Value::String(b), Some(true)) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| format!("a body that is not base64 ({e}): {}", what()))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        (serde_json::Value::String(b), _) => b.clone(),
        _ => String::new(),
    };
    let query = entry["url"]
        .as_str()
        .and_then(|u| u.split_once('?'))
        .map_or("", |(_, q)| q);
    // Action names, MaxCount and the like are never percent-encoded.
    let params: BTreeMap<String, String> = [body.as_str(), query]
        .iter()
        .flat_map(|form| form.split('&'))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let name = match header("X-Amz-Target") {
        Some(target) => target.rsplit('.').next().unwrap_or(target).to_string(),
        None => params
            .get("Action")
            .cloned()
            .ok_or_else(|| format!("a request with no action: {}", what()))?,
    };
    let name = if service == "ec2" {
        name
    } else {
        format!("{service}:{name}")
    };
    Ok((name, params))
}

/// `nubo show --json` lists `n` VMs, all running with an address.
fn check_running(dir: &Path, name: &str, n: u32) -> Result<(), String> {
    let (_, out) = run("nubo show", nubo(dir, &["show", name, "--json"]))?;
    let shown: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("nubo show --json: {e}"))?;
    let vms = shown["vms"].as_array().cloned().unwrap_or_default();
    let running = vms
        .iter()
        .filter(|v| {
            v["state"] == "running" && v["addresses"].as_array().is_some_and(|a| !a.is_empty())
        })
        .count();
    if vms.len() != n as usize || running != n as usize {
        return Err(format!(
            "nubo launched {} VMs, {running} running with an address, not {n}",
            vms.len()
        ));
    }
    Ok(())
}

fn report(n: u32, m: &Measured, before: &str, after: &str) -> String {
    let ratio = m.im.as_secs_f64() / m.nubo.as_secs_f64().max(1e-9);
    let mut actions: Vec<&String> = m
        .nubo_calls
        .actions
        .keys()
        .chain(m.im_calls.actions.keys())
        .collect();
    actions.sort_by_key(|a| {
        (
            std::cmp::Reverse(m.nubo_calls.get(a) + m.im_calls.get(a)),
            *a,
        )
    });
    actions.dedup();
    let mut calls = String::new();
    for a in actions {
        calls.push_str(&format!(
            "| {a} | {} | {} |\n",
            m.nubo_calls.get(a),
            m.im_calls.get(a)
        ));
    }
    format!(
        "# EC2 launch: nubo vs the Infrastructure Manager\n\n\
         {n} VMs on one moto_server (127.0.0.1), contextualization off, one run each.\n\n\
         | tool | until all {n} VMs run |\n|---|---|\n\
         | nubo | {} |\n| IM 2.0 (EC2 connector) | {} |\n\n\
         IM / nubo: {ratio:.1}x (target: at least 10x){}\n\n\
         | EC2 API calls until all {n} VMs run | nubo | IM 2.0 |\n|---|---:|---:|\n\
         {calls}| total | {} | {} |\n\n\
         Counted by moto_server's recorder from each tool's start until all its VMs ran \
         (the destroy not counted); RunInstances asked for {} instances (nubo) and {} (IM).\n\n\
         Command: `{}`\n\n\
         Machine: before {before}; after {after}.\n",
        support::secs(m.nubo),
        support::secs(m.im),
        if ratio >= 10.0 { "" } else { ": not met" },
        m.nubo_calls.total(),
        m.im_calls.total(),
        m.nubo_calls.instances,
        m.im_calls.instances,
        command_line(),
    )
}

/// The command that runs this benchmark as it was run: `cargo bench
/// --bench ec2_launch` after the variables it reads that were set.
fn command_line() -> String {
    let mut words: Vec<String> = ["NUBO_BENCH_QUICK", "NUBO_BENCH_VMS"]
        .iter()
        .filter_map(|v| std::env::var(v).ok().map(|x| format!("{v}={x}")))
        .collect();
    words.push(format!("cargo bench --bench {BENCH}"));
    words.join(" ")
}
