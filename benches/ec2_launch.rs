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

#[path = "support/mod.rs"]
mod support;

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
    let before = support::machine_note();
    let result = measure(n);
    let after = support::machine_note();
    match result
        .and_then(|(nubo, im)| support::publish(BENCH, &report(n, nubo, im, &before, &after)))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{BENCH}: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
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
    fn start() -> Result<Moto, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
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

/// nubo's time, then IM's.
fn measure(n: u32) -> Result<(Duration, Duration), String> {
    let moto = Moto::start()?;
    let tmp = tempfile::Builder::new()
        .prefix("nubo-bench-ec2-")
        .tempdir()
        .map_err(|e| format!("cannot make a directory: {e}"))?;
    let dir = tmp.path();
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
    let (nubo_time, _) = run(
        "nubo launch",
        nubo(
            dir,
            &["launch", name, "cluster.radl", "-a", "auth.dat", "-y"],
        ),
    )?;
    let checked = check_running(dir, name, n);
    run("nubo destroy", nubo(dir, &["destroy", name, "-y"]))?;
    checked?;

    let script: PathBuf = support::crate_root().join("benches/ec2_im_launch.py");
    let mut im = Command::new("python3");
    im.arg(&script)
        .arg(moto.endpoint())
        .arg(n.to_string())
        .arg(dir)
        .env_remove("AWS_ENDPOINT_URL_EC2")
        .stdin(Stdio::null())
        .current_dir(dir);
    let (_, out) = run("IM", im)?;
    let line: serde_json::Value = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("IM printed no result: {out}"))?;
    let seconds = line["seconds"]
        .as_f64()
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or_else(|| format!("IM printed no time: {line}"))?;
    if line["vms"].as_u64() != Some(u64::from(n)) {
        return Err(format!("IM launched a different count: {line}"));
    }
    Ok((nubo_time, Duration::from_secs_f64(seconds)))
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

fn report(n: u32, nubo: Duration, im: Duration, before: &str, after: &str) -> String {
    let ratio = im.as_secs_f64() / nubo.as_secs_f64().max(1e-9);
    format!(
        "# EC2 launch: nubo vs the Infrastructure Manager\n\n\
         {n} VMs on one moto_server (127.0.0.1), contextualization off, one run each.\n\n\
         | tool | until all {n} VMs run |\n|---|---|\n\
         | nubo | {} |\n| IM 2.0 (EC2 connector) | {} |\n\n\
         IM / nubo: {ratio:.1}x (target: at least 10x){}\n\n\
         Machine: before {before}; after {after}.\n",
        support::secs(nubo),
        support::secs(im),
        if ratio >= 10.0 { "" } else { ": not met" },
    )
}
