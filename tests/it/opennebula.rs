//! The OpenNebula provider against the emulated front end
//! (`emu::opennebula`): credentials, the VM life cycle, finding VMs again
//! after a crash, and how failures are classified.

use std::path::Path;
use std::time::Duration;

use nubo::auth;
use nubo::provider::opennebula::{OpenNebula, OpenNebulaOptions};
use nubo::provider::{Provider, ProviderError, VmRequest, VmStatus};
use nubo::testcloud::emu::opennebula::{EmuConfig, Fault, OneEmu};

const TOKEN_A: &str = "01J9ZQ4X8M3N5P7R9T1V3X5Z7A";
const TOKEN_B: &str = "01J9ZQ4X8M3N5P7R9T1V3X5Z7B";
const TOKEN_C: &str = "01J9ZQ4X8M3N5P7R9T1V3X5Z7C";

/// A provider for the emulator, built from an auth-file line as a user
/// would write it.
fn provider_with(emu: &OneEmu, password: &str, call_timeout: Duration) -> OpenNebula {
    let line = format!(
        "id = one; type = OpenNebula; host = {}; username = oneuser; password = '{password}'\n",
        emu.endpoint()
    );
    let file = auth::parse("auth.dat", &line, Path::new(".")).unwrap();
    OpenNebula::with_options(
        file.by_id("one").unwrap(),
        OpenNebulaOptions {
            call_timeout,
            poll_interval: Duration::from_millis(20),
            boot_timeout: Duration::from_secs(10),
        },
    )
    .unwrap()
}

fn provider(emu: &OneEmu) -> OpenNebula {
    provider_with(emu, "onepass", Duration::from_secs(5))
}

const CLUSTER_RADL: &str = "network public (outbound = 'yes' and provider_id = '0')\n\
    network private (provider_id = 'private-net')\n\
    system front (cpu.count >= 2 and memory.size >= 2g and \
      net_interface.0.connection = 'public' and net_interface.1.connection = 'private' and \
      disk.0.image.url = 'one://127.0.0.1/5' and disk.0.os.credentials.username = 'ubuntu')\n\
    deploy front 1\n";

fn request_from(radl_text: &str, cluster: &str, node: &str, token: &str) -> VmRequest {
    crate::support::vm_request(radl_text, cluster, node, token)
}

fn request(cluster: &str, node: &str, token: &str) -> VmRequest {
    request_from(CLUSTER_RADL, cluster, node, token)
}

async fn emu() -> OneEmu {
    OneEmu::start(EmuConfig::default()).await
}

#[tokio::test]
async fn check_accepts_good_credentials() {
    let emu = emu().await;
    provider(&emu).check().await.unwrap();
    assert_eq!(emu.calls(), ["one.user.info"]);
}

#[tokio::test]
async fn check_refuses_bad_credentials_as_auth() {
    let emu = emu().await;
    let e = provider_with(&emu, "wrong", Duration::from_secs(5))
        .check()
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Auth(_)), "{e:?}");
    assert!(!e.is_transient());
    assert!(!e.to_string().contains("wrong"), "{e}");
}

#[tokio::test]
async fn create_runs_with_an_address_and_the_requested_template() {
    let emu = emu().await;
    let p = provider(&emu);
    let req = request("web", "front", TOKEN_A);
    let created = p.create_vm(&req).await.unwrap();
    assert_eq!(created.status, VmStatus::Pending);
    assert_eq!(created.node.as_deref(), Some("front"));
    assert_eq!(created.token.as_deref(), Some(TOKEN_A));

    let running = p.wait_running("web", &created.id).await.unwrap();
    assert_eq!(running.status, VmStatus::Running);
    assert_eq!(
        running.addresses[0],
        format!("192.0.2.{}", 10 + created.id.parse::<i64>().unwrap())
    );
    assert_eq!(running.addresses.len(), 2);

    let vm = emu.vm(created.id.parse().unwrap()).unwrap();
    assert_eq!(vm.name, format!("nubo.web.front.{TOKEN_A}"));
    let t = &vm.template;
    assert_eq!(t.child_text("CPU").unwrap(), "2");
    assert_eq!(t.child_text("VCPU").unwrap(), "2");
    assert_eq!(t.child_text("MEMORY").unwrap(), "2000");
    assert_eq!(
        t.child("DISK").unwrap().child_text("IMAGE_ID").unwrap(),
        "5"
    );
    let nics: Vec<_> = t.children_named("NIC").collect();
    assert_eq!(nics[0].child_text("NETWORK_ID").unwrap(), "0");
    assert_eq!(nics[1].child_text("NETWORK").unwrap(), "private-net");
    let ctx = t.child("CONTEXT").unwrap();
    assert_eq!(ctx.child_text("NETWORK").unwrap(), "YES");
    assert_eq!(ctx.child_text("SET_HOSTNAME").unwrap(), "front");
    assert!(
        ctx.child_text("SSH_PUBLIC_KEY")
            .unwrap()
            .starts_with("ssh-ed25519 ")
    );
    let user: Vec<_> = vm
        .user_template
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(user.contains(&("NUBO_CLUSTER", "web")), "{user:?}");
    assert!(user.contains(&("NUBO_TOKEN", TOKEN_A)), "{user:?}");

    let ssh = p.ssh_access("web", &running).await.unwrap();
    assert_eq!(ssh.user, "ubuntu");
    assert_eq!(ssh.host, running.addresses[0]);
    assert_eq!(ssh.port, 22);
    assert_eq!(ssh.key_path, None);
}

#[tokio::test]
async fn create_is_idempotent_and_found_again_after_a_crash() {
    let emu = emu().await;
    let req = request("web", "front", TOKEN_A);
    let id = {
        // The process that made the VM dies before recording it.
        let p = provider(&emu);
        p.create_vm(&req).await.unwrap().id
    };
    let p = provider(&emu);
    let found = p.list_vms("web").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].node.as_deref(), Some("front"));
    assert_eq!(found[0].token.as_deref(), Some(TOKEN_A));

    // Retrying the create with the intent's token makes no second VM.
    let again = p.create_vm(&req).await.unwrap();
    assert_eq!(again.id, id);
    assert_eq!(emu.count("one.vm.allocate"), 1);
    assert_eq!(emu.live_vms().len(), 1);

    // Another token is another VM.
    let other = p
        .create_vm(&request("web", "front", TOKEN_B))
        .await
        .unwrap();
    assert_ne!(other.id, id);
    assert_eq!(emu.count("one.vm.allocate"), 2);
}

#[tokio::test]
async fn stop_then_start() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    p.wait_running("web", &id).await.unwrap();

    p.stop_vm("web", &id).await.unwrap();
    assert_eq!(
        p.vm_info("web", &id).await.unwrap().unwrap().status,
        VmStatus::Stopped
    );
    p.stop_vm("web", &id).await.unwrap(); // already stopped: fine

    let started = p.start_vm("web", &id).await.unwrap();
    assert_eq!(started.status, VmStatus::Running);
    assert!(!started.addresses.is_empty());
    assert_eq!(emu.count("one.vm.action"), 2, "{:?}", emu.calls());
}

#[tokio::test]
async fn destroy_is_idempotent() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    p.destroy_vm("web", &id).await.unwrap();
    assert!(p.vm_info("web", &id).await.unwrap().is_none());
    assert!(p.list_vms("web").await.unwrap().is_empty());
    p.destroy_vm("web", &id).await.unwrap();
    p.destroy_vm("web", "999").await.unwrap();
    p.destroy_vm("web", "not-a-number").await.unwrap();
    assert_eq!(emu.count("one.vm.action"), 1);
}

#[tokio::test]
async fn list_returns_only_the_clusters_vms() {
    let emu = emu().await;
    let p = provider(&emu);
    let a = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap();
    let b = p.create_vm(&request("web", "wn-1", TOKEN_B)).await.unwrap();
    // A cluster whose name extends the first one's, and someone else's VM.
    p.create_vm(&request("web.prod", "front", TOKEN_C))
        .await
        .unwrap();
    emu.add_foreign_vm("web.front.by-hand");
    let mut ids: Vec<_> = p
        .list_vms("web")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    ids.sort();
    assert_eq!(ids, [a.id, b.id]);
    assert_eq!(p.list_vms("web.prod").await.unwrap().len(), 1);
    assert!(p.list_vms("other").await.unwrap().is_empty());
}

#[tokio::test]
async fn destroy_cluster_reaps_untracked_vms_and_nothing_else() {
    let emu = emu().await;
    let p = provider(&emu);
    // Made, then forgotten: nothing records these ids.
    for (node, token) in [("front", TOKEN_A), ("wn-1", TOKEN_B)] {
        p.create_vm(&request("lab", node, token)).await.unwrap();
    }
    let keep = p
        .create_vm(&request("web", "front", TOKEN_C))
        .await
        .unwrap();
    let foreign = emu.add_foreign_vm("someone-elses");

    p.destroy_cluster("lab").await.unwrap();
    assert!(p.list_vms("lab").await.unwrap().is_empty());
    p.destroy_cluster("lab").await.unwrap();

    let live: Vec<i64> = emu.live_vms().iter().map(|v| v.id).collect();
    assert_eq!(live, [keep.id.parse::<i64>().unwrap(), foreign]);
}

#[tokio::test]
async fn another_clusters_vm_is_left_alone() {
    let emu = emu().await;
    let p = provider(&emu);
    let web = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap();
    let foreign = emu.add_foreign_vm("by-hand").to_string();
    for id in [&web.id, &foreign] {
        assert!(p.vm_info("lab", id).await.unwrap().is_none());
        let e = p.stop_vm("lab", id).await.unwrap_err();
        assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
        p.destroy_vm("lab", id).await.unwrap();
    }
    assert_eq!(emu.live_vms().len(), 2);
    assert_eq!(emu.count("one.vm.action"), 0);
}

#[tokio::test]
async fn unknown_vm_is_not_found() {
    let emu = emu().await;
    let p = provider(&emu);
    assert!(p.vm_info("web", "42").await.unwrap().is_none());
    let e = p.start_vm("web", "42").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
}

#[tokio::test]
async fn unknown_image_fails_before_any_vm_is_made() {
    let emu = emu().await;
    let p = provider(&emu);
    let req = request_from(
        &CLUSTER_RADL.replace("one://127.0.0.1/5", "one://127.0.0.1/77"),
        "web",
        "front",
        TOKEN_A,
    );
    let e = p.create_vm(&req).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
    assert_eq!(emu.count("one.vm.allocate"), 0);
}

#[tokio::test]
async fn a_failed_boot_is_final() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    emu.set_state(id.parse().unwrap(), 3, 36); // ACTIVE / BOOT_FAILURE
    let e = p.wait_running("web", &id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
}

#[tokio::test]
async fn quota_is_final_not_transient() {
    let emu = OneEmu::start(EmuConfig {
        vm_quota: Some(1),
        ..EmuConfig::default()
    })
    .await;
    let p = provider(&emu);
    p.create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap();
    let e = p
        .create_vm(&request("web", "wn-1", TOKEN_B))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Quota(_)), "{e:?}");
    assert!(!e.is_transient());
    assert_eq!(emu.live_vms().len(), 1);
}

#[tokio::test]
async fn injected_quota_answer_is_quota() {
    let emu = emu().await;
    let p = provider(&emu);
    emu.inject(Some("one.vm.allocate"), Fault::Quota, 1);
    let e = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Quota(_)), "{e:?}");
}

#[tokio::test]
async fn service_unavailable_is_transient_and_a_retry_succeeds() {
    let emu = emu().await;
    let p = provider(&emu);
    for status in [503, 500] {
        emu.inject(None, Fault::Http(status), 1);
        let e = p.check().await.unwrap_err();
        assert!(e.is_transient(), "{status}: {e:?}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
    }
    p.check().await.unwrap();
}

#[tokio::test]
async fn auth_failure_during_create_is_auth() {
    let emu = emu().await;
    let p = provider(&emu);
    emu.inject(Some("one.vmpool.info"), Fault::AuthFailure, 1);
    let e = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Auth(_)), "{e:?}");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn not_found_answer_is_not_found() {
    let emu = emu().await;
    let p = provider(&emu);
    emu.inject(Some("one.vm.info"), Fault::NotFound, 1);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    // The VM was made; the injected NO_EXISTS hid it for one look only.
    emu.inject(Some("one.vm.info"), Fault::NotFound, 1);
    assert!(p.vm_info("web", &id).await.unwrap().is_none());
    assert!(p.vm_info("web", &id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_slow_answer_times_out_as_transient() {
    let emu = emu().await;
    let p = provider_with(&emu, "onepass", Duration::from_millis(300));
    emu.inject(None, Fault::Slow(Duration::from_secs(3)), 1);
    let e = p.check().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    // A slow answer within the timeout is fine.
    emu.inject(None, Fault::Slow(Duration::from_millis(50)), 1);
    p.check().await.unwrap();
}

#[tokio::test]
async fn an_xml_rpc_fault_is_final() {
    let emu = emu().await;
    let p = provider(&emu);
    emu.inject(None, Fault::XmlRpc, 1);
    let e = p.check().await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let addr = {
        let emu = emu().await;
        emu.endpoint()
    };
    // The emulator is gone; give its port a moment to close.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let line = format!("id = one; type = OpenNebula; host = {addr}; username = u; password = p\n");
    let file = auth::parse("auth.dat", &line, Path::new(".")).unwrap();
    let p = OpenNebula::with_options(
        file.by_id("one").unwrap(),
        OpenNebulaOptions {
            call_timeout: Duration::from_secs(2),
            ..OpenNebulaOptions::default()
        },
    )
    .unwrap();
    let e = p.check().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[test]
fn credentials_need_host_username_and_password() {
    for (line, missing) in [
        (
            "id = one; type = OpenNebula; username = u; password = p",
            "host",
        ),
        (
            "id = one; type = OpenNebula; host = h:2633; password = p",
            "username",
        ),
        (
            "id = one; type = OpenNebula; host = h:2633; username = u",
            "password",
        ),
    ] {
        let file = auth::parse("auth.dat", line, Path::new(".")).unwrap();
        let e = OpenNebula::from_credential(file.by_id("one").unwrap()).unwrap_err();
        assert!(e.to_string().contains(&format!("needs `{missing}`")), "{e}");
    }
    let file = auth::parse("auth.dat", "id = local; type = Local", Path::new(".")).unwrap();
    assert!(OpenNebula::from_credential(file.by_id("local").unwrap()).is_err());
    let ok = auth::parse(
        "auth.dat",
        "id = one; type = OpenNebula; host = one.example.org; username = u; password = secret-pw",
        Path::new("."),
    )
    .unwrap();
    let p = OpenNebula::from_credential(ok.by_id("one").unwrap()).unwrap();
    assert_eq!(p.id(), "one");
    assert_eq!(p.kind(), "OpenNebula");
    assert_eq!(p.client().endpoint(), "http://one.example.org:2633/RPC2");
    assert!(!format!("{p:?}").contains("secret-pw"));
}
