//! The state store: round trips of every record, the intent log, file
//! permissions, the cluster lock across processes, and crash safety under
//! real SIGKILLs of a child process writing to the store.
//!
//! Child processes re-run this test binary with `--exact
//! state::child_helper` and `NUBO_STATE_CHILD` set to the helper's mode;
//! without that variable the helper test does nothing.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nubo::state::{
    ClusterStatus, IntentKind, IntentParams, IntentState, NewCluster, NewVm, Outcome, Secret,
    StateError, StateStore, StepKey, StepStatus, VmCreated, VmState,
};
use serde_json::json;

/// A `create_vm` intent's parameters.
fn create_vm(number: u32) -> IntentParams {
    IntentParams::CreateVm {
        provider: "local".into(),
        system: "wn".into(),
        number,
    }
}

/// A `start_vm`, `stop_vm` or `destroy_vm` intent's parameters.
fn on_vm(kind: IntentKind, id: &str) -> IntentParams {
    let (provider, id) = ("local".to_string(), id.to_string());
    match kind {
        IntentKind::StartVm => IntentParams::StartVm { provider, id },
        IntentKind::StopVm => IntentParams::StopVm { provider, id },
        IntentKind::DestroyVm => IntentParams::DestroyVm { provider, id },
        other => panic!("not a call on a VM: {other}"),
    }
}

fn store() -> (tempfile::TempDir, StateStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path().join("home")).unwrap();
    (dir, store)
}

fn new_cluster(name: &str) -> NewCluster {
    NewCluster {
        name: name.to_string(),
        description: "system front ( cpu.count >= 1 )\ndeploy front 1\n".to_string(),
        templates: vec!["slurm".to_string(), "ubuntu".to_string()],
        variables: json!({"users": 3, "queue": "batch"}),
    }
}

fn new_vm(node: &str, system: &str) -> NewVm {
    NewVm {
        node: node.to_string(),
        system: system.to_string(),
        provider: "local".to_string(),
        state: VmState::Pending,
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn cluster_round_trip() {
    let (_dir, store) = store();
    let created = store.create_cluster(&new_cluster("demo")).unwrap();
    assert_eq!(created.name, "demo");
    assert_eq!(created.status, ClusterStatus::Launching);
    assert_eq!(created.templates, ["slurm", "ubuntu"]);
    assert_eq!(created.variables, json!({"users": 3, "queue": "batch"}));
    assert_eq!(store.cluster("demo").unwrap(), Some(created.clone()));
    assert_eq!(store.cluster("other").unwrap(), None);

    store
        .set_cluster_status("demo", ClusterStatus::Running)
        .unwrap();
    store
        .set_cluster_variables("demo", &json!({"users": 4}))
        .unwrap();
    store
        .set_cluster_source("demo", "system front ()", &["plain".to_string()])
        .unwrap();
    let c = store.cluster("demo").unwrap().unwrap();
    assert_eq!(c.status, ClusterStatus::Running);
    assert_eq!(c.variables, json!({"users": 4}));
    assert_eq!(c.description, "system front ()");
    assert_eq!(c.templates, ["plain"]);
    assert_eq!(c.created_at, created.created_at);
    assert!(c.updated_at >= created.updated_at);

    let err = store.create_cluster(&new_cluster("demo")).unwrap_err();
    assert!(matches!(err, StateError::ClusterExists(_)), "{err}");
    let err = store.create_cluster(&new_cluster("../x")).unwrap_err();
    assert!(
        matches!(err, StateError::InvalidClusterName { .. }),
        "{err}"
    );
    let err = store
        .set_cluster_status("nope", ClusterStatus::Failed)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no cluster named `nope`; `nubo list` shows the clusters"
    );
}

#[test]
fn list_counts_vms_and_open_intents() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("b")).unwrap();
    store.create_cluster(&new_cluster("a")).unwrap();
    for (node, state) in [
        ("front", VmState::Running),
        ("wn-1", VmState::Running),
        ("wn-2", VmState::Destroyed),
        ("wn-3", VmState::Creating),
    ] {
        store.insert_vm("b", &new_vm(node, "wn")).unwrap();
        store.set_vm_state("b", node, state).unwrap();
    }
    store.begin_intent("b", "wn-3", &create_vm(3)).unwrap();
    let list = store.clusters().unwrap();
    let names: Vec<_> = list.iter().map(|s| s.cluster.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        (list[0].vms, list[0].running_vms, list[0].open_intents),
        (0, 0, 0)
    );
    assert_eq!(
        (list[1].vms, list[1].running_vms, list[1].open_intents),
        (3, 2, 1)
    );
}

#[test]
fn vm_round_trip() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("demo")).unwrap();
    let vm = store.insert_vm("demo", &new_vm("wn-1", "wn")).unwrap();
    assert_eq!(vm.cluster, "demo");
    assert_eq!((vm.node.as_str(), vm.system.as_str()), ("wn-1", "wn"));
    assert_eq!(vm.provider, "local");
    assert_eq!(vm.provider_vm_id, None);
    assert!(vm.addresses.is_empty());
    assert_eq!(vm.state, VmState::Pending);
    store.insert_vm("demo", &new_vm("front", "front")).unwrap();

    for &state in VmState::ALL {
        store.set_vm_state("demo", "wn-1", state).unwrap();
        assert_eq!(store.vm("demo", "wn-1").unwrap().unwrap().state, state);
    }
    let addrs = vec!["10.0.0.2".to_string(), "fd00::2".to_string()];
    store.set_vm_addresses("demo", "wn-1", &addrs).unwrap();
    store
        .set_vm_provider_id("demo", "wn-1", Some("ns-7"))
        .unwrap();
    let vm = store.vm("demo", "wn-1").unwrap().unwrap();
    assert_eq!(vm.addresses, addrs);
    assert_eq!(vm.provider_vm_id.as_deref(), Some("ns-7"));
    store.set_vm_provider_id("demo", "wn-1", None).unwrap();
    assert_eq!(
        store.vm("demo", "wn-1").unwrap().unwrap().provider_vm_id,
        None
    );

    let nodes: Vec<_> = store
        .vms("demo")
        .unwrap()
        .into_iter()
        .map(|v| v.node)
        .collect();
    assert_eq!(nodes, ["front", "wn-1"]);

    let err = store.insert_vm("demo", &new_vm("wn-1", "wn")).unwrap_err();
    assert!(matches!(err, StateError::VmExists { .. }), "{err}");
    let err = store
        .set_vm_state("demo", "wn-9", VmState::Running)
        .unwrap_err();
    assert!(matches!(err, StateError::VmNotFound { .. }), "{err}");
    let err = store.vms("nope").unwrap_err();
    assert!(matches!(err, StateError::ClusterNotFound(_)), "{err}");

    // Deleting a VM takes its steps with it.
    let key = StepKey::new("wn-1", "wn", 0);
    store.put_step("demo", &key, "h").unwrap();
    store.delete_vm("demo", "wn-1").unwrap();
    assert_eq!(store.vm("demo", "wn-1").unwrap(), None);
    assert_eq!(store.step("demo", &key).unwrap(), None);
}

#[test]
fn step_round_trip_with_incremental_log() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("demo")).unwrap();
    let key = StepKey::new("front", "front_conf", 2);
    let step = store.put_step("demo", &key, "sha256:aa").unwrap();
    assert_eq!(step.key, key);
    assert_eq!(step.status, StepStatus::Pending);
    assert_eq!(
        (step.exit_status, step.started_at, step.ended_at),
        (None, None, None)
    );
    assert_eq!(step.log, "");

    store.start_step("demo", &key).unwrap();
    store.append_step_log("demo", &key, "installing\n").unwrap();
    store.append_step_log("demo", &key, "").unwrap();
    store.append_step_log("demo", &key, "done ✓\n").unwrap();
    let running = store.step("demo", &key).unwrap().unwrap();
    assert_eq!(running.status, StepStatus::Running);
    assert_eq!(running.log, "installing\ndone ✓\n");
    assert!(running.started_at.is_some() && running.ended_at.is_none());

    store
        .finish_step("demo", &key, StepStatus::Ok, Some(0))
        .unwrap();
    let done = store.step("demo", &key).unwrap().unwrap();
    assert_eq!(done.status, StepStatus::Ok);
    assert_eq!(done.exit_status, Some(0));
    assert!(done.ended_at >= done.started_at);
    assert_eq!(done.log, running.log);

    // The same recipe again: left as it was, so a rerun can skip it.
    assert_eq!(store.put_step("demo", &key, "sha256:aa").unwrap(), done);
    // A changed recipe: pending again, log cleared.
    let changed = store.put_step("demo", &key, "sha256:bb").unwrap();
    assert_eq!(changed.status, StepStatus::Pending);
    assert_eq!(changed.log, "");
    assert_eq!(changed.exit_status, None);

    // A rerun starts with an empty log.
    store.start_step("demo", &key).unwrap();
    store.append_step_log("demo", &key, "again\n").unwrap();
    store
        .finish_step("demo", &key, StepStatus::Failed, Some(2))
        .unwrap();
    let failed = store.step("demo", &key).unwrap().unwrap();
    assert_eq!(
        (failed.status, failed.exit_status, failed.log.as_str()),
        (StepStatus::Failed, Some(2), "again\n")
    );

    for &s in StepStatus::ALL {
        store.finish_step("demo", &key, s, None).unwrap();
        assert_eq!(store.step("demo", &key).unwrap().unwrap().status, s);
    }
    let err = store
        .start_step("demo", &StepKey::new("front", "front_conf", 3))
        .unwrap_err();
    assert!(matches!(err, StateError::StepNotFound { .. }), "{err}");
}

#[test]
fn intent_begin_and_complete() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("demo")).unwrap();
    let params = IntentParams::CreateNetwork {
        provider: "local".into(),
    };
    let a = store.begin_intent("demo", "demo-net", &params).unwrap();
    assert_eq!(a.state, IntentState::Open);
    assert_eq!(a.kind, IntentKind::CreateNetwork);
    assert_eq!(
        (a.cluster.as_str(), a.target.as_str()),
        ("demo", "demo-net")
    );
    assert_eq!(a.params, params);
    assert_eq!(a.token.len(), 26);
    assert_eq!(a.completed_at, None);
    let b = store
        .begin_intent("demo", "wn-1", &on_vm(IntentKind::StopVm, "wn-1"))
        .unwrap();
    assert_ne!(a.token, b.token);
    assert_eq!(store.open_intents("demo").unwrap(), [a.clone(), b.clone()]);

    let done = store
        .complete_intent(
            a.id,
            Outcome::Done {
                provider_id: Some("br-demo".into()),
            },
        )
        .unwrap();
    assert_eq!(done.state, IntentState::Done);
    assert_eq!(done.provider_id.as_deref(), Some("br-demo"));
    assert!(done.completed_at.is_some());
    let failed = store
        .complete_intent(
            b.id,
            Outcome::Failed {
                error: "no such VM".into(),
            },
        )
        .unwrap();
    assert_eq!(failed.state, IntentState::Failed);
    assert_eq!(failed.error.as_deref(), Some("no such VM"));
    assert!(store.open_intents("demo").unwrap().is_empty());
    assert_eq!(store.intents("demo").unwrap(), [done, failed]);

    let err = store
        .complete_intent(a.id, Outcome::Done { provider_id: None })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StateError::IntentNotOpen {
                state: IntentState::Done,
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .complete_intent(
            nubo::state::IntentId(999),
            Outcome::Done { provider_id: None },
        )
        .unwrap_err();
    assert!(matches!(err, StateError::IntentNotFound(_)), "{err}");
}

#[test]
fn record_vm_created_and_destroyed_complete_the_intent_atomically() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("demo")).unwrap();
    store.insert_vm("demo", &new_vm("wn-1", "wn")).unwrap();
    let create = store.begin_intent("demo", "wn-1", &create_vm(1)).unwrap();

    // A wrong kind changes nothing.
    let err = store.record_vm_destroyed(create.id).unwrap_err();
    assert!(
        matches!(err, StateError::IntentKindMismatch { .. }),
        "{err}"
    );
    assert_eq!(
        store.intent(create.id).unwrap().unwrap().state,
        IntentState::Open
    );

    let vm = store
        .record_vm_created(
            create.id,
            &VmCreated {
                provider_vm_id: "nubo-demo-wn-1".into(),
                addresses: vec!["10.77.0.3".into()],
                state: VmState::Running,
            },
        )
        .unwrap();
    assert_eq!(vm.provider_vm_id.as_deref(), Some("nubo-demo-wn-1"));
    assert_eq!(vm.addresses, ["10.77.0.3"]);
    assert_eq!(vm.state, VmState::Running);
    let intent = store.intent(create.id).unwrap().unwrap();
    assert_eq!(intent.state, IntentState::Done);
    assert_eq!(intent.provider_id.as_deref(), Some("nubo-demo-wn-1"));

    // Recording twice fails and changes nothing.
    let err = store
        .record_vm_created(
            create.id,
            &VmCreated {
                provider_vm_id: "other".into(),
                addresses: vec![],
                state: VmState::Failed,
            },
        )
        .unwrap_err();
    assert!(matches!(err, StateError::IntentNotOpen { .. }), "{err}");
    assert_eq!(store.vm("demo", "wn-1").unwrap().unwrap(), vm);

    // An intent whose target has no VM row fails as a whole: the intent
    // stays open.
    let orphan = store.begin_intent("demo", "wn-9", &create_vm(9)).unwrap();
    let err = store
        .record_vm_created(
            orphan.id,
            &VmCreated {
                provider_vm_id: "x".into(),
                addresses: vec![],
                state: VmState::Running,
            },
        )
        .unwrap_err();
    assert!(matches!(err, StateError::VmNotFound { .. }), "{err}");
    assert_eq!(store.open_intents("demo").unwrap(), [orphan]);

    let destroy = store
        .begin_intent("demo", "wn-1", &on_vm(IntentKind::DestroyVm, "p-1"))
        .unwrap();
    let vm = store.record_vm_destroyed(destroy.id).unwrap();
    assert_eq!(vm.state, VmState::Destroyed);
    let intent = store.intent(destroy.id).unwrap().unwrap();
    assert_eq!(intent.state, IntentState::Done);
    assert_eq!(intent.provider_id.as_deref(), Some("nubo-demo-wn-1"));
}

#[test]
fn open_intents_survive_a_crash_between_begin_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let begun = {
        let store = StateStore::open(dir.path()).unwrap();
        store.create_cluster(&new_cluster("demo")).unwrap();
        store.insert_vm("demo", &new_vm("wn-1", "wn")).unwrap();
        let i = store.begin_intent("demo", "wn-1", &create_vm(1)).unwrap();
        // The process "dies" here: the store is dropped without completing.
        std::mem::forget(store);
        i
    };
    let store = StateStore::open(dir.path()).unwrap();
    store.integrity_check().unwrap();
    let open = store.open_intents("demo").unwrap();
    assert_eq!(open, std::slice::from_ref(&begun));
    // The caller reconciles: the provider knows the token; finish it.
    store
        .record_vm_created(
            begun.id,
            &VmCreated {
                provider_vm_id: "found-by-token".into(),
                addresses: vec![],
                state: VmState::Running,
            },
        )
        .unwrap();
    assert!(store.open_intents("demo").unwrap().is_empty());
}

#[test]
fn cluster_detail_and_delete() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("demo")).unwrap();
    store.insert_vm("demo", &new_vm("front", "front")).unwrap();
    store.insert_vm("demo", &new_vm("wn-1", "wn")).unwrap();
    let k1 = StepKey::new("wn-1", "wn", 0);
    let k0 = StepKey::new("front", "front", 0);
    store.put_step("demo", &k1, "h1").unwrap();
    store.put_step("demo", &k0, "h0").unwrap();
    store.append_step_log("demo", &k0, "hello\n").unwrap();
    let open = store.begin_intent("demo", "wn-1", &create_vm(1)).unwrap();
    store
        .put_secret("demo", "ssh_key", &Secret::new("PRIVATE"))
        .unwrap();

    let detail = store.cluster_detail("demo").unwrap().unwrap();
    assert_eq!(detail.cluster.name, "demo");
    assert_eq!(detail.vms.len(), 2);
    let steps: Vec<_> = detail.steps.iter().map(|s| s.key.clone()).collect();
    assert_eq!(steps, [k0, k1]);
    assert_eq!(detail.steps[0].log, "hello\n");
    assert_eq!(detail.open_intents, std::slice::from_ref(&open));
    let shown = serde_json::to_string(&detail).unwrap() + &format!("{detail:?}");
    assert!(!shown.contains("PRIVATE"));
    assert_eq!(store.cluster_detail("nope").unwrap(), None);

    // Not while a VM lives or an intent is open.
    let err = store.delete_cluster("demo").unwrap_err();
    match &err {
        StateError::ClusterNotDestroyed {
            live_vms,
            open_intents,
            ..
        } => {
            assert_eq!(live_vms, &["front", "wn-1"]);
            assert_eq!(*open_intents, 1);
        }
        other => panic!("{other}"),
    }
    store
        .complete_intent(open.id, Outcome::Failed { error: "x".into() })
        .unwrap();
    store
        .set_vm_state("demo", "front", VmState::Destroyed)
        .unwrap();
    store
        .set_vm_state("demo", "wn-1", VmState::Destroyed)
        .unwrap();
    store.delete_cluster("demo").unwrap();
    assert_eq!(store.cluster("demo").unwrap(), None);
    assert!(store.clusters().unwrap().is_empty());

    // Nothing of it is left in any table.
    assert_eq!(rows_in_all_tables(&store.db_path()), 0);

    // purge deletes whatever the state.
    store.create_cluster(&new_cluster("demo")).unwrap();
    store.insert_vm("demo", &new_vm("front", "front")).unwrap();
    assert!(store.purge_cluster("demo").unwrap());
    assert!(!store.purge_cluster("demo").unwrap());
}

/// Rows left in all of the store's tables.
fn rows_in_all_tables(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() >= 6, "{tables:?}");
    tables
        .iter()
        .map(|t| {
            conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap()
        })
        .sum()
}

#[test]
fn secrets_round_trip_and_never_show() {
    let (_dir, store) = store();
    store.create_cluster(&new_cluster("demo")).unwrap();
    let key = Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n");
    store.put_secret("demo", "ssh_key", &key).unwrap();
    store
        .put_secret("demo", "auth", &Secret::new("id = local; type = Local"))
        .unwrap();
    assert_eq!(store.secret("demo", "ssh_key").unwrap(), Some(key.clone()));
    assert_eq!(store.secret_names("demo").unwrap(), ["auth", "ssh_key"]);
    store
        .put_secret("demo", "ssh_key", &Secret::new("new"))
        .unwrap();
    let got = store.secret("demo", "ssh_key").unwrap().unwrap();
    assert_eq!(got.expose(), "new");
    assert_eq!(format!("{got:?}"), "Secret(***)");
    assert!(store.delete_secret("demo", "auth").unwrap());
    assert!(!store.delete_secret("demo", "auth").unwrap());
    assert_eq!(store.secret("demo", "auth").unwrap(), None);
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("a/b/nubo");
    let store = StateStore::open(&home).unwrap();
    store.create_cluster(&new_cluster("demo")).unwrap();
    let _lock = store.lock_cluster("demo").unwrap();
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&home.join("locks")), 0o700);
    assert_eq!(mode(&home.join("locks/demo.lock")), 0o600);
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        assert_eq!(mode(&home.join(f)), 0o600, "{f}");
    }
    drop(store);

    // A database made readable by others is narrowed again on open.
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        let p = home.join(f);
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let _store = StateStore::open(&home).unwrap();
    for f in ["state.db", "state.db-wal", "state.db-shm"] {
        assert_eq!(mode(&home.join(f)), 0o600, "{f}");
    }
}

#[test]
fn lock_prevents_a_second_holder_in_process() {
    let (_dir, store) = store();
    let lock = store.lock_cluster("demo").unwrap();
    assert_eq!(lock.cluster(), "demo");
    let err = store.lock_cluster("demo").unwrap_err();
    let pid = std::process::id();
    assert!(
        matches!(err, StateError::ClusterBusy { pid: Some(p), .. } if p == pid),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("cluster `demo` is busy (pid {pid})")),
        "{err}"
    );
    // Another cluster is not affected.
    let other = store.lock_cluster("other").unwrap();
    drop(lock);
    let again = store.lock_cluster("demo").unwrap();
    again.remove().unwrap();
    assert!(!store.dir().join("locks/demo.lock").exists());
    drop(other);
    assert!(matches!(
        store.lock_cluster("a/b").unwrap_err(),
        StateError::InvalidClusterName { .. }
    ));
}

/// Starts this test binary as a helper child in `mode`.
fn spawn_child(mode: &str, dir: &Path, run: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "state::child_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("NUBO_STATE_CHILD", mode)
        .env("NUBO_STATE_CHILD_DIR", dir)
        .env("NUBO_STATE_CHILD_RUN", run.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn lock_prevents_a_second_holder_across_processes_and_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path()).unwrap();
    let mut child = spawn_child("lock", dir.path(), 0);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let locked = lines.find(|l| l.as_ref().is_ok_and(|l| l.ends_with("LOCKED")));
    assert!(locked.is_some(), "the child did not take the lock");

    let err = store.lock_cluster("demo").unwrap_err();
    assert!(
        matches!(err, StateError::ClusterBusy { pid: Some(p), .. } if p == child.id()),
        "{err}"
    );
    // SIGKILL: the kernel releases the lock.
    child.kill().unwrap();
    child.wait().unwrap();
    store.lock_cluster("demo").unwrap();
}

#[test]
fn writers_in_two_processes_wait_for_each_other() {
    // Two stores on one directory, as two nubo processes: every write of
    // both lands (the busy timeout), none is lost.
    let dir = tempfile::tempdir().unwrap();
    let a = StateStore::open(dir.path()).unwrap();
    a.create_cluster(&new_cluster("demo")).unwrap();
    let path = dir.path().to_path_buf();
    let t = std::thread::spawn(move || {
        let b = StateStore::open(&path).unwrap();
        (0..25)
            .map(|i| {
                b.begin_intent("demo", &format!("b{i}"), &on_vm(IntentKind::StartVm, "p"))
                    .unwrap()
                    .id
            })
            .collect::<Vec<_>>()
    });
    let mut ids: Vec<_> = (0..25)
        .map(|i| {
            a.begin_intent("demo", &format!("a{i}"), &on_vm(IntentKind::StopVm, "p"))
                .unwrap()
                .id
        })
        .collect();
    ids.extend(t.join().unwrap());
    ids.sort();
    let open: Vec<_> = a
        .open_intents("demo")
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(open, ids);
}

/// A small deterministic generator (splitmix64): the kill times are the
/// same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn sigkill_at_random_moments_loses_no_committed_intent() {
    const KILLS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x6e75_626f);
    let (mut begun_total, mut created_total, mut in_flight) = (0, 0, 0);
    for run in 0..KILLS {
        let mut child = spawn_child("writer", dir.path(), run);
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut out = String::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if line.ends_with("READY") {
                    let _ = ready_tx.send(());
                }
                out.push_str(&line);
                out.push('\n');
            }
            out
        });
        if run < 3 {
            // Early runs die during start-up: opening the store, creating
            // the schema.
            std::thread::sleep(Duration::from_millis(rng.below(8)));
        } else {
            // Later runs die mid-work, however slow the machine is.
            ready_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the child did not start writing");
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let out = reader.join().unwrap();

        let store = StateStore::open(dir.path()).unwrap();
        store.integrity_check().unwrap();
        for f in ["state.db", "state.db-wal", "state.db-shm"] {
            assert_eq!(mode(&dir.path().join(f)), 0o600, "{f} after run {run}");
        }
        for line in out.lines() {
            // libtest may print "test state::child_helper ... " first.
            let Some(at) = line.find("BEGUN ").or_else(|| line.find("CREATED ")) else {
                continue;
            };
            let words: Vec<&str> = line[at..].split(' ').collect();
            match words.as_slice() {
                ["BEGUN", id, token] => {
                    let id = nubo::state::IntentId(id.parse().unwrap());
                    let intent = store.intent(id).unwrap();
                    let intent = intent.unwrap_or_else(|| panic!("run {run}: intent {id} lost"));
                    assert_eq!(intent.token, *token);
                    begun_total += 1;
                }
                ["CREATED", id, node] => {
                    let id = nubo::state::IntentId(id.parse().unwrap());
                    let intent = store.intent(id).unwrap().unwrap();
                    assert_eq!(intent.state, IntentState::Done, "run {run}: {id}");
                    let vm = store.vm("crash", node).unwrap().unwrap();
                    assert_eq!(vm.state, VmState::Running);
                    assert_eq!(vm.provider_vm_id, intent.provider_id);
                    created_total += 1;
                }
                _ => {}
            }
        }
        // Reconcile as nubo will: at most the one call in flight is open;
        // its VM row was not touched. Here the caller decides to undo it.
        if store.cluster("crash").unwrap().is_some() {
            let open = store.open_intents("crash").unwrap();
            assert!(open.len() <= 1, "run {run}: {open:?}");
            in_flight += open.len();
            for intent in open {
                let vm = store.vm("crash", &intent.target).unwrap().unwrap();
                assert_eq!(vm.provider_vm_id, None);
                store
                    .complete_intent(
                        intent.id,
                        Outcome::Failed {
                            error: "interrupted".into(),
                        },
                    )
                    .unwrap();
                store
                    .set_vm_state("crash", &intent.target, VmState::Failed)
                    .unwrap();
            }
        }
    }
    eprintln!(
        "{KILLS} kills: {begun_total} intents begun, {created_total} VMs created, \
         {in_flight} calls in flight at a kill"
    );
    // The kills did land mid-work, not only before the child started.
    assert!(begun_total >= 10, "only {begun_total} intents begun");
    assert!(created_total >= 5, "only {created_total} VMs created");
}

/// The child side of the tests above; does nothing unless started by them.
#[test]
fn child_helper() {
    let Ok(mode) = std::env::var("NUBO_STATE_CHILD") else {
        return;
    };
    let dir = std::env::var("NUBO_STATE_CHILD_DIR").unwrap();
    let run = std::env::var("NUBO_STATE_CHILD_RUN").unwrap();
    let store = StateStore::open(&dir).unwrap();
    // A parent that died must not leave us running for ever.
    let deadline = Instant::now() + Duration::from_secs(10);
    match mode.as_str() {
        "lock" => {
            let _lock = store.lock_cluster("demo").unwrap();
            println!("LOCKED");
            while Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        "writer" => {
            match store.create_cluster(&new_cluster("crash")) {
                Ok(_) | Err(StateError::ClusterExists(_)) => {}
                Err(e) => panic!("{e}"),
            }
            let _lock = store.lock_cluster("crash").unwrap();
            println!("READY");
            let mut i = 0;
            while Instant::now() < deadline {
                let node = format!("r{run}-n{i}");
                store.insert_vm("crash", &new_vm(&node, "wn")).unwrap();
                let intent = store.begin_intent("crash", &node, &create_vm(i)).unwrap();
                println!("BEGUN {} {}", intent.id, intent.token);
                let key = StepKey::new(node.as_str(), "wn", 0);
                store.put_step("crash", &key, "h").unwrap();
                store
                    .append_step_log("crash", &key, &"output line\n".repeat(20))
                    .unwrap();
                store
                    .record_vm_created(
                        intent.id,
                        &VmCreated {
                            provider_vm_id: format!("vm-{}", intent.token),
                            addresses: vec![format!("10.0.{}.{}", run, i % 250)],
                            state: VmState::Running,
                        },
                    )
                    .unwrap();
                println!("CREATED {} {node}", intent.id);
                i += 1;
            }
        }
        other => panic!("unknown helper mode {other}"),
    }
}
