//! `nubo serve` against IM 2.0's own REST server, side by side in one run:
//! both on 127.0.0.1, both with their Dummy connector (VMs that exist only
//! in the records), both given the same RADL and the same load.
//!
//! Run with `cargo bench --bench serve_im` (release build). IM is the
//! unmodified `im` 2.0.0 from PyPI (`scripts/install-test-deps.sh`),
//! started by `scripts/im-server.py` with its data in a SQLite file of its
//! own; `nubo serve` is this build's, with a state directory of its own.
//!
//! 1. Create: `NUBO_BENCH_INFS` infrastructures (default 50; quick mode 3)
//!    of `NUBO_BENCH_VMS` VMs each (default 10; quick 2), posted with
//!    `async=yes` by 16 workers at once, then `GET .../state` polled every
//!    50 ms until each is `configured`: the wall time from the first POST
//!    to the last `configured`.
//! 2. State under load: `NUBO_BENCH_CLIENTS` clients (default 100; quick
//!    10), each with its own connection, each making `NUBO_BENCH_REQUESTS`
//!    `GET .../state` calls (default 20; quick 5) in a row over the
//!    infrastructures: p50 and p99 of the calls' latencies, and calls per
//!    second.
//!
//! The RADL has `contextualize ()`: IM's Dummy VMs have no public address
//! and no SSH, so IM's contextualization finds no master VM and an
//! infrastructure with a configure step ends `unconfigured` there ("No
//! correct Master VM found"); without contextualization both servers
//! report `configured` once the VMs are made.
//!
//! Checked: every infrastructure reaches `configured` with its N VMs
//! `configured`, every call of phase 2 answers 200 with `configured`, and
//! every infrastructure is deleted at the end (the list is empty). Target
//! (issue 18): nubo at least 10 times IM on each measure; reported, not
//! enforced.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BENCH: &str = "serve_im";
const AUTH: &str =
    "type = InfrastructureManager;username = bench;password = bench;\\nid = dummy;type = Dummy;\\n";

fn radl(vms: u32) -> String {
    format!(
        "network n ()\n\
         system s (\n  net_interface.0.connection = 'n' and\n  disk.0.os.name = 'linux' and\n  disk.0.image.url = 'one://one.example.org/1'\n)\n\
         contextualize ()\n\
         deploy s {vms}\n"
    )
}

/// A server process, killed when dropped.
struct Server {
    name: &'static str,
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn start_nubo(dir: &Path) -> Result<Server, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.join("nubo-state"))
        .arg("--local-root")
        .arg(dir.join("nubo-local"))
        .env("NUBO_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start nubo serve: {e}"))?;
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line.map_err(|e| e.to_string())?;
        if let Some(u) = line.strip_prefix("nubo serve: listening on ") {
            url = Some(u.to_string());
            break;
        }
        eprintln!("nubo serve: {line}");
    }
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            eprintln!("nubo serve: {line}");
        }
    });
    let url = url.ok_or("nubo serve exited before it listened")?;
    Ok(Server {
        name: "nubo",
        child,
        url,
    })
}

fn start_im(dir: &Path) -> Result<Server, String> {
    let port = free_port()?;
    let script = support::crate_root().join("scripts/im-server.py");
    let data = dir.join("im");
    let child = Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start IM: {e}"))?;
    let server = Server {
        name: "IM 2.0",
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = std::process::Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import urllib.request,sys; sys.exit(urllib.request.urlopen('{}/version', timeout=2).status != 200)",
                    server.url
                ),
            ])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            return Ok(server);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(data.join("im.log")).unwrap_or_default();
            return Err(format!(
                "IM did not answer on {} in 60 s:\n{log}",
                server.url
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What one server did.
struct Measured {
    create: Duration,
    p50: Duration,
    p99: Duration,
    rate: f64,
}

async fn state_of(
    client: &reqwest::Client,
    url: &str,
    id: &str,
) -> Result<serde_json::Value, String> {
    let r = client
        .get(format!("{url}/infrastructures/{id}/state"))
        .header("Authorization", AUTH)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let code = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !code.is_success() {
        return Err(format!("GET state of {id}: {code}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("GET state of {id}: {e}: {text}"))
}

async fn measure(
    url: &str,
    infs: u32,
    vms: u32,
    clients: u32,
    requests: u32,
) -> Result<Measured, String> {
    let client = reqwest::Client::new();
    let body = radl(vms);
    // 1. Create, 16 at a time, then wait until every one is configured.
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for _ in 0..infs {
        let (client, url, body, sem) = (client.clone(), url.to_string(), body.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.map_err(|e| e.to_string())?;
            let r = client
                .post(format!("{url}/infrastructures?async=yes"))
                .header("Authorization", AUTH)
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let code = r.status();
            let text = r.text().await.map_err(|e| e.to_string())?;
            if !code.is_success() {
                return Err(format!("POST /infrastructures: {code}: {text}"));
            }
            let id = text
                .trim()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let deadline = Instant::now() + Duration::from_secs(600);
            loop {
                let v = state_of(&client, &url, &id).await?;
                match v["state"]["state"].as_str() {
                    Some("configured") => {
                        let n = v["state"]["vm_states"]
                            .as_object()
                            .map_or(0, |m| m.values().filter(|s| *s == "configured").count());
                        if n != vms as usize {
                            return Err(format!("{id} configured with {n} VMs configured: {v}"));
                        }
                        return Ok(id);
                    }
                    Some("pending" | "running") => {}
                    _ => return Err(format!("{id} ended so: {v}")),
                }
                if Instant::now() > deadline {
                    return Err(format!("{id} not configured in 600 s: {v}"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.map_err(|e| e.to_string())??);
    }
    let create = start.elapsed();

    // 2. GET state from many clients at once.
    let ids = Arc::new(ids);
    let began = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (url, ids) = (url.to_string(), ids.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut lat = Vec::new();
            for j in 0..requests {
                let id = &ids[(k + j) as usize % ids.len()];
                let t = Instant::now();
                let v = state_of(&client, &url, id).await?;
                lat.push(t.elapsed());
                if v["state"]["state"] != "configured" {
                    return Err(format!("{id} is no longer configured: {v}"));
                }
            }
            Ok::<_, String>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.map_err(|e| e.to_string())??);
    }
    let wall = began.elapsed();
    lat.sort();
    let at = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];

    // Clean up, and check that nothing is left listed.
    for id in ids.iter() {
        let r = client
            .delete(format!("{url}/infrastructures/{id}"))
            .header("Authorization", AUTH)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("DELETE {id}: {}", r.status()));
        }
    }
    let left = client
        .get(format!("{url}/infrastructures"))
        .header("Authorization", AUTH)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_str(&left).map_err(|e| format!("{e}: {left}"))?;
    if v["uri-list"].as_array().is_some_and(|l| !l.is_empty()) {
        return Err(format!("infrastructures left after DELETE: {left}"));
    }
    Ok(Measured {
        create,
        p50: at(0.50),
        p99: at(0.99),
        rate: lat.len() as f64 / wall.as_secs_f64(),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() -> ExitCode {
    let im_ok = Command::new("python3")
        .args(["-c", "import IM.im_service"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !im_ok {
        return support::skip(
            BENCH,
            "IM 2.0 is not installed for python3 (scripts/install-test-deps.sh: pip install im==2.0.0)",
        );
    }
    let counts = (|| {
        Ok::<_, String>((
            support::env_count("NUBO_BENCH_INFS", support::by_mode(50, 3))?,
            support::env_count("NUBO_BENCH_VMS", support::by_mode(10, 2))?,
            support::env_count("NUBO_BENCH_CLIENTS", support::by_mode(100, 10))?,
            support::env_count("NUBO_BENCH_REQUESTS", support::by_mode(20, 5))?,
        ))
    })();
    let (infs, vms, clients, requests) = match counts {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = match tempfile::Builder::new()
        .prefix("nubo-bench-serve-")
        .tempdir()
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{BENCH}: cannot make a work directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let run = |start: fn(&Path) -> Result<Server, String>| -> Result<Measured, String> {
        let server = start(dir.path())?;
        println!("{BENCH}: {} at {}", server.name, server.url);
        let m = rt.block_on(measure(&server.url, infs, vms, clients, requests));
        drop(server);
        m
    };
    let nubo = match run(start_nubo) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{BENCH}: nubo serve: {e}");
            return ExitCode::FAILURE;
        }
    };
    let im = match run(start_im) {
        Ok(m) => m,
        Err(e) => {
            let log = std::fs::read_to_string(dir.path().join("im/im.log")).unwrap_or_default();
            eprintln!("{BENCH}: IM 2.0: {e}\nIM's log:\n{log}");
            return ExitCode::FAILURE;
        }
    };
    let ratio = |a: f64, b: f64| format!("{:.1}x", b / a);
    println!();
    println!(
        "{BENCH}: {infs} infrastructures x {vms} Dummy VMs, then GET state from {clients} clients x {requests}{}",
        if support::quick() {
            " (quick mode)"
        } else {
            ""
        }
    );
    println!("| measure | nubo serve | IM 2.0 | IM / nubo |");
    println!("|---|---:|---:|---:|");
    println!(
        "| create, wait until configured (wall) | {} | {} | {} |",
        ms(nubo.create),
        ms(im.create),
        ratio(nubo.create.as_secs_f64(), im.create.as_secs_f64())
    );
    println!(
        "| GET state p50 | {} | {} | {} |",
        ms(nubo.p50),
        ms(im.p50),
        ratio(nubo.p50.as_secs_f64(), im.p50.as_secs_f64())
    );
    println!(
        "| GET state p99 | {} | {} | {} |",
        ms(nubo.p99),
        ms(im.p99),
        ratio(nubo.p99.as_secs_f64(), im.p99.as_secs_f64())
    );
    println!(
        "| GET state calls/s | {:.0} | {:.0} | {} |",
        nubo.rate,
        im.rate,
        ratio(im.rate, nubo.rate)
    );
    let met = [
        im.create.as_secs_f64() / nubo.create.as_secs_f64(),
        im.p50.as_secs_f64() / nubo.p50.as_secs_f64(),
        im.p99.as_secs_f64() / nubo.p99.as_secs_f64(),
    ]
    .iter()
    .all(|r| *r >= 10.0);
    println!(
        "{BENCH}: target nubo at least 10x IM on each: {}",
        if met { "met" } else { "NOT met" }
    );
    ExitCode::SUCCESS
}
