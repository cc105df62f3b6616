//! `nubo serve`, IM's REST API, driven from outside as its users drive it:
//! the unmodified `im_client` of im-client 1.8.4 (PyPI) against the Dummy
//! provider; raw HTTP for every refusal (401, 403, 404, 400 naming
//! line:column, 415, 413) with the server still answering afterwards and
//! nothing made; a restart that keeps the infrastructures; and (root,
//! under `flock /var/tmp/nubo-system-tests.lock` with
//! `NUBO_REQUIRE_SYSTEM_TESTS=1`) a two-node cluster on the local provider
//! made, configured and destroyed through the API with nothing left.

use crate::support::skip_or_fail;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nubo serve` on 127.0.0.1 at a port the system chose, killed when
/// dropped.
struct Serve {
    child: Child,
    url: String,
}

impl Serve {
    fn start(state: &Path, local_root: &Path) -> Serve {
        Serve::start_with(state, local_root, &[])
    }

    fn start_with(state: &Path, local_root: &Path, env: &[(&str, &str)]) -> Serve {
        Serve::start_full(state, local_root, env, &[])
    }

    fn start_full(state: &Path, local_root: &Path, env: &[(&str, &str)], args: &[&Path]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nubo"))
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state)
            .arg("--local-root")
            .arg(local_root)
            .args(args)
            .env("NUBO_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nubo serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(u) = line.strip_prefix("nubo serve: listening on ") {
                url = Some(u.to_string());
                break;
            }
            eprintln!("serve: {line}");
        }
        // Keep draining its standard error so it never blocks on it.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("serve: {line}");
            }
        });
        Serve {
            child,
            url: url.expect("nubo serve says where it listens"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

const RADL: &str = "description d (name = 'alices-cluster')
network publica (outbound = 'yes')
network privada ()
system front (
  cpu.count >= 1 and memory.size >= 512m and
  net_interface.0.connection = 'publica' and
  net_interface.1.connection = 'privada' and
  disk.0.image.url = 'one://one.example.org/12' and
  disk.0.os.name = 'linux'
)
system wn (
  net_interface.0.connection = 'privada' and
  disk.0.os.name = 'linux'
)
configure wn (
@begin
- shell: echo configured
@end
)
deploy front 1
deploy wn 2
";

/// A TOSCA template with normative types only (no import to fetch): a
/// front-end with a public endpoint, two workers, and an output.
const TOSCA: &str = "tosca_definitions_version: tosca_simple_yaml_1_0
description: a front-end and two workers
topology_template:
  inputs:
    wn_num:
      type: integer
      default: 2
  node_templates:
    front:
      type: tosca.nodes.Compute
      capabilities:
        host:
          properties:
            num_cpus: 1
            mem_size: 1 GB
        os:
          properties:
            type: linux
        endpoint:
          properties:
            network_name: PUBLIC
    wn:
      type: tosca.nodes.Compute
      capabilities:
        scalable:
          properties:
            default_instances: { get_input: wn_num }
        os:
          properties:
            type: linux
  outputs:
    front_ip:
      value: { get_attribute: [ front, public_address ] }
";

const ALICE: &str =
    "type = InfrastructureManager; username = alice; password = 'a=1'\nid = dummy; type = Dummy\n";
/// As ec3 and im_client send ALICE's file.
const ALICE_HEADER: &str =
    "type = InfrastructureManager;username = alice;password = a=1;\\nid = dummy;type = Dummy;\\n";
const BOB_HEADER: &str =
    "type = InfrastructureManager; username = bob; password = b\\nid = dummy; type = Dummy";

fn has_im_client() -> bool {
    let ok = Command::new("im_client")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip_or_fail("no im_client: scripts/install-test-deps.sh installs im-client 1.8.4");
    }
    ok
}

struct Client {
    url: String,
    auth: PathBuf,
    /// HTTPS: `--verify-ssl`, trusting the certificates in this file
    /// (`REQUESTS_CA_BUNDLE`).
    trust: Option<PathBuf>,
}

impl Client {
    fn new(url: &str, auth: PathBuf) -> Client {
        Client {
            url: url.to_string(),
            auth,
            trust: None,
        }
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        let mut cmd = Command::new("im_client");
        cmd.arg("-r").arg(&self.url);
        if let Some(ca) = &self.trust {
            cmd.arg("--verify-ssl").env("REQUESTS_CA_BUNDLE", ca);
        }
        let out = cmd
            .arg("-a")
            .arg(&self.auth)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run im_client");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.run(args);
        assert!(ok, "im_client {args:?} failed:\n{text}");
        text
    }

    fn wait_state(&self, id: &str, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = self.ok(&["getstate", id]);
            if text.contains(&format!("The infrastructure is in state: {want}")) {
                return text;
            }
            assert!(Instant::now() < deadline, "never {want}:\n{text}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn created_id(text: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix("Infrastructure successfully created with ID: "))
        .unwrap_or_else(|| panic!("no id in:\n{text}"))
        .trim()
        .to_string()
}

fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn im_client_drives_the_dummy_provider() {
    if !has_im_client() {
        return;
    }
    let dir = workdir();
    let state = dir.path().join("state");
    let server = Serve::start(&state, &dir.path().join("local"));
    std::fs::write(dir.path().join("auth.dat"), ALICE).unwrap();
    std::fs::write(dir.path().join("infra.radl"), RADL).unwrap();
    let c = Client::new(&server.url, dir.path().join("auth.dat"));
    let radl = dir.path().join("infra.radl");
    let id = created_id(&c.ok(&["create", radl.to_str().unwrap()]));
    let state_text = c.wait_state(&id, "configured");
    for vm in 0..3 {
        assert!(
            state_text.contains(&format!("VM ID: {vm} is in state: configured.")),
            "{state_text}"
        );
    }
    // The CLI sees the infrastructure as a cluster named by its id.
    let listed = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["list", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&id));

    let info = c.ok(&["getinfo", &id]);
    assert!(info.contains("system front"), "{info}");
    assert!(info.contains("provider.type = 'Dummy'"), "{info}");
    assert!(
        info.contains("disk.0.image.url = 'one://one.example.org/12'"),
        "{info}"
    );
    assert!(info.contains("net_interface.0.ip = '192.0.2.1'"), "{info}");
    assert_eq!(info.matches("system wn").count(), 2, "{info}");
    let ip = c.ok(&["getvminfo", &id, "0", "net_interface.0.ip"]);
    assert!(ip.contains("192.0.2.1"), "{ip}");
    let msg = c.ok(&["getcontmsg", &id]);
    assert!(msg.contains("VM 2:"), "{msg}");
    assert!(msg.contains("step 0 of wn (ok)"), "{msg}");
    let radl_back = c.ok(&["getradl", &id]);
    assert!(radl_back.contains("deploy wn 2"), "{radl_back}");
    let listed = c.ok(&["list"]);
    assert!(listed.contains(&id), "{listed}");
    // `list -n`: the names from each description's `description`.
    let named = c.ok(&["list", "-n"]);
    assert!(
        named
            .lines()
            .any(|l| l.contains(&id) && l.contains("alices-cluster")),
        "{named}"
    );
    let filtered = c.ok(&["list", "nobody-has-this-name"]);
    assert!(!filtered.contains(&id), "{filtered}");

    // addresource: IM's `deploy wn 1` is one more VM.
    std::fs::write(
        dir.path().join("add.radl"),
        "network privada\nsystem wn\ndeploy wn 1\n",
    )
    .unwrap();
    let added = c.ok(&[
        "addresource",
        &id,
        dir.path().join("add.radl").to_str().unwrap(),
    ]);
    assert!(
        added.contains("Resources with IDs: 3 successfully added."),
        "{added}"
    );
    let st = c.wait_state(&id, "configured");
    assert!(st.contains("VM ID: 3 is in state: configured."), "{st}");
    // removeresource: only the last VMs of a system (im_client prints the
    // refusal it got); then VM 3 goes.
    let refused = c.ok(&["removeresource", &id, "1"]);
    assert!(refused.contains("remove 3 instead"), "{refused}");
    c.ok(&["removeresource", &id, "3"]);
    let st = c.wait_state(&id, "configured");
    assert!(
        st.contains("VM ID: 2 is in state") && !st.contains("VM ID: 3"),
        "{st}"
    );

    c.ok(&["stop", &id]);
    c.wait_state(&id, "stopped");
    c.ok(&["start", &id]);
    c.wait_state(&id, "configured");
    // One VM at a time.
    c.ok(&["stopvm", &id, "1"]);
    let st = c.ok(&["getstate", &id]);
    assert!(st.contains("VM ID: 1 is in state: stopped."), "{st}");
    assert!(st.contains("VM ID: 2 is in state: configured."), "{st}");
    c.ok(&["startvm", &id, "1"]);
    c.ok(&["rebootvm", &id, "2"]);
    c.wait_state(&id, "configured");
    c.ok(&["reconfigure", &id]);
    c.wait_state(&id, "configured");
    let version = c.ok(&["getversion"]);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");

    // Owners: bob has no access until alice adds him; with overwrite he
    // is the only owner, and gives it back the same way.
    std::fs::write(
        dir.path().join("bob.dat"),
        "type = InfrastructureManager; username = bob; password = b\nid = dummy; type = Dummy\n",
    )
    .unwrap();
    let bob = Client::new(&server.url, dir.path().join("bob.dat"));
    let (ok, text) = bob.run(&["getstate", &id]);
    assert!(!ok && text.contains("not granted"), "{text}");
    c.ok(&[
        "change_auth",
        &id,
        dir.path().join("bob.dat").to_str().unwrap(),
    ]);
    bob.ok(&["getstate", &id]);
    assert!(bob.ok(&["list"]).contains(&id));
    c.ok(&["getstate", &id]);
    c.ok(&[
        "change_auth",
        &id,
        dir.path().join("bob.dat").to_str().unwrap(),
        "1",
    ]);
    let (ok, text) = c.run(&["getstate", &id]);
    assert!(!ok && text.contains("not granted"), "{text}");
    bob.ok(&[
        "change_auth",
        &id,
        dir.path().join("auth.dat").to_str().unwrap(),
        "1",
    ]);
    c.ok(&["getstate", &id]);
    let (ok, _) = bob.run(&["getstate", &id]);
    assert!(!ok);

    // export with delete: forgotten here, its records handed out whole;
    // import: the same id back, the same VMs and state.
    let exported = c.ok(&["export", &id, "1"]);
    let data = exported
        .lines()
        .skip_while(|l| !l.starts_with('"'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!data.is_empty(), "{exported}");
    assert!(
        !data.contains("Dummy"),
        "the cloud credentials do not travel: {data}"
    );
    let (ok, text) = c.run(&["getstate", &id]);
    assert!(!ok && text.contains("Invalid infrastructure ID"), "{text}");
    std::fs::write(dir.path().join("export.json"), &data).unwrap();
    let export_path = dir.path().join("export.json");
    let imported = c.ok(&["import", export_path.to_str().unwrap()]);
    assert!(imported.contains(&format!("New Inf: {id}")), "{imported}");
    let st = c.wait_state(&id, "configured");
    assert!(st.contains("VM ID: 2 is in state: configured."), "{st}");
    // Twice: the id is taken; something else than an export: refused.
    let (ok, again) = c.run(&["import", export_path.to_str().unwrap()]);
    assert!(!ok && again.contains("already on this server"), "{again}");
    std::fs::write(dir.path().join("im.json"), r#"{"id": "x", "vm_list": []}"#).unwrap();
    let (ok, foreign) = c.run(&["import", dir.path().join("im.json").to_str().unwrap()]);
    assert!(
        !ok && foreign.contains("not an infrastructure exported by nubo"),
        "{foreign}"
    );

    // TOSCA: created from the template, its outputs evaluated, its RADL
    // the lowered one.
    std::fs::write(dir.path().join("infra.yaml"), TOSCA).unwrap();
    let tid = created_id(&c.ok(&["create", dir.path().join("infra.yaml").to_str().unwrap()]));
    let st = c.wait_state(&tid, "configured");
    assert!(st.contains("VM ID: 2 is in state: configured."), "{st}");
    let outputs = c.ok(&["getoutputs", &tid]);
    assert!(outputs.contains("front_ip = 192.0.2."), "{outputs}");
    let lowered = c.ok(&["getradl", &tid]);
    assert!(
        lowered.contains("system front") && lowered.contains("deploy wn 2"),
        "{lowered}"
    );
    // A RADL infrastructure has no outputs (403; im_client prints nothing).
    let (ok, text) = c.run(&["getoutputs", &id]);
    assert!(!ok, "{text}");
    c.ok(&["-y", "destroy", &tid]);

    c.ok(&["-y", "destroy", &id]);
    let listed = c.ok(&["list"]);
    assert!(!listed.contains(&id), "{listed}");
    let (ok, text) = c.run(&["getstate", &id]);
    assert!(!ok && text.contains("Invalid infrastructure ID"), "{text}");
    let listed = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["list", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&listed.stdout).contains(&id));
}

/// A self-signed certificate for `cn` (valid for 127.0.0.1) and its key,
/// by openssl; false when openssl cannot make one.
fn self_signed(cn: &str, cert: &Path, key: &Path) -> bool {
    Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", &format!("/CN={cn}"), "-addext"])
        .arg("subjectAltName=IP:127.0.0.1")
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `nubo serve --tls-cert --tls-key`: the unmodified im_client with
/// `--verify-ssl` (requests checks the certificate against the CA bundle
/// it is given) creates, reads and destroys over HTTPS; without the
/// certificate among its CAs the same client is refused by the TLS
/// check; plain HTTP on the HTTPS port gets no answer, and the server
/// keeps serving.
#[test]
fn im_client_drives_nubo_serve_over_https() {
    if !has_im_client() {
        return;
    }
    let dir = workdir();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    if !self_signed("localhost", &cert, &key) {
        skip_or_fail("openssl cannot make a test certificate");
        return;
    }
    let server = Serve::start_full(
        &dir.path().join("state"),
        &dir.path().join("local"),
        &[],
        &[Path::new("--tls-cert"), &cert, Path::new("--tls-key"), &key],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    std::fs::write(dir.path().join("auth.dat"), ALICE).unwrap();
    std::fs::write(dir.path().join("infra.radl"), RADL).unwrap();
    let c = Client {
        trust: Some(cert.clone()),
        ..Client::new(&server.url, dir.path().join("auth.dat"))
    };
    assert!(c.ok(&["getversion"]).contains(env!("CARGO_PKG_VERSION")));
    let radl = dir.path().join("infra.radl");
    let id = created_id(&c.ok(&["create", radl.to_str().unwrap()]));
    c.wait_state(&id, "configured");

    // A client that does not trust the certificate stops at the TLS check.
    let other = dir.path().join("other.pem");
    assert!(self_signed(
        "someone-else",
        &other,
        &dir.path().join("other.key")
    ));
    let untrusting = Client {
        trust: Some(other),
        ..Client::new(&server.url, dir.path().join("auth.dat"))
    };
    let (trusted, text) = untrusting.run(&["list"]);
    assert!(
        !trusted,
        "a client without the certificate got through:\n{text}"
    );
    assert!(text.contains("CERTIFICATE_VERIFY_FAILED"), "{text}");

    // Plain HTTP on the HTTPS port: no HTTP answer.
    let port = server.url.rsplit(':').next().unwrap();
    let mut plain = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    use std::io::{Read, Write};
    plain
        .write_all(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1 200"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&got)
    );

    c.ok(&["-y", "destroy", &id]);
    assert!(!c.ok(&["list"]).contains(&id));
}

/// `nubo serve` refuses certificate and key files that will not do,
/// naming the file, before it listens.
#[test]
fn bad_tls_files_are_named_before_listening() {
    let dir = workdir();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--tls-cert")
        .arg(&junk)
        .arg("--tls-key")
        .arg(&junk)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{}: no PEM certificate", junk.display())),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}

/// `POST /infrastructures?dry_run=yes` answers what the description would
/// ask of each cloud (IM's EstimateResouces form: one `compute` entry per
/// VM, one `storage` entry per sized disk) and makes nothing; a bad
/// description gets the same 400 as a create.
#[test]
fn a_dry_run_create_estimates_and_makes_nothing() {
    let dir = workdir();
    let state = dir.path().join("state");
    let server = Serve::start(&state, &dir.path().join("local"));
    let u = &server.url;
    let radl = RADL.replace(
        "cpu.count >= 1 and memory.size >= 512m and",
        "cpu.count >= 2 and memory.size >= 2g and disk.0.size = 20g and disk.1.size = 100g and",
    );
    let alice = [("Authorization", ALICE_HEADER)];
    let (code, text) = request(
        u,
        "POST",
        "/infrastructures?dry_run=yes",
        &alice,
        radl.into_bytes(),
    );
    assert_eq!(code, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let dummy = &v["dummy"];
    assert_eq!(dummy["cloudType"], "Dummy", "{v}");
    let compute = dummy["compute"].as_array().unwrap();
    assert_eq!(compute.len(), 3, "{v}");
    assert_eq!(
        compute[0],
        serde_json::json!({"cpuCores": 2, "memoryInMegabytes": 2000,
            "diskSizeInGigabytes": 20, "publicIP": 1}),
        "{v}"
    );
    assert_eq!(
        compute[1],
        serde_json::json!({"cpuCores": null, "memoryInMegabytes": null})
    );
    assert_eq!(
        dummy["storage"],
        serde_json::json!([{"sizeInGigabytes": 20}, {"sizeInGigabytes": 100}]),
        "{v}"
    );

    let (code, text) = request(
        u,
        "POST",
        "/infrastructures?dry_run=yes",
        &alice,
        b"system front (cpu.count >= )\ndeploy front 1\n".to_vec(),
    );
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("body:1:"), "{text}");

    // Nothing was made.
    let (code, text) = request(u, "GET", "/infrastructures", &alice, vec![]);
    assert_eq!(code, 200);
    assert_eq!(text.trim(), "", "{text}");
    let listed = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["list", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains('-'),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
}

/// One raw request: status and body.
fn request(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client.request(method.parse().unwrap(), format!("{url}{path}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.body(body).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (status, resp.text().await.unwrap_or_default())
            }
            // A server that refuses a huge body may close before reading it.
            Err(e) => (0, e.to_string()),
        }
    })
}

/// (method, path, headers, body, the code, a part of the message)
type Case<'a> = (
    &'a str,
    String,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    u16,
    &'a str,
);

#[test]
fn refusals_get_imss_codes_and_clear_messages_and_make_nothing() {
    let dir = workdir();
    let state = dir.path().join("state");
    let server = Serve::start(&state, &dir.path().join("local"));
    let u = server.url.as_str();
    let alice = [("Authorization", ALICE_HEADER)];
    let (code, body) = request(u, "POST", "/infrastructures?async=yes", &alice, RADL.into());
    assert_eq!(code, 200, "{body}");
    let id = body.rsplit('/').next().unwrap().trim().to_string();
    let inf = format!("/infrastructures/{id}");

    // (method, path, headers, body, code, a part of the message)
    let huge = vec![b'#'; 10 << 20];
    let long_name = "x".repeat(300);
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/infrastructures".into(),
            vec![],
            vec![],
            401,
            "No authentication data provided",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![],
            RADL.into(),
            401,
            "No authentication data provided",
        ),
        (
            "GET",
            inf.clone(),
            vec![],
            vec![],
            401,
            "No authentication data provided",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![("Authorization", "id = d; type = Dummy")],
            vec![],
            401,
            "No credentials provided for the InfrastructureManager",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![(
                "Authorization",
                "type = InfrastructureManager; username = a; password = b\\nid = d; type Dummy",
            )],
            vec![],
            401,
            "Authorization header:2:",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![(
                "Authorization",
                "type = InfrastructureManager; username = a",
            )],
            vec![],
            401,
            "needs `username` and `password`",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![(
                "Authorization",
                "type = InfrastructureManager; username = a; password = file(/etc/shadow)",
            )],
            vec![],
            401,
            "file(...)",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![("Authorization", "Basic !!")],
            vec![],
            401,
            "base64",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![("Authorization", "[{\"type\": \"InfrastructureManager\", ")],
            vec![],
            401,
            "invalid JSON",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![("Authorization", "type = Nope; username = a")],
            vec![],
            401,
            "expected one of",
        ),
        (
            "GET",
            inf.clone(),
            vec![("Authorization", BOB_HEADER)],
            vec![],
            403,
            "not granted",
        ),
        (
            "GET",
            format!("{inf}/state"),
            vec![("Authorization", BOB_HEADER)],
            vec![],
            403,
            "not granted",
        ),
        (
            "DELETE",
            inf.clone(),
            vec![("Authorization", BOB_HEADER)],
            vec![],
            403,
            "not granted",
        ),
        (
            "PUT",
            format!("{inf}/stop"),
            vec![("Authorization", BOB_HEADER)],
            vec![],
            403,
            "not granted",
        ),
        (
            "GET",
            "/infrastructures/00000000-0000-4000-8000-000000000000".into(),
            alice.to_vec(),
            vec![],
            404,
            "Invalid infrastructure ID",
        ),
        (
            "DELETE",
            "/infrastructures/nope".into(),
            alice.to_vec(),
            vec![],
            404,
            "Invalid infrastructure ID",
        ),
        (
            "GET",
            format!("/infrastructures/{long_name}/state"),
            alice.to_vec(),
            vec![],
            404,
            "Invalid infrastructure ID",
        ),
        (
            "GET",
            format!("{inf}/vms/7"),
            alice.to_vec(),
            vec![],
            404,
            "no such VM",
        ),
        (
            "GET",
            format!("{inf}/vms/x"),
            alice.to_vec(),
            vec![],
            404,
            "VM ids are numbers",
        ),
        (
            "GET",
            format!("{inf}/vms/0/no.such.feature"),
            alice.to_vec(),
            vec![],
            404,
            "no such feature",
        ),
        (
            "GET",
            format!("{inf}/nonsense"),
            alice.to_vec(),
            vec![],
            404,
            "Incorrect infrastructure property",
        ),
        (
            "PUT",
            format!("{inf}/explode"),
            alice.to_vec(),
            vec![],
            404,
            "Incorrect infrastructure operation",
        ),
        (
            "GET",
            "/nothing/here".into(),
            alice.to_vec(),
            vec![],
            404,
            "no such resource",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            b"system front (cpu.count >= )\ndeploy front 1\n".to_vec(),
            400,
            "body:1:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            b"network n ()\nsystem s (net_interface.0.connection = 'n')\ndeploy s 1\ndeploy t 1\n"
                .to_vec(),
            400,
            "body:4:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            b"system s (\ndisk.0.os.name = 'linux'\n".to_vec(),
            400,
            "body:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            b"configure c (\n@begin\n- shell: [\n@end\n)\n".to_vec(),
            400,
            "body:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            vec![0xff, 0xfe, 0x00],
            400,
            "not UTF-8",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            b"include x (template = '/etc/passwd')\n".to_vec(),
            400,
            "by name only",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            b"system s ()\nconfigure s (\n@begin\n- include: ../../../etc/shadow\n@end\n)\ndeploy s 1\n".to_vec(),
            400,
            "body:4:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![(
                "Authorization",
                "type = InfrastructureManager; username = a; password = b",
            )],
            RADL.into(),
            400,
            "no cloud credential",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![(
                "Authorization",
                "type = InfrastructureManager; username = a; password = b\\nid = one; type = OpenNebula",
            )],
            RADL.into(),
            400,
            "OpenNebula",
        ),
        (
            "POST",
            "/infrastructures?async=maybe".into(),
            alice.to_vec(),
            RADL.into(),
            400,
            "async",
        ),
        (
            "PUT",
            format!("{inf}/reconfigure?vm_list=1,x"),
            alice.to_vec(),
            vec![],
            400,
            "Incorrect vm_list",
        ),
        (
            "PUT",
            format!("{inf}/reconfigure?vm_list="),
            alice.to_vec(),
            vec![],
            400,
            "Incorrect vm_list",
        ),
        (
            "GET",
            format!("{inf}/contmsg?headeronly=perhaps"),
            alice.to_vec(),
            vec![],
            400,
            "headeronly",
        ),
        (
            "GET",
            "/infrastructures?filter=(".into(),
            alice.to_vec(),
            vec![],
            400,
            "Invalid filter",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "image/png")],
            RADL.into(),
            415,
            "Unsupported Media Type",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "application/json")],
            b"[]".to_vec(),
            415,
            "RADL in JSON",
        ),
        (
            "GET",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Accept", "image/png")],
            vec![],
            415,
            "Unsupported Accept",
        ),
        (
            "GET",
            format!("{inf}/state"),
            vec![ALICE_PAIR, ("Accept", "text/plain")],
            vec![],
            415,
            "JSON only",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            huge,
            413,
            "",
        ),
        (
            "POST",
            "/infrastructures".into(),
            alice.to_vec(),
            TOSCA.into(),
            400,
            "Content-Type text/yaml",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "text/yaml")],
            RADL.into(),
            400,
            "not a TOSCA template",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "text/yaml")],
            format!("{TOSCA}imports:\n  - file:///etc/passwd\n").into_bytes(),
            400,
            "body:35:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "text/yaml")],
            TOSCA.replace("type: tosca.nodes.Compute\n      capabilities:\n        host", "type: tosca.nodes.Nope\n      capabilities:\n        host").into_bytes(),
            400,
            "body:10:",
        ),
        (
            "POST",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "text/yaml")],
            TOSCA.replace("    wn:\n      type: tosca.nodes.Compute\n", "    wn:\n      type: tosca.nodes.Compute\n      interfaces:\n        Standard:\n          create: /etc/shadow\n").into_bytes(),
            400,
            "URLs only",
        ),
        (
            "PUT",
            "/infrastructures".into(),
            alice.to_vec(),
            b"{not json".to_vec(),
            400,
            "incorrect data",
        ),
        (
            "PUT",
            "/infrastructures".into(),
            alice.to_vec(),
            br#"{"id": "f0", "vm_list": [], "radl": "system s ()"}"#.to_vec(),
            400,
            "not an infrastructure exported by nubo",
        ),
        (
            "PUT",
            "/infrastructures".into(),
            alice.to_vec(),
            br#"{"nubo_export": 1, "cluster": {"name": "../../x"}, "tables": {"vms": []}}"#.to_vec(),
            400,
            "invalid cluster name",
        ),
        (
            "PUT",
            "/infrastructures".into(),
            alice.to_vec(),
            br#"{"nubo_export": 1, "cluster": {"name": "f1", "bogus": 1}, "tables": {"vms": []}}"#.to_vec(),
            400,
            "no column `bogus`",
        ),
        (
            "PUT",
            "/infrastructures".into(),
            alice.to_vec(),
            br#"{"nubo_export": 1, "cluster": {"name": "f2"}, "tables": {"vms": [{"node": "s-1", "provider": "elsewhere", "state": "running"}]}}"#.to_vec(),
            400,
            "id = elsewhere",
        ),
        (
            "PUT",
            "/infrastructures".into(),
            vec![ALICE_PAIR, ("Content-Type", "text/plain")],
            b"{}".to_vec(),
            415,
            "application/json",
        ),
        (
            "GET",
            format!("{inf}/data"),
            vec![("Authorization", BOB_HEADER)],
            vec![],
            403,
            "not granted",
        ),
        (
            "GET",
            format!("{inf}/data?delete=soon"),
            alice.to_vec(),
            vec![],
            400,
            "delete",
        ),
        (
            "GET",
            format!("{inf}/tosca"),
            alice.to_vec(),
            vec![],
            403,
            "made from TOSCA",
        ),
        (
            "POST",
            format!("{inf}/authorization"),
            alice.to_vec(),
            b"username = bob".to_vec(),
            400,
            "Invalid new infrastructure data",
        ),
        (
            "POST",
            format!("{inf}/authorization"),
            alice.to_vec(),
            br#"{"type": "OpenNebula", "username": "x", "password": "y"}"#.to_vec(),
            400,
            "not InfrastructureManager",
        ),
        (
            "POST",
            format!("{inf}/authorization"),
            vec![ALICE_PAIR, ("Content-Type", "text/plain")],
            br#"{"username": "x", "password": "y"}"#.to_vec(),
            415,
            "application/json",
        ),
        (
            "POST",
            format!("{inf}/authorization"),
            vec![("Authorization", BOB_HEADER)],
            br#"{"username": "bob", "password": "b"}"#.to_vec(),
            403,
            "not granted",
        ),
        (
            "POST",
            format!("{inf}/radl"),
            alice.to_vec(),
            vec![],
            404,
            "Not found",
        ),
    ];
    assert!(cases.len() >= 30);
    for (method, path, headers, body, want, part) in cases {
        let (code, text) = request(u, method, &path, &headers, body);
        // A 10 MB body may be cut off by the server before it is all sent.
        if want == 413 && code == 0 {
            continue;
        }
        assert_eq!(code, want, "{method} {path}: {text}");
        assert!(
            text.contains(part),
            "{method} {path}: {code} {text:?} lacks {part:?}"
        );
    }

    // JSON clients get IM's JSON error body.
    let (code, text) = request(
        u,
        "GET",
        "/infrastructures/nope",
        &[ALICE_PAIR, ("Accept", "application/json")],
        vec![],
    );
    assert_eq!(code, 404);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["code"], 404);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Invalid infrastructure ID")
    );

    // Nothing was made by the refusals: alice has her one infrastructure,
    // bob none, the state directory one cluster; the server still answers.
    let (code, text) = request(u, "GET", "/infrastructures", &alice, vec![]);
    assert_eq!(code, 200);
    assert_eq!(text.lines().count(), 1, "{text}");
    let (_, text) = request(
        u,
        "GET",
        "/infrastructures",
        &[("Authorization", BOB_HEADER)],
        vec![],
    );
    assert_eq!(text.trim(), "", "bob sees nothing");
    let clusters = nubo::state::StateStore::open(&state)
        .unwrap()
        .clusters()
        .unwrap();
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert_eq!(std::fs::read_dir(state.join("serve")).unwrap().count(), 1);
    assert_eq!(request(u, "GET", "/version", &[], vec![]).0, 200);
    // ec3's default URL ends in `/`: `//infrastructures` is served.
    assert_eq!(
        request(u, "GET", "//infrastructures", &alice, vec![]).0,
        200
    );
    assert_eq!(request(u, "DELETE", &inf, &alice, vec![]).0, 200);
}

const ALICE_PAIR: (&str, &str) = ("Authorization", ALICE_HEADER);

#[test]
fn a_restarted_server_keeps_its_infrastructures() {
    let dir = workdir();
    let state = dir.path().join("state");
    let local = dir.path().join("local");
    let mut first = Serve::start(&state, &local);
    let (code, body) = request(
        &first.url,
        "POST",
        "/infrastructures",
        &[ALICE_PAIR],
        RADL.into(),
    );
    assert_eq!(code, 200, "{body}");
    let id = body.rsplit('/').next().unwrap().trim().to_string();
    first.kill();
    let second = Serve::start(&state, &local);
    let (code, list) = request(
        &second.url,
        "GET",
        "/infrastructures",
        &[ALICE_PAIR],
        vec![],
    );
    assert_eq!(code, 200);
    assert!(list.contains(&id), "{list}");
    let (code, st) = request(
        &second.url,
        "GET",
        &format!("/infrastructures/{id}/state"),
        &[ALICE_PAIR],
        vec![],
    );
    assert_eq!(code, 200, "{st}");
    assert!(st.contains("\"state\":\"configured\""), "{st}");
    let (code, _) = request(
        &second.url,
        "GET",
        &format!("/infrastructures/{id}"),
        &[("Authorization", BOB_HEADER)],
        vec![],
    );
    assert_eq!(code, 403, "ownership survives the restart");
    assert_eq!(
        request(
            &second.url,
            "DELETE",
            &format!("/infrastructures/{id}"),
            &[ALICE_PAIR],
            vec![]
        )
        .0,
        200
    );
}

/// Root: two nodes on the local provider through the API, configured,
/// then destroyed with nothing left on the host.
#[test]
fn the_local_provider_through_the_api() {
    use crate::support::local;
    if !local::can_run() {
        return;
    }
    let _serial = local::SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = workdir();
    let state = dir.path().join("state");
    let root = dir.path().join("local");
    std::fs::create_dir_all(&root).unwrap();
    let server = Serve::start(&state, &root);
    let auth =
        "type = InfrastructureManager;username = u;password = p;\\nid = local;type = Local;\\n";
    let radl = "network private ()
system front (
  net_interface.0.connection = 'private' and net_interface.0.dns_name = 'front' and
  disk.0.image.url = 'local://' and disk.0.os.name = 'linux'
)
system wn (
  net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and
  disk.0.image.url = 'local://' and disk.0.os.name = 'linux'
)
configure wn (
@begin
- shell: echo configured > /etc/api-marker
@end
)
deploy front 1
deploy wn 1
";
    let h = [("Authorization", auth)];
    let (code, body) = request(&server.url, "POST", "/infrastructures", &h, radl.into());
    assert_eq!(code, 200, "{body}");
    let id = body.rsplit('/').next().unwrap().trim().to_string();
    let (_, st) = request(
        &server.url,
        "GET",
        &format!("/infrastructures/{id}/state"),
        &h,
        vec![],
    );
    assert!(
        st.contains(
            "{\"state\":\"configured\",\"vm_states\":{\"0\":\"configured\",\"1\":\"configured\"}}"
        ),
        "{st}"
    );
    let (_, info) = request(
        &server.url,
        "GET",
        &format!("/infrastructures/{id}/vms/1"),
        &h,
        vec![],
    );
    assert!(info.contains("provider.type = 'Local'"), "{info}");
    assert!(!local::traces(&id, &root, &local::netns_inodes(&id)).is_empty());
    let (code, text) = request(
        &server.url,
        "DELETE",
        &format!("/infrastructures/{id}"),
        &h,
        vec![],
    );
    assert_eq!(code, 200, "{text}");
    drop(server);
    let left = local::traces(&id, &root, &local::netns_inodes(&id));
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(
        nubo::state::StateStore::open(&state)
            .unwrap()
            .clusters()
            .unwrap()
            .is_empty()
    );
}

/// Root: `nubo serve` killed (SIGKILL) during a create on the local
/// provider, just after a VM was made and before it was recorded; the
/// restarted server still lists the infrastructure, and its DELETE
/// removes everything, the VM made before the kill included.
#[test]
fn a_server_killed_during_a_create_leaves_nothing_untracked() {
    use crate::support::local;
    if !local::can_run() {
        return;
    }
    let _serial = local::SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = workdir();
    let state = dir.path().join("state");
    let root = dir.path().join("local");
    std::fs::create_dir_all(&root).unwrap();
    let auth =
        "type = InfrastructureManager;username = u;password = p;\\nid = local;type = Local;\\n";
    let h = [("Authorization", auth)];
    let radl = "network private ()
system node (
  net_interface.0.connection = 'private' and
  disk.0.image.url = 'local://' and disk.0.os.name = 'linux'
)
deploy node 1
";
    let mut first = Serve::start_with(&state, &root, &[("NUBO_TEST_KILL_AT", "vm-created")]);
    let (code, _) = request(&first.url, "POST", "/infrastructures", &h, radl.into());
    assert_eq!(code, 0, "the server was killed before it answered");
    let status = first.child.wait().unwrap();
    assert!(!status.success(), "killed: {status:?}");
    let second = Serve::start(&state, &root);
    let (code, list) = request(&second.url, "GET", "/infrastructures", &h, vec![]);
    assert_eq!(code, 200, "{list}");
    let uri = list
        .lines()
        .next()
        .expect("the infrastructure is still listed");
    let id = uri.rsplit('/').next().unwrap().to_string();
    assert!(
        !local::traces(&id, &root, &local::netns_inodes(&id)).is_empty(),
        "the kill left a node made"
    );
    let (code, text) = request(
        &second.url,
        "DELETE",
        &format!("/infrastructures/{id}"),
        &h,
        vec![],
    );
    assert_eq!(code, 200, "{text}");
    drop(second);
    let left = local::traces(&id, &root, &local::netns_inodes(&id));
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(
        nubo::state::StateStore::open(&state)
            .unwrap()
            .clusters()
            .unwrap()
            .is_empty()
    );
}

/// ec3's templates for the local provider, as a user writes them into
/// ec3's templates directory (`~/.ec3/templates`): the images and the
/// network (the front-end on a network with `outbound = 'yes'`, where
/// ec3 looks for its address), and a cluster configured with nubo's own
/// recipes, nothing fetched.
const EC3_LOCAL: &str = "description nubo-local (
    kind = 'images' and
    short = 'Nodes on the nubo serve machine (the local provider)' and
    content = 'Each node is a set of namespaces on the machine nubo serve runs on.'
)
network public (outbound = 'yes')
network private ()
system front (
    cpu.count >= 1 and
    memory.size >= 256m and
    net_interface.0.connection = 'public' and
    net_interface.0.dns_name = 'front' and
    disk.0.image.url = 'local://localhost/host' and
    disk.0.os.name = 'linux'
)
system wn (
    cpu.count >= 1 and
    memory.size >= 256m and
    net_interface.0.connection = 'private' and
    net_interface.0.dns_name = 'wn-#N#' and
    disk.0.image.url = 'local://localhost/host' and
    disk.0.os.name = 'linux'
)
";

const EC3_HELLO: &str = "description nubo-hello (
    kind = 'main' and
    short = 'A front-end and a worker that know each other, configured offline' and
    content = 'Native nubo recipes: /etc/hosts with every node, a marker file on each.'
)
configure front (
@begin
- include: hosts
- name: the marker
  file:
    path: /etc/ec3-front
    content: \"front of {{ cluster.name }}\\n\"
@end
)
configure wn (
@begin
- include: hosts
- name: the marker
  file:
    path: /etc/ec3-wn
    content: \"worker {{ node.name }}\\n\"
@end
)
deploy front 1
deploy wn 1
";

fn has_ec3() -> bool {
    let ok = Command::new("ec3")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip_or_fail("no ec3: scripts/install-test-deps.sh installs ec3-cli 2.2.1");
    }
    ok
}

/// Root: the unmodified `ec3` of ec3-cli 2.2.1 (PyPI) against `nubo
/// serve` on the local provider, as its users run it: `ec3 launch` with
/// templates from ec3's templates directory waits until `configured`
/// (its transfer to an IM on the front-end fails at once: nothing listens
/// there, and ec3 keeps using nubo), then `ec3 list`, `ec3 show`, `ec3
/// reconfigure` and `ec3 destroy`; nothing is left on the machine.
#[test]
fn ec3_drives_nubo_serve_on_the_local_provider() {
    use crate::support::local;
    if !has_ec3() || !local::can_run() {
        return;
    }
    let _serial = local::SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = workdir();
    let state = dir.path().join("state");
    let root = dir.path().join("local");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ec3/templates")).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(home.join(".ec3/templates/nubo-local.radl"), EC3_LOCAL).unwrap();
    std::fs::write(home.join(".ec3/templates/nubo-hello.radl"), EC3_HELLO).unwrap();
    let auth = dir.path().join("auth.dat");
    std::fs::write(
        &auth,
        "type = InfrastructureManager; username = ec3user; password = secret\nid = local; type = Local\n",
    )
    .unwrap();
    let server = Serve::start(&state, &root);
    let ec3 = |args: &[&str]| -> (bool, String, Duration) {
        let t = Instant::now();
        let out = Command::new("ec3")
            .args(args)
            .env("HOME", &home)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run ec3");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text, t.elapsed())
    };
    let (ok, text, took) = ec3(&[
        "launch",
        "mycluster",
        "nubo-local",
        "nubo-hello",
        "-a",
        auth.to_str().unwrap(),
        "-u",
        &server.url,
        "-y",
    ]);
    eprintln!("ec3 launch ({took:?}):\n{text}");
    assert!(ok, "ec3 launch failed:\n{text}");
    assert!(text.contains("Front-end configured with IP"), "{text}");
    assert!(text.contains("Front-end ready!"), "{text}");
    // The transfer to an IM on the front-end failed at once.
    assert!(
        text.contains("Error transferring infrastructure") && text.contains("refused"),
        "{text}"
    );
    // ec3 polls every 5 s: a launch that waited on the transfer (a
    // connect timeout is minutes) would take far longer.
    assert!(took < Duration::from_secs(120), "{took:?}");
    let id = text
        .lines()
        .find_map(|l| {
            l.split("Infrastructure successfully created with ID: ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no id in:\n{text}"))
        .trim()
        .to_string();

    // Configured by nubo's recipes: each node has its marker.
    let nubo = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_nubo"))
            .args(args)
            .env("NUBO_HOME", &state)
            .env("NUBO_LOCAL_ROOT", &root)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        nubo(&["ssh", &id, "front", "cat", "/etc/ec3-front"]).trim(),
        format!("front of {id}")
    );
    assert!(nubo(&["ssh", &id, "wn-1", "cat", "/etc/ec3-wn"]).contains("worker wn-1"));

    let (ok, text, _) = ec3(&["list"]);
    assert!(
        ok && text.contains("mycluster") && text.contains("configured"),
        "{text}"
    );
    let (ok, text, _) = ec3(&["list", "-r"]);
    assert!(ok && text.contains("configured"), "{text}");
    let (ok, text, _) = ec3(&["show", "mycluster", "-r"]);
    assert!(ok && text.contains("system front"), "{text}");
    assert!(text.contains(&id), "{text}");
    let (ok, text, _) = ec3(&["reconfigure", "mycluster"]);
    assert!(ok, "ec3 reconfigure failed:\n{text}");
    assert!(text.contains("Front-end ready!"), "{text}");
    let (ok, text, _) = ec3(&["destroy", "mycluster", "-y", "-u", &server.url]);
    assert!(ok, "ec3 destroy failed:\n{text}");
    let (_, text, _) = ec3(&["list"]);
    assert!(!text.contains("mycluster"), "{text}");
    drop(server);
    let left = local::traces(&id, &root, &local::netns_inodes(&id));
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(
        nubo::state::StateStore::open(&state)
            .unwrap()
            .clusters()
            .unwrap()
            .is_empty()
    );
}
