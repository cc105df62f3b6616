//! The OpenStack provider against the emulated cloud (`emu::openstack`):
//! Keystone authentication and the catalog, flavor choice, the server
//! life cycle with floating IPs and security groups, finding servers again
//! after a crash, sweeping a cluster, and how failures are classified.

use std::path::Path;
use std::time::Duration;

use nubo::auth;
use nubo::provider::openstack::{OpenStack, OpenStackOptions};
use nubo::provider::{Provider, ProviderError, VmRequest, VmStatus};
use nubo::testcloud::emu::openstack::{EmuConfig, Fault, IMAGE_ID, OstEmu, flavor};

const TOKEN_A: &str = "01J9ZQ4X8M3N5P7R9T1V3X5Z7A";
const TOKEN_B: &str = "01J9ZQ4X8M3N5P7R9T1V3X5Z7B";
const TOKEN_C: &str = "01J9ZQ4X8M3N5P7R9T1V3X5Z7C";
use crate::support::TEST_KEY as KEY;

fn options() -> OpenStackOptions {
    OpenStackOptions {
        call_timeout: Duration::from_secs(5),
        poll_interval: Duration::from_millis(20),
        boot_timeout: Duration::from_secs(10),
        token_margin: Duration::from_secs(1),
    }
}

/// A provider from an auth-file line as a user would write it, with
/// `rest` after `host`.
fn provider_from(emu: &OstEmu, rest: &str, options: OpenStackOptions) -> OpenStack {
    let line = format!(
        "id = ost; type = OpenStack; host = {}; {rest}\n",
        emu.keystone()
    );
    let file = auth::parse("auth.dat", &line, Path::new(".")).unwrap();
    OpenStack::with_options(file.by_id("ost").unwrap(), options).unwrap()
}

const PASSWORD_AUTH: &str = "username = alice; password = 'ostpass'; tenant = demo; domain = Default; auth_version = 3.x_password";

fn provider(emu: &OstEmu) -> OpenStack {
    provider_from(emu, PASSWORD_AUTH, options())
}

fn cluster_radl() -> String {
    format!(
        "network public (outbound = 'yes' and provider_id = 'public' and outports = '80,8000:8010/tcp,53/udp')\n\
         network private (provider_id = 'private')\n\
         system front (cpu.count >= 2 and memory.size >= 2g and \
           net_interface.0.connection = 'public' and net_interface.1.connection = 'private' and \
           disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}')\n\
         deploy front 1\n"
    )
}

fn request_from(radl_text: &str, cluster: &str, node: &str, token: &str) -> VmRequest {
    crate::support::vm_request(radl_text, cluster, node, token)
}

fn request(cluster: &str, node: &str, token: &str) -> VmRequest {
    request_from(&cluster_radl(), cluster, node, token)
}

/// A system on the private network only, with these extra features.
fn private_request(features: &str, token: &str) -> VmRequest {
    request_from(
        &format!(
            "network private (provider_id = 'private')\n\
             system s (net_interface.0.connection = 'private' and \
               disk.0.image.url = 'ost://127.0.0.1/{IMAGE_ID}'{features})\n\
             deploy s 1\n"
        ),
        "web",
        "s",
        token,
    )
}

async fn emu() -> OstEmu {
    OstEmu::start(EmuConfig::default()).await
}

// ---- Keystone and the catalog ----

#[tokio::test]
async fn password_auth_is_checked_and_the_public_endpoint_used() {
    let emu = emu().await;
    let p = provider(&emu);
    p.check().await.unwrap();
    assert_eq!(emu.ops(), ["keystone.auth", "nova.list_servers"]);
    let calls = emu.calls();
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[0].path, "/identity/v3/auth/tokens");
    let call = &calls[1];
    assert_eq!(call.method, "GET");
    assert_eq!(call.region.as_deref(), Some("RegionOne"));
    assert!(call.path.starts_with("/RegionOne/compute/v2.1/servers"));
    // The token is kept: a second look needs no new one.
    p.list_vms("web").await.unwrap();
    assert_eq!(emu.count("keystone.auth"), 1);
    assert_eq!(p.client().authentications(), 1);
}

#[tokio::test]
async fn password_auth_with_a_project_id() {
    let emu = emu().await;
    let p = provider_from(
        &emu,
        &format!(
            "username = alice; password = ostpass; tenant_id = {}",
            EmuConfig::default().project_id
        ),
        options(),
    );
    p.check().await.unwrap();
}

#[tokio::test]
async fn application_credentials_authenticate() {
    let emu = emu().await;
    provider_from(
        &emu,
        "auth_version = 3.x_appcred; application_credential_id = ac-5b2e; application_credential_secret = ac-secret",
        options(),
    )
    .check()
    .await
    .unwrap();
    // IM's form: the credential's id and secret as username and password.
    provider_from(
        &emu,
        "auth_version = 3.x_appcred; username = ac-5b2e; password = ac-secret",
        options(),
    )
    .check()
    .await
    .unwrap();
    assert_eq!(emu.count("keystone.auth"), 2);
}

#[tokio::test]
async fn refused_credentials_are_auth_errors_without_the_secret() {
    let emu = emu().await;
    for rest in [
        "username = alice; password = 'wrong-pw'; tenant = demo",
        "username = alice; password = ostpass; tenant = other-project",
        "username = alice; password = ostpass; tenant = demo; domain = Elsewhere",
        "auth_version = 3.x_appcred; application_credential_id = ac-5b2e; application_credential_secret = wrong-pw",
    ] {
        let e = provider_from(&emu, rest, options())
            .check()
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Auth(_)), "{rest}: {e:?}");
        assert!(!e.is_transient());
        assert!(!e.to_string().contains("wrong-pw"), "{e}");
        assert!(e.to_string().contains("401"), "{e}");
    }
    // Nothing past Keystone was asked.
    assert!(emu.ops().iter().all(|o| o == "keystone.auth"));
}

#[tokio::test]
async fn the_region_is_chosen_from_the_catalog() {
    let emu = OstEmu::start(EmuConfig {
        regions: vec!["RegionOne".into(), "RegionTwo".into()],
        ..EmuConfig::default()
    })
    .await;
    // Two regions and none chosen: a final error that says what to set.
    let e = provider(&emu).check().await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    assert!(e.to_string().contains("service_region"), "{e}");

    let p = provider_from(
        &emu,
        &format!("{PASSWORD_AUTH}; service_region = RegionTwo"),
        options(),
    );
    p.check().await.unwrap();
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    p.wait_running("web", &id).await.unwrap();
    let served: Vec<_> = emu
        .calls()
        .into_iter()
        .filter(|c| c.op != "keystone.auth")
        .collect();
    assert!(!served.is_empty());
    for c in &served {
        assert_eq!(c.region.as_deref(), Some("RegionTwo"), "{c:?}");
    }
    // Neutron and Glance were used through their catalog endpoints too.
    assert!(
        served
            .iter()
            .any(|c| c.path.starts_with("/RegionTwo/network/v2.0/"))
    );
    assert!(
        served
            .iter()
            .any(|c| c.path.starts_with("/RegionTwo/image/v2/images/"))
    );

    let e = provider_from(
        &emu,
        &format!("{PASSWORD_AUTH}; service_region = RegionThree"),
        options(),
    )
    .check()
    .await
    .unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    assert!(e.to_string().contains("RegionThree"), "{e}");
}

#[tokio::test]
async fn a_revoked_token_is_replaced_once() {
    let emu = emu().await;
    let p = provider(&emu);
    p.check().await.unwrap();
    emu.revoke_tokens();
    p.list_vms("web").await.unwrap();
    assert_eq!(emu.count("keystone.auth"), 2);
    assert_eq!(emu.unauthorized(), 1);

    // A token refused again after the new one: Auth, not a loop.
    emu.inject(Some("nova.list_servers"), Fault::Status(401), 2);
    let e = p.list_vms("web").await.unwrap_err();
    assert!(matches!(e, ProviderError::Auth(_)), "{e:?}");
    assert_eq!(emu.count("keystone.auth"), 3);
}

#[tokio::test]
async fn a_token_near_its_expiry_is_renewed_before_use() {
    let emu = OstEmu::start(EmuConfig {
        token_ttl: Duration::from_millis(1500),
        ..EmuConfig::default()
    })
    .await;
    let p = provider_from(
        &emu,
        PASSWORD_AUTH,
        OpenStackOptions {
            token_margin: Duration::from_millis(500),
            ..options()
        },
    );
    p.list_vms("web").await.unwrap();
    p.list_vms("web").await.unwrap();
    assert_eq!(emu.count("keystone.auth"), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    p.list_vms("web").await.unwrap();
    assert_eq!(emu.count("keystone.auth"), 2);
    // Renewed before the old one lapsed: never refused.
    assert_eq!(emu.unauthorized(), 0);
}

// ---- Flavors and images ----

#[tokio::test]
async fn the_cheapest_fitting_flavor_is_chosen() {
    let emu = emu().await;
    let p = provider(&emu);
    // cpu >= 2, memory >= 2g: c1.medium (2 vCPUs, 2048 MiB), not m1.medium.
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    assert_eq!(emu.server(&id).unwrap().flavor_id, "6");

    let req = private_request(" and memory.size >= 3g", TOKEN_B);
    let id = p.create_vm(&req).await.unwrap().id;
    assert_eq!(emu.server(&id).unwrap().flavor_id, "3"); // m1.medium

    let req = private_request("", TOKEN_C);
    let id = p.create_vm(&req).await.unwrap().id;
    assert_eq!(emu.server(&id).unwrap().flavor_id, "1"); // m1.tiny
}

#[tokio::test]
async fn instance_type_names_the_flavor() {
    let emu = emu().await;
    let p = provider(&emu);
    let req = private_request(
        " and instance_type = 'm1.large' and cpu.count >= 2",
        TOKEN_A,
    );
    let id = p.create_vm(&req).await.unwrap().id;
    assert_eq!(emu.server(&id).unwrap().flavor_id, "4");

    let req = private_request(" and instance_type = 'x9.huge'", TOKEN_B);
    let e = p.create_vm(&req).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    assert!(
        e.to_string().contains("no flavor is named `x9.huge`"),
        "{e}"
    );
}

#[tokio::test]
async fn no_fitting_flavor_is_a_final_error_naming_the_request() {
    let emu = emu().await;
    let p = provider(&emu);
    let req = private_request(" and cpu.count >= 64 and memory.size >= 512g", TOKEN_A);
    let e = p.create_vm(&req).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("system `s`"), "{text}");
    assert!(
        text.contains("cpu.count >= 64, memory.size >= 512g"),
        "{text}"
    );
    assert_eq!(emu.count("nova.create_server"), 0);
}

#[tokio::test]
async fn gpus_come_from_the_flavors_extra_specs() {
    let mut gpu = flavor("g1", "g1.large", 8, 16384, 80);
    gpu.extra_specs.insert("resources:VGPU".into(), "1".into());
    let mut config = EmuConfig::default();
    config.flavors.push(gpu);
    let emu = OstEmu::start(config).await;
    let p = provider(&emu);
    let req = private_request(" and gpu.count >= 1", TOKEN_A);
    let id = p.create_vm(&req).await.unwrap().id;
    assert_eq!(emu.server(&id).unwrap().flavor_id, "g1");
    let req = private_request(" and gpu.count >= 2", TOKEN_B);
    let e = p.create_vm(&req).await.unwrap_err();
    assert!(e.to_string().contains("too few GPUs"), "{e}");
}

#[tokio::test]
async fn a_missing_image_fails_before_any_server_is_made() {
    let emu = emu().await;
    let p = provider(&emu);
    let url = "ost://127.0.0.1/00000000-dead-beef-0000-000000000000";
    let req = request_from(
        &cluster_radl().replace(&format!("ost://127.0.0.1/{IMAGE_ID}"), url),
        "web",
        "front",
        TOKEN_A,
    );
    let e = p.create_vm(&req).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    assert!(e.to_string().contains(url), "{e}");
    assert_eq!(emu.count("nova.create_server"), 0);

    // An image of another cloud is refused without asking.
    let req = request_from(
        &cluster_radl().replace("ost://127.0.0.1/", "ost://other.example.org/"),
        "web",
        "front",
        TOKEN_A,
    );
    let e = p.create_vm(&req).await.unwrap_err();
    assert!(e.to_string().contains("not on this OpenStack"), "{e}");
}

// ---- The life cycle ----

#[tokio::test]
async fn create_runs_with_addresses_and_a_floating_ip_on_the_public_network() {
    let emu = emu().await;
    let p = provider(&emu);
    let created = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap();
    assert_eq!(created.status, VmStatus::Pending);
    assert_eq!(created.node.as_deref(), Some("front"));
    assert_eq!(created.token.as_deref(), Some(TOKEN_A));

    let running = p.wait_running("web", &created.id).await.unwrap();
    assert_eq!(running.status, VmStatus::Running);
    assert_eq!(running.addresses.len(), 2, "{:?}", running.addresses);
    assert!(
        running.addresses[0].starts_with("203.0.113."),
        "{:?}",
        running.addresses
    );
    assert!(
        running.addresses[1].starts_with("192.0.2."),
        "{:?}",
        running.addresses
    );

    let s = emu.server(&created.id).unwrap();
    assert_eq!(s.name, "nubo-web-front");
    assert_eq!(s.image_id, IMAGE_ID);
    // The external network is not attached: the port is on `private`.
    let private = &EmuConfig::default().networks[1];
    assert_eq!(s.networks, std::slice::from_ref(&private.id));
    assert_eq!(s.metadata["nubo_cluster"], "web");
    assert_eq!(s.metadata["nubo_node"], "front");
    assert_eq!(s.metadata["nubo_token"], TOKEN_A);
    assert_eq!(s.metadata["nubo_ssh_user"], "cloudadm");
    let user_data = s.user_data.unwrap();
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(user_data.contains("name: \"cloudadm\""), "{user_data}");
    assert!(user_data.contains(KEY), "{user_data}");
    assert!(user_data.contains("hostname: \"front\""), "{user_data}");
    // Both networks' groups are on the server.
    assert_eq!(s.security_groups.len(), 2);

    let fips = emu.floating_ips();
    assert_eq!(fips.len(), 1);
    assert_eq!(fips[0].address, running.addresses[0]);
    assert_eq!(
        fips[0].description,
        format!("nubo cluster=web node=front token={TOKEN_A}")
    );
    let port = emu
        .ports()
        .into_iter()
        .find(|p| Some(&p.id) == fips[0].port_id.as_ref())
        .unwrap();
    assert_eq!(port.device_id, created.id);

    // Waiting again neither adds a floating IP nor loses the address.
    let again = p.wait_running("web", &created.id).await.unwrap();
    assert_eq!(again.addresses, running.addresses);
    assert_eq!(emu.count("neutron.create_floatingip"), 1);

    let ssh = p.ssh_access("web", &running).await.unwrap();
    assert_eq!(ssh.host, running.addresses[0]);
    assert_eq!(ssh.user, "cloudadm");
    assert_eq!(ssh.port, 22);
    assert_eq!(ssh.key_path, None);
}

#[tokio::test]
async fn the_login_user_comes_from_the_system() {
    let emu = emu().await;
    let p = provider(&emu);
    let req = private_request(" and disk.0.os.credentials.username = 'ubuntu'", TOKEN_A);
    let id = p.create_vm(&req).await.unwrap().id;
    let running = p.wait_running("web", &id).await.unwrap();
    // No public network: no floating IP, the fixed address is the way in.
    assert!(emu.floating_ips().is_empty());
    assert!(running.addresses[0].starts_with("192.0.2."));
    let ssh = p.ssh_access("web", &running).await.unwrap();
    assert_eq!(ssh.user, "ubuntu");
    assert_eq!(ssh.host, running.addresses[0]);
}

#[tokio::test]
async fn security_group_rules_come_from_outports() {
    let emu = emu().await;
    let p = provider(&emu);
    let req = request("web", "front", TOKEN_A);
    let public = &req.networks[0];
    let id = p
        .ensure_network("web", public, TOKEN_A)
        .await
        .unwrap()
        .unwrap();
    let group = emu.groups().into_iter().find(|g| g.id == id).unwrap();
    assert_eq!(group.name, "nubo-web-public");
    assert_eq!(group.description, "nubo cluster=web network=public");
    let mut ingress: Vec<String> = group
        .rules
        .iter()
        .filter(|r| r.direction == "ingress")
        .map(|r| {
            format!(
                "{} {}-{} {}",
                r.protocol.as_deref().unwrap_or("any"),
                r.min.unwrap_or(0),
                r.max.unwrap_or(0),
                match (&r.remote_ip_prefix, &r.remote_group_id) {
                    (Some(c), _) => c.clone(),
                    (None, Some(g)) if *g == id => "self".to_string(),
                    _ => "?".to_string(),
                }
            )
        })
        .collect();
    ingress.sort();
    assert_eq!(
        ingress,
        [
            "tcp 1-65535 self",
            "tcp 22-22 0.0.0.0/0",
            "tcp 80-80 0.0.0.0/0",
            "tcp 8000-8010 0.0.0.0/0",
            "udp 1-65535 self",
            "udp 53-53 0.0.0.0/0",
        ]
    );
    // Neutron's default egress rules are kept.
    assert_eq!(
        group
            .rules
            .iter()
            .filter(|r| r.direction == "egress")
            .count(),
        2
    );

    // Again: the same group, no rule twice.
    let rules = emu.count("neutron.create_security_group_rule");
    assert_eq!(
        p.ensure_network("web", public, TOKEN_B).await.unwrap(),
        Some(id)
    );
    assert_eq!(emu.count("neutron.create_security_group"), 1);
    assert_eq!(emu.count("neutron.create_security_group_rule"), rules);

    // A private network opens no SSH to the world.
    let private = &req.networks[1];
    p.ensure_network("web", private, TOKEN_C).await.unwrap();
    let g = emu
        .groups()
        .into_iter()
        .find(|g| g.name == "nubo-web-private")
        .unwrap();
    assert!(g.rules.iter().all(|r| r.remote_ip_prefix.is_none()));
}

#[tokio::test]
async fn an_unknown_provider_network_fails_at_ensure_network() {
    let emu = emu().await;
    let p = provider(&emu);
    let mut net = request("web", "front", TOKEN_A).networks[1].clone();
    net.provider_id = Some("no-such-net".into());
    let e = p.ensure_network("web", &net, TOKEN_A).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    assert!(e.to_string().contains("no-such-net"), "{e}");
    assert!(emu.groups().is_empty());
}

#[tokio::test]
async fn create_is_idempotent_and_found_again_after_a_crash() {
    let emu = emu().await;
    let req = request("web", "front", TOKEN_A);
    let id = {
        // The process that made the server dies before recording it.
        let p = provider(&emu);
        p.create_vm(&req).await.unwrap().id
    };
    let p = provider(&emu);
    let found = p.list_vms("web").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, id);
    assert_eq!(found[0].node.as_deref(), Some("front"));
    assert_eq!(found[0].token.as_deref(), Some(TOKEN_A));

    // Retrying the create with the intent's token makes no second server.
    let again = p.create_vm(&req).await.unwrap();
    assert_eq!(again.id, id);
    assert_eq!(emu.count("nova.create_server"), 1);
    assert_eq!(emu.servers().len(), 1);

    // Another token is another server.
    let other = p
        .create_vm(&request("web", "front", TOKEN_B))
        .await
        .unwrap();
    assert_ne!(other.id, id);
    assert_eq!(emu.count("nova.create_server"), 2);
}

#[tokio::test]
async fn list_returns_only_the_clusters_servers_across_pages() {
    let emu = OstEmu::start(EmuConfig {
        page_limit: 2,
        ..EmuConfig::default()
    })
    .await;
    let p = provider(&emu);
    let mut mine = Vec::new();
    for (node, token) in [("front", TOKEN_A), ("wn-1", TOKEN_B), ("wn-2", TOKEN_C)] {
        mine.push(p.create_vm(&request("web", node, token)).await.unwrap().id);
    }
    p.create_vm(&request("web-prod", "front", TOKEN_A))
        .await
        .unwrap();
    emu.add_server("web-front-by-hand", &[]);
    emu.add_server("other", &[("nubo_cluster", "webx")]);
    let mut ids: Vec<String> = p
        .list_vms("web")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    ids.sort();
    mine.sort();
    assert_eq!(ids, mine);
    assert!(emu.count("nova.list_servers") >= 3, "{:?}", emu.ops());
    assert_eq!(p.list_vms("web-prod").await.unwrap().len(), 1);
    assert!(p.list_vms("nothing").await.unwrap().is_empty());
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
    let running = p.wait_running("web", &id).await.unwrap();

    p.stop_vm("web", &id).await.unwrap();
    let info = p.vm_info("web", &id).await.unwrap().unwrap();
    assert_eq!(info.status, VmStatus::Stopped);
    assert_eq!(emu.server(&id).unwrap().status, "SHUTOFF");
    p.stop_vm("web", &id).await.unwrap(); // already stopped: fine

    let started = p.start_vm("web", &id).await.unwrap();
    assert_eq!(started.status, VmStatus::Running);
    assert_eq!(started.addresses, running.addresses);
    assert_eq!(emu.count("nova.server_action"), 2, "{:?}", emu.ops());
    // Started again, the floating IP is the one it had.
    assert_eq!(emu.floating_ips().len(), 1);
}

#[tokio::test]
async fn destroy_is_idempotent_and_releases_the_floating_ip() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    p.wait_running("web", &id).await.unwrap();
    assert_eq!(emu.floating_ips().len(), 1);
    p.destroy_vm("web", &id).await.unwrap();
    assert!(emu.floating_ips().is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(p.vm_info("web", &id).await.unwrap().is_none());
    assert!(p.list_vms("web").await.unwrap().is_empty());
    p.destroy_vm("web", &id).await.unwrap();
    p.destroy_vm("web", "no-such-server").await.unwrap();
    assert_eq!(emu.count("nova.delete_server"), 1);
}

#[tokio::test]
async fn destroy_cluster_reaps_untracked_resources_and_nothing_else() {
    let emu = emu().await;
    let p = provider(&emu);
    // Made, then forgotten: nothing records these ids.
    let lab = provider(&emu);
    let a = lab
        .create_vm(&request("lab", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    lab.wait_running("lab", &a).await.unwrap();
    lab.create_vm(&request("lab", "wn-1", TOKEN_B))
        .await
        .unwrap();
    emu.add_server("lost", &[("nubo_cluster", "lab"), ("nubo_token", "T0")]);
    emu.add_floating_ip("nubo cluster=lab node=gone token=T9");
    emu.add_group("nubo-lab-old", "nubo cluster=lab network=old");
    drop(lab);

    // Another cluster's, and things that are not nubo's.
    let keep = p
        .create_vm(&request("lab-2", "front", TOKEN_C))
        .await
        .unwrap()
        .id;
    p.wait_running("lab-2", &keep).await.unwrap();
    let foreign = emu.add_server("someone-elses", &[]);
    let foreign_fip = emu.add_floating_ip("");
    let foreign_group = emu.add_group("nubo-lab-by-hand", "made by hand");

    p.destroy_cluster("lab").await.unwrap();
    assert!(p.list_vms("lab").await.unwrap().is_empty());
    p.destroy_cluster("lab").await.unwrap();

    let mut servers: Vec<String> = emu.servers().into_iter().map(|s| s.id).collect();
    servers.sort();
    let mut want = vec![keep.clone(), foreign];
    want.sort();
    assert_eq!(servers, want);
    let fips: Vec<String> = emu
        .floating_ips()
        .into_iter()
        .map(|f| f.description)
        .collect();
    assert_eq!(fips.len(), 2, "{fips:?}");
    assert!(fips.iter().any(|d| d.contains("cluster=lab-2 ")));
    assert!(emu.floating_ips().iter().any(|f| f.id == foreign_fip));
    let groups: Vec<String> = emu.groups().into_iter().map(|g| g.description).collect();
    assert!(
        groups.iter().all(|d| !d.starts_with("nubo cluster=lab ")),
        "{groups:?}"
    );
    assert!(emu.groups().iter().any(|g| g.id == foreign_group));
    assert_eq!(
        emu.groups()
            .iter()
            .filter(|g| g.description.starts_with("nubo cluster=lab-2 "))
            .count(),
        2
    );
    // The other cluster still runs.
    assert_eq!(
        p.vm_info("lab-2", &keep).await.unwrap().unwrap().status,
        VmStatus::Running
    );
}

#[tokio::test]
async fn another_clusters_server_is_left_alone() {
    let emu = emu().await;
    let p = provider(&emu);
    let web = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap();
    let foreign = emu.add_server("by-hand", &[]);
    for id in [&web.id, &foreign] {
        assert!(p.vm_info("lab", id).await.unwrap().is_none());
        let e = p.stop_vm("lab", id).await.unwrap_err();
        assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
        p.destroy_vm("lab", id).await.unwrap();
    }
    assert_eq!(emu.servers().len(), 2);
    assert_eq!(emu.count("nova.server_action"), 0);
    assert_eq!(emu.count("nova.delete_server"), 0);
}

#[tokio::test]
async fn a_failed_build_is_final_with_novas_reason() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    emu.fail_server(
        &id,
        "Build of instance aborted: Failure prepping block device.",
    );
    let e = p.wait_running("web", &id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    assert!(
        e.to_string().contains("Failure prepping block device"),
        "{e}"
    );
}

/// Nova's scheduler finding no host with room is the cloud's capacity, a
/// limit the elasticity daemon answers by resting the type
/// (`elastic_capacity_cooloff`), not a final failure of the request.
#[tokio::test]
async fn no_valid_host_is_a_capacity_refusal() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    emu.fail_server(
        &id,
        "No valid host was found. There are not enough hosts available.",
    );
    let e = p.wait_running("web", &id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Quota(_)), "{e:?}");
    assert!(e.to_string().contains("no room"), "{e}");
}

#[tokio::test]
async fn no_network_service_means_no_groups() {
    let emu = OstEmu::start(EmuConfig {
        with_network: false,
        ..EmuConfig::default()
    })
    .await;
    let p = provider(&emu);
    let req = private_request("", TOKEN_A);
    assert_eq!(
        p.ensure_network("web", &req.networks[0], TOKEN_A)
            .await
            .unwrap(),
        None
    );
    let id = p.create_vm(&req).await.unwrap().id;
    let running = p.wait_running("web", &id).await.unwrap();
    assert!(!running.addresses.is_empty());
    assert!(emu.server(&id).unwrap().security_groups.is_empty());
}

// ---- Failures ----

#[tokio::test]
async fn quota_is_final_and_not_retried() {
    let emu = OstEmu::start(EmuConfig {
        instance_quota: Some(1),
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
    assert!(
        e.to_string().contains("Quota exceeded for instances"),
        "{e}"
    );
    assert_eq!(emu.count("nova.create_server"), 2);
    assert_eq!(emu.servers().len(), 1);
}

#[tokio::test]
async fn injected_quota_answers_are_quota() {
    let emu = emu().await;
    let p = provider(&emu);
    for status in [403, 413] {
        emu.inject(Some("nova.create_server"), Fault::Quota(status), 1);
        let e = p
            .create_vm(&request("web", "front", TOKEN_A))
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Quota(_)), "{status}: {e:?}");
    }
    assert_eq!(emu.count("nova.create_server"), 2);
    // A floating IP refused for quota fails the wait, finally.
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    emu.inject(Some("neutron.create_floatingip"), Fault::Quota(409), 1);
    let e = p.wait_running("web", &id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Quota(_)), "{e:?}");
}

#[tokio::test]
async fn floating_ip_quota_is_quota() {
    let emu = OstEmu::start(EmuConfig {
        floating_ip_quota: Some(0),
        ..EmuConfig::default()
    })
    .await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    let e = p.wait_running("web", &id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Quota(_)), "{e:?}");
    assert!(e.to_string().contains("OverQuota"), "{e}");
}

#[tokio::test]
async fn unavailable_and_server_errors_are_transient_and_a_retry_succeeds() {
    let emu = emu().await;
    let p = provider(&emu);
    for status in [503, 500, 502, 429] {
        emu.inject(Some("nova.list_servers"), Fault::Status(status), 1);
        let e = p.check().await.unwrap_err();
        assert!(e.is_transient(), "{status}: {e:?}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
    }
    p.check().await.unwrap();
    // Keystone itself unavailable: transient too.
    emu.inject(Some("keystone.auth"), Fault::Status(503), 1);
    assert!(p.check().await.unwrap_err().is_transient());
}

#[tokio::test]
async fn a_state_conflict_is_transient() {
    let emu = emu().await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    p.wait_running("web", &id).await.unwrap();
    emu.inject(Some("nova.server_action"), Fault::Status(409), 1);
    let e = p.stop_vm("web", &id).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    p.stop_vm("web", &id).await.unwrap();
}

#[tokio::test]
async fn not_found_answers() {
    let emu = emu().await;
    let p = provider(&emu);
    assert!(p.vm_info("web", "no-such-server").await.unwrap().is_none());
    let e = p.start_vm("web", "no-such-server").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    // A 404 hides the server for one look only.
    emu.inject(Some("nova.show_server"), Fault::Status(404), 1);
    assert!(p.vm_info("web", &id).await.unwrap().is_none());
    assert!(p.vm_info("web", &id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_slow_answer_times_out_as_transient() {
    let emu = emu().await;
    let p = provider_from(
        &emu,
        PASSWORD_AUTH,
        OpenStackOptions {
            call_timeout: Duration::from_millis(300),
            ..options()
        },
    );
    emu.inject(
        Some("nova.list_servers"),
        Fault::Slow(Duration::from_secs(3)),
        1,
    );
    let e = p.check().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    // A slow answer within the timeout is fine.
    emu.inject(None, Fault::Slow(Duration::from_millis(50)), 1);
    p.check().await.unwrap();
}

#[tokio::test]
async fn nothing_listening_is_transient() {
    let keystone = {
        let emu = emu().await;
        emu.keystone()
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let line = format!(
        "id = ost; type = OpenStack; host = {keystone}; username = u; password = p; tenant = t\n"
    );
    let file = auth::parse("auth.dat", &line, Path::new(".")).unwrap();
    let p = OpenStack::with_options(file.by_id("ost").unwrap(), options()).unwrap();
    let e = p.check().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[test]
fn credentials_need_what_their_auth_version_needs() {
    let parse = |line: &str| {
        let file = auth::parse("auth.dat", line, Path::new(".")).unwrap();
        OpenStack::from_credential(file.by_id("ost").unwrap())
    };
    for (line, missing) in [
        (
            "id = ost; type = OpenStack; username = u; password = p; tenant = t",
            "needs `host`",
        ),
        (
            "id = ost; type = OpenStack; host = https://k:5000; password = p; tenant = t",
            "needs `username`",
        ),
        (
            "id = ost; type = OpenStack; host = https://k:5000; username = u; tenant = t",
            "needs `password`",
        ),
        (
            "id = ost; type = OpenStack; host = https://k:5000; username = u; password = p",
            "needs `tenant`",
        ),
        (
            "id = ost; type = OpenStack; host = https://k:5000; auth_version = 3.x_appcred",
            "needs `application_credential_id`",
        ),
        (
            "id = ost; type = OpenStack; host = https://k:5000; username = u; password = p; tenant = t; auth_version = 2.0_password",
            "Keystone v2.0",
        ),
        (
            "id = ost; type = OpenStack; host = https://k:5000; username = u; password = p; tenant = t; auth_version = 3.x_oidc_access_token",
            "not supported",
        ),
        (
            "id = ost; type = OpenStack; host = k:5000; username = u; password = p; tenant = t",
            "not a Keystone URL",
        ),
    ] {
        let e = parse(line).unwrap_err().to_string();
        assert!(e.contains(missing), "{line}: {e}");
    }
    let file = auth::parse("auth.dat", "id = local; type = Local", Path::new(".")).unwrap();
    assert!(OpenStack::from_credential(file.by_id("local").unwrap()).is_err());
    let p = parse(
        "id = ost; type = OpenStack; host = https://keystone.example.org:5000; username = u; password = secret-pw; tenant = t",
    )
    .unwrap();
    assert_eq!(p.id(), "ost");
    assert_eq!(p.kind(), "OpenStack");
    assert_eq!(
        p.client().tokens_url(),
        "https://keystone.example.org:5000/v3/auth/tokens"
    );
    assert!(!format!("{p:?}").contains("secret-pw"));
}

/// Glance answers a client that accepts JSON with a JSON error whose
/// `message` is its HTML page's text (found against Debian 12's Glance 25,
/// `openstack_real.rs`): the provider's error reads as text, no `<br />`.
#[tokio::test]
async fn a_glance_error_reads_as_text() {
    let emu = emu().await;
    emu.inject(Some("glance.show_image"), Fault::Status(403), 1);
    let p = provider(&emu);
    let e = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("Policy doesn't allow"), "{e}");
    assert!(!e.contains('<') && !e.contains("\n"), "{e}");
    assert_eq!(emu.count("nova.create_server"), 0);
}

/// Real Nova (Debian 12's, `openstack_real.rs`): creates that reach the
/// API together all pass its quota check, and the conductor's recheck puts
/// the one past the quota in ERROR with a quota fault. The provider treats
/// that as a quota answer and deletes the server, so the cloud holds only
/// the VMs that run.
#[tokio::test]
async fn novas_quota_recheck_is_a_quota_failure_and_the_server_is_deleted() {
    let emu = OstEmu::start(EmuConfig {
        instance_quota: Some(2),
        quota_recheck: true,
        ..EmuConfig::default()
    })
    .await;
    let p = provider(&emu);
    let mut ids = Vec::new();
    for (node, token) in [("wn-1", TOKEN_A), ("wn-2", TOKEN_B), ("wn-3", TOKEN_C)] {
        ids.push(p.create_vm(&request("web", node, token)).await.unwrap().id);
    }
    assert_eq!(emu.servers().len(), 3, "the API accepted all three");
    let mut running = 0;
    let mut quota = Vec::new();
    for id in &ids {
        match p.wait_running("web", id).await {
            Ok(_) => running += 1,
            Err(ProviderError::Quota(m)) => quota.push(m),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(running, 2);
    assert_eq!(quota.len(), 1, "{quota:?}");
    assert!(
        quota[0].contains("Quota exceeded for instances"),
        "{quota:?}"
    );
    // The ERROR server is deleted (gone after the emulator's delete delay).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while emu.servers().len() > 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = emu.servers();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|s| s.status == "ACTIVE"), "{left:?}");
    assert_eq!(emu.count("nova.delete_server"), 1);
}

/// Real Neutron refuses a floating IP for a port whose network no router
/// joins to the external network (`404 ExternalGatewayForFloatingIPNotFound`,
/// found against Debian 12's Neutron 21): a final error that says what to
/// set up, not a missing VM; no floating IP is left.
#[tokio::test]
async fn a_floating_ip_without_a_router_is_final_and_says_so() {
    let config = EmuConfig::default();
    let private = config
        .networks
        .iter()
        .find(|n| !n.external)
        .unwrap()
        .id
        .clone();
    let emu = OstEmu::start(EmuConfig {
        unrouted: vec![private],
        ..config
    })
    .await;
    let p = provider(&emu);
    let id = p
        .create_vm(&request("web", "front", TOKEN_A))
        .await
        .unwrap()
        .id;
    let e = p.wait_running("web", &id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Final(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("ExternalGatewayForFloatingIPNotFound"),
        "{text}"
    );
    assert!(text.contains("no router joins"), "{text}");
    assert!(emu.floating_ips().is_empty());
}
