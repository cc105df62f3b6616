//! TOSCA software nodes launched as IM launches them: each Standard
//! operation's implementation (a file next to the file that names it, or a
//! URL, here served over loopback) is read or downloaded before any VM,
//! checked as Ansible, and inlined into the node's configure with the
//! operation's inputs as vars. Offline, a URL is a clear error naming the
//! node, the operation and the URL. The launch (root, local provider; run
//! under `flock /var/tmp/nubo-system-tests.lock` with
//! `NUBO_REQUIRE_SYSTEM_TESTS=1`) checks every operation's effect on the
//! node, then `reconfigure` keeps every step without fetching again.

use crate::support::local::{self, Nubo, SERIAL};
use nubo::testcloud::emu::{Answer, serve};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const FIXTURE: &str = "tests/fixtures/tosca/software";

/// What the loopback server gives for `/artifacts/start.yml`.
const START: &str = "\
- name: mark the start
  shell: echo \"{{ marker }} started\" > /etc/fetched-start
";

/// The fixture copied into `dir` with the server's address in the
/// template; the template's path.
fn template_in(dir: &Path, server: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    for sub in ["types", "tasks", "scripts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for e in std::fs::read_dir(src.join(sub)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(sub).join(e.file_name())).unwrap();
        }
    }
    let text = std::fs::read_to_string(src.join("app.yaml"))
        .unwrap()
        .replace("@SERVER@", server);
    let path = dir.join("app.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A loopback server giving `body` at `/artifacts/start.yml` (404
/// elsewhere) and counting the requests, on a runtime of its own so the
/// test's blocking commands never run on it.
struct Server {
    addr: std::net::SocketAddr,
    hits: Arc<AtomicUsize>,
    body: Arc<std::sync::Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start(body: &str) -> Server {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(std::sync::Mutex::new(body.to_string()));
        let (h, b) = (hits.clone(), body.clone());
        let (addr, task) = rt.block_on(serve(move |_, req: hyper::Request<_>| {
            let (h, b) = (h.clone(), b.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                let mut r: Answer = hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(b.lock().unwrap().clone()),
                ));
                if req.uri().path() != "/artifacts/start.yml" {
                    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
                }
                Ok::<_, std::convert::Infallible>(r)
            }
        }));
        Server {
            addr,
            hits,
            body,
            task,
            _rt: rt,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

fn nubo(dir: &Path, args: &[&str], offline: bool) -> Output {
    let mut c = crate::support::nubo_in(dir);
    c.args(args)
        .env("NUBO_HOME", dir.join("state"))
        .env("NUBO_LOCAL_ROOT", dir.join("local"))
        .env("XDG_CACHE_HOME", dir.join("cache"));
    if offline {
        c.env("NUBO_OFFLINE", "1");
    } else {
        c.env_remove("NUBO_OFFLINE");
    }
    c.output().expect("run nubo")
}

/// `nubo tosca radl --inline` shows what a launch runs: every operation's
/// tasks inlined, each play with its operation's inputs as vars, nothing
/// left as a reference.
#[test]
fn implementations_are_inlined_with_their_inputs_as_vars() {
    let server = Server::start(START);
    let tmp = tempfile::tempdir().unwrap();
    let t = template_in(tmp.path(), &server.addr.to_string());
    let out = nubo(
        tmp.path(),
        &["tosca", "radl", "--inline", t.to_str().unwrap()],
        false,
    );
    let radl = text(&out);
    assert!(out.status.success(), "{radl}");
    assert!(!radl.contains("include_tasks"), "{radl}");
    for want in [
        "greeting: bonjour",
        "dest: /etc/greeter-create",
        "site: nowhere",
        "front_ip: '{{ IM_NODE_PRIVATE_IP }}'",
        "extra: configured",
        "dest: /etc/greeter-configure",
        "marker: bonjour",
        "/etc/fetched-start",
        "shell: /tmp/prepare.sh",
        "SITE: nowhere",
        "configure greeter_front_conf",
        "configure fetched_front_conf",
    ] {
        assert!(radl.contains(want), "`{want}` missing:\n{radl}");
    }
    assert!(!radl.contains("hosts: localhost"), "{radl}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    // Without --inline, references (nothing fetched).
    let out = nubo(tmp.path(), &["tosca", "radl", t.to_str().unwrap()], false);
    assert!(text(&out).contains("include_tasks"), "{}", text(&out));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
}

/// Offline, the URL is not fetched: the launch stops before anything is
/// made, at the implementation's file:line:column, naming the node, the
/// operation, the URL and how to provide it.
#[test]
fn offline_a_url_implementation_stops_the_launch_with_how_to_provide_it() {
    let server = Server::start(START);
    let tmp = tempfile::tempdir().unwrap();
    let t = template_in(tmp.path(), &server.addr.to_string());
    let out = nubo(
        tmp.path(),
        &["launch", "c1", t.to_str().unwrap(), "local", "-y"],
        true,
    );
    let err = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let url = format!("http://{}/artifacts/start.yml", server.addr);
    assert!(err.contains("app.yaml:46:29: error:"), "{err}");
    assert!(
        err.contains("node `fetched`, operation `start`")
            && err.contains(&format!("`{url}`"))
            && err.contains("offline")
            && err.contains("implementation: start.yml"),
        "{err}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 0, "nothing fetched");
    assert!(!tmp.path().join("local").exists(), "nothing made: {err}");

    // Saved next to the template as the message says, it launches offline.
    std::fs::write(tmp.path().join("start.yml"), START).unwrap();
    let local = std::fs::read_to_string(&t)
        .unwrap()
        .replace(&url, "start.yml");
    std::fs::write(&t, local).unwrap();
    let out = nubo(
        tmp.path(),
        &["tosca", "radl", "--inline", t.to_str().unwrap()],
        true,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("/etc/fetched-start"));
}

/// A URL that answers with something that is not Ansible, or not at all:
/// the launch stops before any VM, naming node, operation and URL.
#[test]
fn a_bad_or_unreachable_implementation_stops_the_launch_before_any_vm() {
    let server = Server::start("<html><body>Sign in</body></html>");
    let tmp = tempfile::tempdir().unwrap();
    let t = template_in(tmp.path(), &server.addr.to_string());
    let args = ["launch", "c1", t.to_str().unwrap(), "local", "-y"];
    let out = nubo(tmp.path(), &args, false);
    let err = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("node `fetched`, operation `start`: the implementation `http://")
            && err.contains("is not an Ansible playbook or task list: it is a YAML string"),
        "{err}"
    );
    assert!(!tmp.path().join("local").exists(), "nothing made: {err}");

    // A closed port: the download error, before any VM.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let t = template_in(tmp.path(), &closed.to_string());
    let out = nubo(
        tmp.path(),
        &["launch", "c1", t.to_str().unwrap(), "local", "-y"],
        false,
    );
    let err = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("node `fetched`, operation `start`: the implementation `http://")
            && err.contains("cannot be downloaded"),
        "{err}"
    );
    assert!(!tmp.path().join("local").exists(), "nothing made: {err}");
}

/// The must-show launch: every operation's effect on the node, with the
/// inputs from `get_input`, `get_property` and `get_attribute`; then
/// `reconfigure` keeps every step and fetches nothing, even though the
/// server now gives something else.
#[test]
fn a_tosca_software_stack_launches_and_reconfigure_keeps_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !local::can_run() || !crate::ansible_local::has_ansible() {
        return;
    }
    let server = Server::start(START);
    let n = Nubo::new("tosca-sw");
    let base = n.root.parent().unwrap().join("inputs");
    std::fs::create_dir_all(&base).unwrap();
    let t = template_in(&base, &server.addr.to_string());
    let run = |args: &[&str]| {
        n.cmd(args)
            .env("XDG_CACHE_HOME", base.join("cache"))
            .env_remove("NUBO_OFFLINE")
            .output()
            .expect("run nubo")
    };
    let out = run(&[
        "launch",
        &n.name,
        t.to_str().unwrap(),
        "local",
        "--input",
        "site_name=lab",
        "-y",
    ]);
    assert!(out.status.success(), "launch: {}", text(&out));
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);

    let on = |cmd: &str| {
        crate::support::stdout_of("nubo ssh", run(&["ssh", &n.name, "front", "--", cmd]))
    };
    let front_ip = on("hostname -I")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(on("cat /etc/greeter-create").trim(), "bonjour from create");
    assert_eq!(
        on("cat /etc/greeter-configure").trim(),
        format!("lab {front_ip} configured")
    );
    assert_eq!(on("cat /etc/fetched-start").trim(), "bonjour started");
    assert_eq!(on("cat /etc/fetched-create").trim(), "prepared for lab");

    // The server changes its answer: reconfigure inlines what the launch
    // fetched (recorded), so nothing changed and nothing is fetched.
    *server.body.lock().unwrap() = "- shell: echo changed > /etc/fetched-start\n".into();
    let plan = crate::support::stdout_of("nubo plan", run(&["plan", &n.name]));
    assert!(plan.contains("0 step(s) to run"), "{plan}");
    let out = run(&["reconfigure", &n.name]);
    let t = text(&out);
    assert!(out.status.success(), "reconfigure: {t}");
    assert_eq!(
        t.matches("kept configure").count(),
        2,
        "both configures kept: {t}"
    );
    assert_eq!(server.hits.load(Ordering::SeqCst), 1, "nothing refetched");
    assert_eq!(on("cat /etc/fetched-start").trim(), "bonjour started");
}

/// A relationship operation and a software node on no Compute node are
/// refused, each at its place with the node's name and type, rather than
/// dropped.
#[test]
fn relationship_operations_and_unhosted_software_are_refused_not_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("t.yml"), "- debug: msg=x\n").unwrap();
    let t = tmp.path().join("rel.yaml");
    std::fs::write(
        &t,
        "\
tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  node_templates:
    front:
      type: tosca.nodes.Compute
    db:
      type: tosca.nodes.SoftwareComponent
      requirements:
        - host: front
    app:
      type: tosca.nodes.SoftwareComponent
      requirements:
        - host: front
        - dependency:
            node: db
            relationship:
              type: tosca.relationships.DependsOn
              interfaces:
                Configure:
                  pre_configure_source: t.yml
    orphan:
      type: tosca.nodes.Root
      interfaces:
        Standard:
          create: t.yml
",
    )
    .unwrap();
    let out = nubo(
        tmp.path(),
        &["plan", "c1", t.to_str().unwrap(), "local"],
        true,
    );
    let err = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rel.yaml:14:11: error: node `app` of type `tosca.nodes.SoftwareComponent`: its requirement `dependency` has a relationship operation (`Configure.pre_configure_source`)"),
        "{err}"
    );
    assert!(
        err.contains("rel.yaml:21:5: error: node `orphan` of type `tosca.nodes.Root`: it has lifecycle operations but is hosted on no Compute node"),
        "{err}"
    );
}
