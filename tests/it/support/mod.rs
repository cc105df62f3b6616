//! Small helpers shared by the integration tests.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The shared corpus (`../shared/corpus` beside the clone), when present.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip_or_fail("../shared/corpus is not present");
        None
    }
}

/// Every file under `corpus/<sub>` with one of the extensions, sorted.
pub fn corpus_files(sub: &str, exts: &[&str]) -> Vec<PathBuf> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut stack = vec![dir.join(sub)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| exts.iter().any(|e| x == *e)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A test that cannot run here says so; under `NUBO_REQUIRE_SYSTEM_TESTS=1`
/// (as in CI) that is a failure instead. Since libtest captures what a
/// passing test prints, the skip is also appended, as `TEST: WHY`, to the
/// file `NUBO_SKIP_LOG` names (`scripts/test.sh` sets it and lists the
/// skipped tests at its end).
pub fn skip_or_fail(why: &str) {
    if std::env::var("NUBO_REQUIRE_SYSTEM_TESTS").as_deref() == Ok("1") {
        panic!("required test could not run: {why}");
    }
    eprintln!("SKIPPED: {why}");
    if let Some(path) = std::env::var_os("NUBO_SKIP_LOG") {
        // libtest runs each test on a thread named after it.
        let thread = std::thread::current();
        let test = match thread.name() {
            Some(name) if name != "main" => name,
            _ => "(a test)",
        };
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            // One write per line: O_APPEND keeps parallel tests' lines whole.
            .and_then(|mut f| f.write_all(format!("{test}: {why}\n").as_bytes()));
        if let Err(e) = written {
            panic!(
                "cannot record the skip in NUBO_SKIP_LOG={}: {e}",
                Path::new(&path).display()
            );
        }
    }
}

/// A recipe context of the documented shape (recipes/README.md) for a
/// cluster `demo` of one front end and two working nodes, seen from
/// `wn-1`.
pub fn recipe_context() -> serde_json::Value {
    let node = |name: &str, system: &str, number: u32, ip: &str| {
        serde_json::json!({
            "name": name,
            "system": system,
            "number": number,
            "ip": ip,
            "addresses": [ip],
            "features": {"cpu.count": 2, "memory.size": 536870912},
        })
    };
    let front = node("front", "front", 0, "10.250.3.10");
    let wn1 = node("wn-1", "wn", 1, "10.250.3.11");
    let wn2 = node("wn-2", "wn", 2, "10.250.3.12");
    serde_json::json!({
        "cluster": {"name": "demo"},
        "node": wn1,
        "nodes": [front, wn1, wn2],
        "systems": {"front": [front], "wn": [wn1, wn2]},
        "system_features": {
            "front": {"cpu.count": 2, "memory.size": 536870912},
            "wn": {"cpu.count": 2, "memory.size": 536870912, "ec3_max_instances": 3},
        },
        "slots": {
            "front": {"names": ["front"], "min": 0, "max": 1},
            "wn": {"names": ["wn-1", "wn-2", "wn-3"], "min": 0, "max": 3},
        },
        "front": front,
        "vars": {"port": 8080},
        "ssh": {"public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKey nubo@demo"},
    })
}

pub mod local;
pub mod testcloud;

/// An SSH public key for requests to emulated clouds (never used to log in).
pub const TEST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5vdCBhIHJlYWwga2V5 nubo";

/// A provider request for the first system of `radl_text`.
pub fn vm_request(
    radl_text: &str,
    cluster: &str,
    node: &str,
    token: &str,
) -> nubo::provider::VmRequest {
    let v = nubo::radl::validate(nubo::source::FileId(0), radl_text);
    assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
    let (spec, diags) = nubo::model::lower(&v.document);
    assert!(diags.is_empty());
    let system = spec.systems[0].clone();
    let networks = spec.networks_of(&system);
    assert_eq!(
        networks.len(),
        system.interfaces.len(),
        "every network is declared"
    );
    nubo::provider::VmRequest {
        cluster: cluster.into(),
        node: node.into(),
        number: 0,
        token: token.into(),
        system,
        networks,
        public_key: TEST_KEY.into(),
    }
}

/// The `nubo` binary run in `dir`: its state, local-provider root and
/// user config all under `dir`, no crash point armed.
pub fn nubo_in(dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nubo"));
    c.env("NUBO_HOME", dir.join("state"))
        .env("NUBO_LOCAL_ROOT", dir.join("local"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("NUBO_TEST_KILL_AT")
        .current_dir(dir);
    c
}
#[cfg(feature = "ec2")]
pub mod moto;

/// A command's standard output; panics with `what`, the status and both
/// outputs unless it succeeded.
pub fn stdout_of(what: &str, out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
