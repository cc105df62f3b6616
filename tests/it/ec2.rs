//! The EC2 provider against moto (`moto_server`, started per test on
//! 127.0.0.1; skipped with a message when moto is not installed): clusters
//! of 1 and 20 VMs through the `nubo` binary (launch, list, show, stop,
//! restart, destroy), `destroy --force` with the state gone, refused
//! credentials, and the provider itself: idempotent create, instance type,
//! tags, security group rules, key pair, spot. moto's addresses lead
//! nowhere, so the descriptions configure nothing (`contextualize ()`).
//!
//! What moto holds is read with the SDK directly (DescribeInstances,
//! DescribeSecurityGroups, DescribeKeyPairs, no filters), not through the
//! provider's own filtered listing.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::moto::Moto;
use nubo::auth;
use nubo::provider::ec2::{Ec2, Ec2Options};
use nubo::provider::{Provider, ProviderError, VmStatus};

/// An AMI moto knows in every region.
const AMI: &str = "ami-12c6146b";
const REGION: &str = "us-east-1";

fn options() -> Ec2Options {
    Ec2Options {
        call_timeout: Duration::from_secs(20),
        call_attempts: 2,
        poll_interval: Duration::from_millis(50),
        boot_timeout: Duration::from_secs(30),
    }
}

fn auth_line(moto: &Moto) -> String {
    format!(
        "id = ec2; type = EC2; host = {}; username = AKIDNUBOTEST; password = 'nubo-secret-key'\n",
        moto.endpoint()
    )
}

fn provider(moto: &Moto) -> Ec2 {
    let file = auth::parse("auth.dat", &auth_line(moto), Path::new(".")).unwrap();
    Ec2::with_options(file.by_id("ec2").unwrap(), options()).unwrap()
}

/// What moto holds that carries `cluster`'s tag, asked without filters.
#[derive(Debug, Default, PartialEq)]
struct Held {
    /// Instances not terminated: (id, state).
    instances: Vec<(String, String)>,
    groups: Vec<String>,
    keys: Vec<String>,
}

async fn held(p: &Ec2, cluster: &str) -> Held {
    let c = p.client(REGION);
    let marked = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("nubo:cluster") && t.value() == Some(cluster))
    };
    let mut out = Held::default();
    let instances = c.describe_instances().send().await.unwrap();
    for r in instances.reservations() {
        for i in r.instances() {
            let state = i.state().and_then(|s| s.name()).unwrap().as_str();
            if marked(i.tags()) && state != "terminated" {
                out.instances
                    .push((i.instance_id().unwrap().into(), state.into()));
            }
        }
    }
    let groups = c.describe_security_groups().send().await.unwrap();
    for g in groups.security_groups() {
        if marked(g.tags()) || g.group_name() == Some(&format!("nubo-{cluster}")) {
            out.groups.push(g.group_id().unwrap().into());
        }
    }
    let keys = c.describe_key_pairs().send().await.unwrap();
    for k in keys.key_pairs() {
        if marked(k.tags())
            || k.key_name()
                .unwrap()
                .starts_with(&format!("nubo-{cluster}-"))
        {
            out.keys.push(k.key_name().unwrap().into());
        }
    }
    out
}

async fn nubo(dir: &Path, args: &[&str]) -> Output {
    let mut c = crate::support::nubo_in(dir);
    c.args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_EC2");
    // A workspace may say where EC2 is through the environment instead.
    if let Ok(vars) = std::fs::read_to_string(dir.join("env")) {
        for line in vars.lines() {
            if let Some((k, v)) = line.split_once('=') {
                c.env(k, v);
            }
        }
    }
    tokio::process::Command::from(c)
        .output()
        .await
        .expect("run nubo")
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    let out = nubo(dir, args).await;
    assert!(
        out.status.success(),
        "nubo {args:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A front end on a public network with `outports`, `workers` nodes on a
/// private one.
fn cluster_radl(workers: u32) -> String {
    format!(
        "network public (outbound = 'yes' and outports = '80,8000:8010/tcp,53/udp')\n\
         network private ()\n\
         system front (cpu.count >= 2 and memory.size >= 2g and \
           net_interface.0.connection = 'public' and net_interface.1.connection = 'private' and \
           disk.0.image.url = 'aws://{REGION}/{AMI}')\n\
         system wn (cpu.count >= 1 and memory.size >= 1g and \
           net_interface.0.connection = 'private' and \
           disk.0.image.url = 'aws://{REGION}/{AMI}')\n\
         contextualize ()\n\
         deploy front 1\n\
         deploy wn {workers}\n"
    )
}

fn workspace(moto: &Moto, workers: u32) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("cluster.radl"), cluster_radl(workers)).unwrap();
    std::fs::write(tmp.path().join("auth.dat"), auth_line(moto)).unwrap();
    tmp
}

/// Launch, list, show (without `-a`), stop, restart, destroy, with moto
/// checked after each step.
async fn life_cycle(moto: &Moto, workers: u32, endpoint_from_env: bool) {
    let tmp = workspace(moto, workers);
    let dir = tmp.path();
    if endpoint_from_env {
        // No `host`: AWS_ENDPOINT_URL_EC2 says where EC2 is, and wins
        // over AWS_ENDPOINT_URL (a port nothing listens on).
        let line = auth_line(moto).replace(&format!("host = {}; ", moto.endpoint()), "");
        assert!(!line.contains("host"));
        std::fs::write(dir.join("auth.dat"), line).unwrap();
        std::fs::write(
            dir.join("env"),
            format!(
                "AWS_ENDPOINT_URL=http://127.0.0.1:9\nAWS_ENDPOINT_URL_EC2={}\n",
                moto.endpoint()
            ),
        )
        .unwrap();
    }
    let p = provider(moto);
    let n = (workers + 1) as usize;
    ok(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    let h = held(&p, "c1").await;
    assert_eq!(h.instances.len(), n, "{h:?}");
    assert!(h.instances.iter().all(|(_, s)| s == "running"), "{h:?}");
    assert_eq!(h.groups.len(), 1, "one group for the cluster: {h:?}");
    assert_eq!(h.keys.len(), 1, "the cluster key: {h:?}");
    one_call_per_system(&p, dir, workers).await;

    let list = ok(dir, &["list"]).await;
    assert!(list.contains("c1") && list.contains("running"), "{list}");
    let show = |expect: &'static str| async move {
        let text = ok(dir, &["show", "c1", "--json"]).await;
        let shown: serde_json::Value = serde_json::from_str(&text).unwrap();
        let vms = shown["vms"].as_array().unwrap().clone();
        assert_eq!(vms.len(), n);
        assert!(
            vms.iter()
                .all(|v| v["provider"] == "ec2" && v["state"] == expect),
            "{vms:#?}"
        );
        assert!(
            !text.contains("nubo-secret-key"),
            "show never prints a secret"
        );
        vms
    };
    let vms = show("running").await;
    assert!(
        vms.iter()
            .all(|v| !v["addresses"].as_array().unwrap().is_empty()),
        "{vms:#?}"
    );
    ok(dir, &["stop", "c1"]).await;
    show("stopped").await;
    let h = held(&p, "c1").await;
    assert!(h.instances.iter().all(|(_, s)| s == "stopped"), "{h:?}");
    ok(dir, &["restart", "c1"]).await;
    show("running").await;
    let h = held(&p, "c1").await;
    assert!(h.instances.iter().all(|(_, s)| s == "running"), "{h:?}");
    ok(dir, &["destroy", "c1", "-y"]).await;
    assert_eq!(held(&p, "c1").await, Held::default());
    assert!(!ok(dir, &["list"]).await.contains("c1"));
}

/// Identical VMs are made by one RunInstances call: the workers share one
/// reservation, the front-end has its own; and each VM nubo recorded for a
/// node is the instance whose launch index names that node in the call's
/// `nubo:batch:K` tags, as the provider reads it back.
async fn one_call_per_system(p: &Ec2, dir: &Path, workers: u32) {
    let out = p.client(REGION).describe_instances().send().await.unwrap();
    let mut sizes: Vec<usize> = out
        .reservations()
        .iter()
        .map(|r| {
            r.instances()
                .iter()
                .filter(|i| {
                    i.tags()
                        .iter()
                        .any(|t| t.key() == Some("nubo:cluster") && t.value() == Some("c1"))
                })
                .count()
        })
        .filter(|n| *n > 0)
        .collect();
    sizes.sort();
    let mut want = vec![1];
    if workers > 0 {
        want.push(workers as usize);
    }
    want.sort();
    assert_eq!(sizes, want, "instances per RunInstances call");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["show", "c1", "--json"]).await).unwrap();
    let recorded: std::collections::BTreeMap<String, String> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["node"].as_str().unwrap().to_string(),
                v["provider_vm_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let read: std::collections::BTreeMap<String, String> = p
        .list_vms("c1")
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.node.unwrap(), v.id))
        .collect();
    assert_eq!(recorded, read);
}

/// Regression: `nubo stop` then `nubo reconfigure` made a second instance
/// for every node and left the stopped ones on EC2 unrecorded. Now the
/// stopped instances are started: moto holds exactly the recorded ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_then_reconfigure_on_ec2_leaves_exactly_the_recorded_vms() {
    let Some(moto) = Moto::start() else { return };
    let tmp = workspace(&moto, 2);
    let dir = tmp.path();
    let p = provider(&moto);
    ok(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    ok(dir, &["stop", "c1"]).await;
    ok(dir, &["reconfigure", "c1"]).await;
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["show", "c1", "--json"]).await).unwrap();
    let mut recorded: Vec<String> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let id = v["provider_vm_id"].as_str().unwrap();
            id.rsplit('/').next().unwrap().to_string()
        })
        .collect();
    recorded.sort();
    let h = held(&p, "c1").await;
    let mut on_ec2: Vec<String> = h.instances.iter().map(|(id, _)| id.clone()).collect();
    on_ec2.sort();
    assert_eq!(
        on_ec2, recorded,
        "moto holds exactly the recorded instances"
    );
    assert!(h.instances.iter().all(|(_, s)| s == "running"), "{h:?}");
    ok(dir, &["destroy", "c1", "-y"]).await;
    assert_eq!(held(&p, "c1").await, Held::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_one_vm_through_the_cli() {
    let Some(moto) = Moto::start() else { return };
    life_cycle(&moto, 0, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_twenty_vms_through_the_cli() {
    let Some(moto) = Moto::start() else { return };
    life_cycle(&moto, 19, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_destroy_force_without_state() {
    let Some(moto) = Moto::start() else { return };
    let tmp = workspace(&moto, 2);
    let dir = tmp.path();
    let p = provider(&moto);
    ok(
        dir,
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    // Another cluster's instance, which the sweep must leave alone.
    ok(
        dir,
        &["launch", "other", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    assert_eq!(held(&p, "c1").await.instances.len(), 3);
    std::fs::remove_dir_all(dir.join("state")).unwrap();
    // Without the state, plain destroy knows no such cluster.
    let out = nubo(dir, &["destroy", "c1", "-y", "-a", "auth.dat"]).await;
    assert!(!out.status.success());
    let out = ok(dir, &["destroy", "c1", "-y", "--force", "-a", "auth.dat"]).await;
    assert_eq!(held(&p, "c1").await, Held::default(), "{out}");
    let other = held(&p, "other").await;
    assert_eq!(other.instances.len(), 3, "{other:?}");
    assert_eq!((other.groups.len(), other.keys.len()), (1, 1));
    p.destroy_cluster("other").await.unwrap();
    assert_eq!(held(&p, "other").await, Held::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_refused_credentials() {
    // With IAM checks on from the first call, moto refuses keys it does
    // not know: EC2's AuthFailure.
    let Some(moto) = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]) else {
        return;
    };
    let p = provider(&moto);
    let e = p.check().await.unwrap_err();
    assert!(matches!(e, ProviderError::Auth(_)), "{e:?}");
    assert!(!e.to_string().contains("nubo-secret-key"), "{e}");
    let tmp = workspace(&moto, 0);
    let out = nubo(
        tmp.path(),
        &["launch", "c1", "cluster.radl", "-a", "auth.dat", "-y"],
    )
    .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains("nubo-secret-key"), "{err}");
}

/// A real OpenSSH public key, as a launch makes (moto checks the format).
fn public_key(dir: &Path) -> String {
    let key = dir.join("id_ed25519");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "nubo-test", "-f"])
        .arg(&key)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ssh-keygen (openssh-client) makes a key");
    std::fs::read_to_string(key.with_extension("pub")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_provider_create_is_idempotent_and_tagged() {
    let Some(moto) = Moto::start() else { return };
    let p = provider(&moto);
    p.check().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let radl = cluster_radl(1);
    let mut req = crate::support::vm_request(&radl, "c2", "front", "tok-front");
    req.public_key = public_key(tmp.path());

    let net = req.networks[0].clone();
    let group = p
        .ensure_network("c2", &net, "tok-net")
        .await
        .unwrap()
        .unwrap();
    let first = p.create_vm(&req).await.unwrap();
    assert!(first.id.starts_with("us-east-1/i-"), "{first:?}");
    assert_eq!(first.node.as_deref(), Some("front"));
    // The same request again (a retried create): the same instance.
    let again = p.create_vm(&req).await.unwrap();
    assert_eq!(again.id, first.id);
    let running = p.wait_running("c2", &first.id).await.unwrap();
    assert_eq!(running.status, VmStatus::Running);
    assert!(!running.addresses.is_empty());
    let listed = p.list_vms("c2").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].token.as_deref(), Some("tok-front"));

    let c = p.client(REGION);
    let instance_id = first.id.split_once('/').unwrap().1;
    let d = c
        .describe_instances()
        .instance_ids(instance_id)
        .send()
        .await
        .unwrap();
    let i = &d.reservations()[0].instances()[0];
    // cpu.count >= 2, memory.size >= 2g: the catalog's cheapest.
    assert_eq!(i.instance_type().unwrap().as_str(), "t3a.small");
    let tag = |k: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
            .map(str::to_string)
    };
    assert_eq!(tag("nubo:cluster").as_deref(), Some("c2"));
    assert_eq!(tag("nubo:node").as_deref(), Some("front"));
    assert_eq!(tag("Name").as_deref(), Some("nubo-c2-front"));
    assert_eq!(
        i.security_groups()
            .iter()
            .filter_map(|g| g.group_id())
            .collect::<Vec<_>>(),
        [group.as_str()]
    );
    let key = i.key_name().expect("the cluster's key pair").to_string();
    assert!(key.starts_with("nubo-c2-"), "{key}");

    // The group: the cluster itself, SSH, and the public network's outports.
    let g = c
        .describe_security_groups()
        .group_ids(&group)
        .send()
        .await
        .unwrap();
    let mut rules: Vec<String> = g.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| {
            let head = format!(
                "{} {}-{}",
                p.ip_protocol().unwrap_or_default(),
                p.from_port().unwrap_or_default(),
                p.to_port().unwrap_or_default()
            );
            p.ip_ranges()
                .iter()
                .map(|r| format!("{head} {}", r.cidr_ip().unwrap_or_default()))
                .chain(
                    p.user_id_group_pairs()
                        .iter()
                        .map(|_| format!("{head} self")),
                )
                .collect::<Vec<_>>()
        })
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "tcp 0-65535 self",
            "tcp 22-22 0.0.0.0/0",
            "tcp 80-80 0.0.0.0/0",
            "tcp 8000-8010 0.0.0.0/0",
            "udp 0-65535 self",
            "udp 53-53 0.0.0.0/0",
        ]
    );

    // Stop and start; an instance of another cluster is not found through
    // this one, and is left alone by its sweep.
    p.stop_vm("c2", &first.id).await.unwrap();
    assert_eq!(
        p.vm_info("c2", &first.id).await.unwrap().unwrap().status,
        VmStatus::Stopped
    );
    let started = p.start_vm("c2", &first.id).await.unwrap();
    assert_eq!(started.status, VmStatus::Running);
    assert_eq!(p.vm_info("c3", &first.id).await.unwrap(), None);
    p.destroy_vm("c3", &first.id).await.unwrap();
    p.destroy_cluster("c3").await.unwrap();
    assert_eq!(held(&p, "c2").await.instances.len(), 1);

    p.destroy_vm("c2", &first.id).await.unwrap();
    p.destroy_vm("c2", &first.id).await.unwrap();
    assert_eq!(p.vm_info("c2", &first.id).await.unwrap(), None);
    p.destroy_cluster("c2").await.unwrap();
    assert_eq!(held(&p, "c2").await, Held::default());
    let e = p.stop_vm("c2", &first.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_provider_spot_and_requests_it_cannot_serve() {
    let Some(moto) = Moto::start() else { return };
    let p = provider(&moto);
    let radl = format!(
        "network public (outbound = 'yes')\n\
         system s (spot = 'yes' and instance_type = 'm5.large' and \
           disk.0.size >= 20Gi and disk.0.type = 'gp3' and \
           net_interface.0.connection = 'public' and \
           disk.0.image.url = 'aws://{REGION}/{AMI}')\n\
         deploy s 1\n"
    );
    // The test key is not a key EC2 can import: the user data alone
    // carries it, and the launch goes on.
    let req = crate::support::vm_request(&radl, "c4", "s-0", "tok-s");
    let vm = p.create_vm(&req).await.unwrap();
    let c = p.client(REGION);
    let d = c
        .describe_instances()
        .instance_ids(vm.id.split_once('/').unwrap().1)
        .send()
        .await
        .unwrap();
    let i = &d.reservations()[0].instances()[0];
    assert_eq!(
        i.instance_lifecycle().map(|l| l.as_str()),
        Some("spot"),
        "a spot instance"
    );
    assert_eq!(i.instance_type().unwrap().as_str(), "m5.large");
    assert_eq!(i.key_name(), None);
    // The root volume as `disk.0.size` and `disk.0.type` ask, tagged.
    let root = i
        .block_device_mappings()
        .iter()
        .find(|m| m.device_name() == i.root_device_name())
        .and_then(|m| m.ebs())
        .and_then(|e| e.volume_id())
        .expect("a root volume")
        .to_string();
    let v = c.describe_volumes().volume_ids(&root).send().await.unwrap();
    let v = &v.volumes()[0];
    assert_eq!(v.size(), Some(20));
    assert_eq!(v.volume_type().map(|t| t.as_str()), Some("gp3"));
    assert!(
        v.tags()
            .iter()
            .any(|t| t.key() == Some("nubo:cluster") && t.value() == Some("c4")),
        "{v:?}"
    );
    let e = p.stop_vm("c4", &vm.id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unsupported(_)), "{e:?}");

    // Requests refused before any call that makes something.
    let too_big = radl.replace(
        "spot = 'yes' and instance_type = 'm5.large'",
        "cpu.count >= 500",
    );
    let no_image = radl.replace(AMI, "ami-0000000000000000a");
    let e = p
        .create_vm(&crate::support::vm_request(&no_image, "c4", "s-4", "t4"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Final(m) if m.contains("ami-0000000000000000a")),
        "{e:?}"
    );
    let e = p
        .create_vm(&crate::support::vm_request(&too_big, "c4", "s-1", "t1"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Final(m) if m.contains("cpu.count >= 500")),
        "{e:?}"
    );
    let bad_image = radl.replace(&format!("aws://{REGION}/{AMI}"), "aws://us-east-1/img-1");
    let e = p
        .create_vm(&crate::support::vm_request(&bad_image, "c4", "s-2", "t2"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Final(m) if m.contains("aws://REGION/ami-ID")),
        "{e:?}"
    );
    let bad_subnet = radl.replace(
        "outbound = 'yes'",
        "outbound = 'yes' and provider_id = 'net0'",
    );
    let e = p
        .create_vm(&crate::support::vm_request(&bad_subnet, "c4", "s-3", "t3"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Final(m) if m.contains("`net0`")),
        "{e:?}"
    );
    assert_eq!(held(&p, "c4").await.instances.len(), 1);
    p.destroy_cluster("c4").await.unwrap();
    assert_eq!(held(&p, "c4").await, Held::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_provider_subnets_and_regions() {
    let Some(moto) = Moto::start() else { return };
    let p = provider(&moto);
    // A VPC and a subnet of its own, as a user's account would have.
    let c = p.client(REGION);
    let vpc = c
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .send()
        .await
        .unwrap()
        .vpc()
        .unwrap()
        .vpc_id()
        .unwrap()
        .to_string();
    let subnet = c
        .create_subnet()
        .vpc_id(&vpc)
        .cidr_block("10.42.1.0/24")
        .send()
        .await
        .unwrap()
        .subnet()
        .unwrap()
        .subnet_id()
        .unwrap()
        .to_string();
    let radl = |pid: &str, public: bool, region: &str| {
        format!(
            "network n (outbound = '{}' and provider_id = '{pid}')\n\
             system s (net_interface.0.connection = 'n' and \
               disk.0.image.url = 'aws://{region}/{AMI}')\n\
             deploy s 1\n",
            if public { "yes" } else { "no" }
        )
    };
    let instance = |id: &str| {
        let (region, i) = id.split_once('/').unwrap();
        let (region, i) = (region.to_string(), i.to_string());
        let p = &p;
        async move {
            p.client(&region)
                .describe_instances()
                .instance_ids(i)
                .send()
                .await
                .unwrap()
                .reservations()[0]
                .instances()[0]
                .clone()
        }
    };
    // IM's `vpc-X.subnet-Y` on a public network: a network interface in
    // the subnet with a public address, the group made in that VPC.
    let public = p
        .create_vm(&crate::support::vm_request(
            &radl(&format!("{vpc}.{subnet}"), true, REGION),
            "c5",
            "s-0",
            "t0",
        ))
        .await
        .unwrap();
    let i = instance(&public.id).await;
    assert_eq!(i.subnet_id(), Some(subnet.as_str()));
    assert_eq!(i.vpc_id(), Some(vpc.as_str()));
    let running = p.wait_running("c5", &public.id).await.unwrap();
    assert!(
        running.addresses.iter().any(|a| a.starts_with("10.42.1.")),
        "{running:?}"
    );
    // A bare subnet id on a private network: its VPC is looked up.
    let private = p
        .create_vm(&crate::support::vm_request(
            &radl(&subnet, false, REGION),
            "c5",
            "s-1",
            "t1",
        ))
        .await
        .unwrap();
    let i = instance(&private.id).await;
    assert_eq!(i.subnet_id(), Some(subnet.as_str()));
    let groups: Vec<_> = i
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .collect();
    assert_eq!(groups.len(), 1);
    // Another region: the id says where, and the sweep finds it there.
    let far = p
        .create_vm(&crate::support::vm_request(
            &format!("system s (disk.0.image.url = 'aws://eu-west-1/{AMI}')\ndeploy s 1\n"),
            "c5",
            "s-2",
            "t2",
        ))
        .await
        .unwrap();
    assert!(far.id.starts_with("eu-west-1/i-"), "{far:?}");
    assert_eq!(
        instance(&far.id)
            .await
            .placement()
            .unwrap()
            .availability_zone()
            .map(|z| z.starts_with("eu-west-1")),
        Some(true)
    );
    let mut listed: Vec<String> = p
        .list_vms("c5")
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.id)
        .collect();
    listed.sort();
    let mut made = vec![public.id.clone(), private.id.clone(), far.id.clone()];
    made.sort();
    assert_eq!(listed, made);
    p.destroy_cluster("c5").await.unwrap();
    assert!(p.list_vms("c5").await.unwrap().is_empty());
    assert_eq!(held(&p, "c5").await, Held::default());
    let eu = p.client("eu-west-1");
    let left = eu
        .describe_security_groups()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:nubo:cluster")
                .values("c5")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(left.security_groups().is_empty(), "{left:?}");
}

/// What an EC2 endpoint that answers every call with one error does to
/// the provider: the SDK reads EC2's error document, and nubo classifies
/// it; throttling is retried (the SDK's attempts), a quota is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_errors_are_classified_from_ec2_answers() {
    use bytes::Bytes;
    use http_body_util::Full;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn answering(
        status: u16,
        body: String,
    ) -> (Ec2, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let (addr, task) = nubo::testcloud::emu::serve(move |_, _req| {
            let counted = counted.clone();
            let body = Bytes::from(body.clone());
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(hyper::Response::builder()
                    .status(status)
                    .header("content-type", "text/xml")
                    .body(Full::new(body))
                    .unwrap())
            }
        })
        .await;
        let line = format!(
            "id = ec2; type = EC2; host = http://{addr}; username = AKID; password = 'nubo-secret-key'\n"
        );
        let file = auth::parse("auth.dat", &line, Path::new(".")).unwrap();
        let p = Ec2::with_options(file.by_id("ec2").unwrap(), options()).unwrap();
        (p, calls, task)
    }
    fn error(code: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>the message of {code}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
        )
    }
    let cases: Vec<(u16, String, &str, usize)> = vec![
        (400, error("InstanceLimitExceeded"), "quota", 1),
        (400, error("VcpuLimitExceeded"), "quota", 1),
        (401, error("AuthFailure"), "auth", 1),
        (403, error("UnauthorizedOperation"), "auth", 1),
        (400, error("InvalidInstanceID.NotFound"), "not found", 1),
        (400, error("InvalidParameterValue"), "final", 1),
        (503, error("RequestLimitExceeded"), "transient", 2),
        (500, error("InternalError"), "transient", 2),
        (
            502,
            "<html><body>Bad Gateway</body></html>".to_string(),
            "transient",
            2,
        ),
    ];
    for (status, body, class, attempts) in cases {
        let (p, calls, task) = answering(status, body.clone()).await;
        let e = p.check().await.unwrap_err();
        let got = match &e {
            ProviderError::Quota(_) => "quota",
            ProviderError::Auth(_) => "auth",
            ProviderError::NotFound(_) => "not found",
            ProviderError::Final(_) => "final",
            ProviderError::Transient(_) => "transient",
            ProviderError::Unsupported(_) => "unsupported",
        };
        assert_eq!(got, class, "{status} {body}: {e}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            attempts,
            "{status} {body}: calls made"
        );
        if body.contains("<Code>") {
            let code = body
                .split("<Code>")
                .nth(1)
                .unwrap()
                .split('<')
                .next()
                .unwrap();
            assert!(e.to_string().contains(code), "{e}");
        }
        assert!(!e.to_string().contains("nubo-secret-key"));
        task.abort();
    }
    // Nothing listening: transient.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let line = format!(
        "id = ec2; type = EC2; host = http://127.0.0.1:{port}; username = AKID; password = sk\n"
    );
    let file = auth::parse("auth.dat", &line, Path::new(".")).unwrap();
    let p = Ec2::with_options(file.by_id("ec2").unwrap(), options()).unwrap();
    let e = p.check().await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

/// nubo killed (SIGKILL) right after EC2 made a VM and before the state
/// recorded it, at two points; each time the same launch run again ends
/// with exactly the requested instances (the one made before the kill
/// found again by its token tag, none made twice), and destroy leaves
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_launch_killed_halfway_converges() {
    let Some(moto) = Moto::start() else { return };
    let p = provider(&moto);
    // (cluster, crash point, instances EC2 holds at least when it fires)
    for (cluster, point, made) in [("k1", "vm-created:2", 2), ("k2", "vm-intent:3", 0)] {
        let tmp = workspace(&moto, 3);
        let dir = tmp.path();
        let mut c = crate::support::nubo_in(dir);
        c.args(["launch", cluster, "cluster.radl", "-a", "auth.dat", "-y"])
            .env("NUBO_TEST_KILL_AT", point)
            .env("NUBO_LOG", "warn");
        let out = tokio::process::Command::from(c)
            .output()
            .await
            .expect("run nubo");
        assert!(
            !out.status.success(),
            "killed at {point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let during = held(&p, cluster).await.instances.len();
        assert!((made..=4).contains(&during), "{point}: {during}");
        ok(
            dir,
            &["launch", cluster, "cluster.radl", "-a", "auth.dat", "-y"],
        )
        .await;
        let h = held(&p, cluster).await;
        assert_eq!(h.instances.len(), 4, "{point}: {h:?}");
        assert!(h.instances.iter().all(|(_, s)| s == "running"), "{h:?}");
        let shown: serde_json::Value =
            serde_json::from_str(&ok(dir, &["show", cluster, "--json"]).await).unwrap();
        let mut ids: Vec<String> = shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["provider_vm_id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        let mut held_ids: Vec<String> = h
            .instances
            .iter()
            .map(|(id, _)| format!("{REGION}/{id}"))
            .collect();
        held_ids.sort();
        assert_eq!(ids, held_ids, "{point}: the state records what EC2 holds");
        ok(dir, &["destroy", cluster, "-y"]).await;
        assert_eq!(held(&p, cluster).await, Held::default(), "{point}");
    }
}
