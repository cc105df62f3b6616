//! The shipped `slurm`, `nfs` and `local` templates end to end on the
//! local provider, through the binary: `nubo launch c1 slurm nfs local`
//! gives a SLURM cluster whose jobs run on a worker, with one /home on
//! every node and ssh between nodes; the cluster grows by a worker (at the
//! ops level, as the elasticity daemon will: the recorded description gets
//! `deploy wn 2` and the configuration walk runs again), which becomes
//! IDLE and takes a job without slurmctld restarting; it shrinks again
//! (the worker's slot DOWN, jobs still accepted); `destroy` leaves nothing,
//! no slurmctld, slurmd, munged or sshfs among it.
//!
//! Needs root and what `scripts/install-local-deps.sh` installs (SLURM,
//! munge, sshfs). Prints a timeline.

use crate::support::testcloud::{self as tc, Guard, new_cloud, reachable_from_here};
use crate::support::{local, skip_or_fail};
use nubo::ops::context::{self, ContextInput};
use nubo::ops::env::{Env, EnvOptions};
use nubo::ops::launch;
use nubo::ops::observer::Silent;
use nubo::ops::recipes::RecipeDirs;
use nubo::ops::templates::{self, TemplateSearch};
use nubo::provider::local::LocalProvider;
use nubo::testcloud::TestCloud;
use nubo::testcloud::emu::opennebula::{self as one, OneEmu};
use nubo::testcloud::emu::openstack::{self as ost, OstEmu};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TEMPLATES: [&str; 3] = ["slurm", "nfs", "local"];

/// The daemons the cluster runs; none may outlive `destroy`.
const DAEMONS: [&str; 5] = ["slurmctld", "slurmd", "munged", "sshfs", "busybox"];

fn can_run() -> bool {
    if let Err(e) = LocalProvider::check_host() {
        skip_or_fail(&format!("the local provider cannot run here: {e}"));
        return false;
    }
    for (tool, package) in [
        ("ssh", "openssh-client"),
        ("busybox", "busybox"),
        ("slurmctld", "slurmctld"),
        ("slurmd", "slurmd"),
        ("sinfo", "slurm-client"),
        ("munged", "munge"),
        ("sshfs", "sshfs"),
    ] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            skip_or_fail(&format!(
                "no {tool}: run scripts/install-local-deps.sh (apt-get install {package})"
            ));
            return false;
        }
    }
    if !std::path::Path::new("/dev/fuse").exists() {
        skip_or_fail("no /dev/fuse: the shared /home (sshfs) needs FUSE");
        return false;
    }
    local::sweep_stale();
    true
}

/// A state directory and a local-provider root of its own; the cluster is
/// destroyed when dropped.
struct Cluster {
    home: PathBuf,
    root: PathBuf,
    name: String,
    start: Instant,
    timeline: Vec<(Duration, String)>,
    /// The OpenStack test cloud the cluster is on, if not the local
    /// provider; dropped after the cluster is destroyed.
    cloud: Option<OstCloud>,
    /// The OpenNebula test cloud, likewise.
    one: Option<OneCloud>,
    /// moto with test-cloud hosts behind its instances, likewise.
    #[cfg(feature = "ec2")]
    moto: Option<MotoCloud>,
    /// Real OpenStack with test-cloud hosts behind Nova's servers,
    /// likewise.
    real_ost: Option<RealOstCloud>,
}

/// Real OpenStack (`scripts/openstack-test-cloud.sh`: Debian's Keystone,
/// Nova with the fake driver, Neutron) with a test cloud's hosts behind
/// the servers of this cluster ([`nubo::testcloud::nova::NovaHosts`]),
/// plugged into the real cloud's own bridges, with the `nubo` project's
/// auth file and `site.radl` for the `openstack` images template.
struct RealOstCloud {
    hosts: nubo::testcloud::nova::NovaHosts,
    _rt: tokio::runtime::Runtime,
    _guard: Guard,
    test_cloud: TestCloud,
    test_cloud_root: PathBuf,
    auth: PathBuf,
    site: PathBuf,
    real: &'static crate::openstack_real::Real,
}

/// moto (EC2) with a test cloud's hosts behind its instances, in a VPC
/// and subnet on the test cloud's network (this machine reaches it, as
/// from inside the VPC), with an auth file and `site.radl` for the `ec2`
/// images template.
#[cfg(feature = "ec2")]
struct MotoCloud {
    hosts: nubo::testcloud::moto::MotoHosts,
    rt: tokio::runtime::Runtime,
    client: aws_sdk_ec2::Client,
    _moto: crate::support::moto::Moto,
    _guard: Guard,
    test_cloud: TestCloud,
    test_cloud_root: PathBuf,
    auth: PathBuf,
    site: PathBuf,
}

/// The OpenNebula emulator backed by a test cloud's hosts (virtual
/// networks 0 `public` and 1 `private`), with its auth file and
/// `site.radl` for the `opennebula` images template.
struct OneCloud {
    emu: OneEmu,
    _rt: tokio::runtime::Runtime,
    _guard: Guard,
    test_cloud: TestCloud,
    test_cloud_root: PathBuf,
    auth: PathBuf,
    site: PathBuf,
}

/// The OpenStack emulator backed by a test cloud's hosts, on a runtime of
/// its own (the tests here are synchronous), with an auth file for it
/// and `site.radl`, which points the `openstack` images template at its
/// image with the login user `cloudadm`.
struct OstCloud {
    emu: OstEmu,
    _rt: tokio::runtime::Runtime,
    _guard: Guard,
    test_cloud: TestCloud,
    test_cloud_root: PathBuf,
    auth: PathBuf,
    site: PathBuf,
}

impl Cluster {
    fn new() -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let unique = format!("slurm-{}-{nanos:x}", std::process::id());
        let dir = PathBuf::from(format!("/tmp/nubo-it-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        Cluster {
            home: dir.join("state"),
            root: dir.join("local"),
            name: format!("c1-{nanos:x}"),
            start: Instant::now(),
            timeline: Vec::new(),
            cloud: None,
            one: None,
            #[cfg(feature = "ec2")]
            moto: None,
            real_ost: None,
        }
    }

    /// A cluster to be launched on real OpenStack with hosts behind its
    /// servers; `None` when the real services are not switched on (then
    /// the skip is said).
    fn on_real_openstack() -> Option<Cluster> {
        use nubo::testcloud::Role;
        use nubo::testcloud::nova::{AdminAuth, NovaConfig, NovaHosts};
        let real = crate::openstack_real::real()?;
        let mut c = Cluster::new();
        let (guard, root, test_cloud) = new_cloud("slurm-nova");
        // The linuxbridge agent's bridges (bridge_mappings), where a
        // hypervisor would plug the servers.
        let private = test_cloud
            .adopt_network("private", Role::Private, "ostc-priv", 254)
            .unwrap();
        let public = test_cloud
            .adopt_network("public", Role::Public, "ostc-ext", 255)
            .unwrap();
        let clouds = std::fs::read_to_string(&real.clouds_yaml).unwrap();
        let auth = AdminAuth::from_clouds_yaml(&clouds, "nubo-admin").unwrap();
        let rt = cloud_runtime();
        let hosts = {
            let _enter = rt.enter();
            NovaHosts::start(
                test_cloud.clone(),
                NovaConfig {
                    auth,
                    networks: vec![("private".into(), private), ("public".into(), public)],
                    name_prefix: format!("nubo-{}-", c.name),
                    period: Duration::from_millis(500),
                },
            )
        };
        let dir = c.root.parent().unwrap().to_path_buf();
        let auth = write_auth(&dir, &format!("{}\n", real.auth_line));
        let image = format!(
            "disk.0.image.url = 'ost://127.0.0.1/{}' and disk.0.os.credentials.username = 'cloudadm'",
            real.image_id
        );
        let site_file = dir.join("site.radl");
        std::fs::write(
            &site_file,
            format!(
                "network public ( provider_id = 'public' )\nnetwork private ( provider_id = 'private' )\n\
                 system front ( {image} )\nsystem wn ( {image} )\n"
            ),
        )
        .unwrap();
        c.real_ost = Some(RealOstCloud {
            hosts,
            _rt: rt,
            _guard: guard,
            test_cloud,
            test_cloud_root: root,
            auth,
            site: site_file,
            real,
        });
        Some(c)
    }

    /// A cluster to be launched on moto backed by the test cloud; `wn`
    /// holds features of system `wn`. None when moto is not installed.
    #[cfg(feature = "ec2")]
    fn on_moto(wn: &str) -> Option<Cluster> {
        use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
        let moto = crate::support::moto::Moto::start()?;
        let mut c = Cluster::new();
        let (guard, root, test_cloud) = new_cloud("slurm-ec2");
        let net = test_cloud
            .network("vpc", nubo::testcloud::Role::Public)
            .unwrap();
        let rt = cloud_runtime();
        let region = "us-east-1";
        let client = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region))
                .credentials_provider(Credentials::new("AKIDNUBOTEST", "x", None, None, "test"))
                .endpoint_url(moto.endpoint())
                .build(),
        );
        let (vpc, subnet) = rt.block_on(async {
            let vpc = client
                .create_vpc()
                .cidr_block("10.250.0.0/16")
                .send()
                .await
                .unwrap()
                .vpc()
                .unwrap()
                .vpc_id()
                .unwrap()
                .to_string();
            let subnet = client
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(net.cidr())
                .send()
                .await
                .unwrap()
                .subnet()
                .unwrap()
                .subnet_id()
                .unwrap()
                .to_string();
            (vpc, subnet)
        });
        let hosts = {
            let _enter = rt.enter();
            nubo::testcloud::moto::MotoHosts::start(
                test_cloud.clone(),
                net,
                &moto.endpoint(),
                region,
                &subnet,
                Duration::from_millis(200),
            )
        };
        let dir = c.root.parent().unwrap().to_path_buf();
        let auth = write_auth(
            &dir,
            &format!(
                "id = ec2; type = EC2; host = {}; username = AKIDNUBOTEST; password = 'nubo-secret-key'\n",
                moto.endpoint()
            ),
        );
        let image = "disk.0.image.url = 'aws://us-east-1/ami-12c6146b' and disk.0.os.credentials.username = 'cloudadm'";
        let site_file = dir.join("site.radl");
        std::fs::write(
            &site_file,
            format!(
                "network private ( provider_id = '{vpc}.{subnet}' )\n\
                 system front ( {image} )\nsystem wn ( {image} and {wn} )\n"
            ),
        )
        .unwrap();
        c.moto = Some(MotoCloud {
            hosts,
            rt,
            client,
            _moto: moto,
            _guard: guard,
            test_cloud,
            test_cloud_root: root,
            auth,
            site: site_file,
        });
        Some(c)
    }

    /// A cluster to be launched on the OpenNebula test cloud; `wn` holds
    /// features of system `wn` for `site.radl`. The networks name their
    /// virtual networks (OpenNebula needs a `provider_id`), and the
    /// front-end's public interface comes first: nubo lists an OpenNebula
    /// VM's addresses public first by their range, then in NIC order, and
    /// the test cloud's public network is inside 10.250.0.0/16.
    fn on_opennebula(wn: &str) -> Cluster {
        let mut c = Cluster::new();
        let (guard, root, test_cloud) = new_cloud("slurm-one");
        let rt = cloud_runtime();
        let emu = rt.block_on(OneEmu::start(one::EmuConfig {
            hosts: Some(test_cloud.clone()),
            ..one::EmuConfig::default()
        }));
        let dir = c.root.parent().unwrap().to_path_buf();
        let auth = write_auth(
            &dir,
            &format!(
                "id = one; type = OpenNebula; host = {}; username = oneuser; password = 'onepass'\n",
                emu.endpoint()
            ),
        );
        let image = "disk.0.image.url = 'one://127.0.0.1/5' and disk.0.os.credentials.username = 'cloudadm'";
        let site_file = dir.join("site.radl");
        std::fs::write(
            &site_file,
            format!(
                "network public ( provider_id = 'public' )\nnetwork private ( provider_id = 'private' )\n\
                 system front ( {image} and net_interface.0.connection = 'public' and \
                 net_interface.1.connection = 'private' and net_interface.1.dns_name = 'front' )\n\
                 system wn ( {image} and {wn} )\n"
            ),
        )
        .unwrap();
        c.one = Some(OneCloud {
            emu,
            _rt: rt,
            _guard: guard,
            test_cloud,
            test_cloud_root: root,
            auth,
            site: site_file,
        });
        c
    }

    /// `nubo launch NAME slurm nfs openports opennebula --add site.radl -a
    /// auth.dat -y` on the OpenNebula test cloud.
    fn launch_on_opennebula(&self) {
        let cloud = self.one.as_ref().expect("a cluster on the test cloud");
        self.ok(&[
            "launch",
            &self.name,
            "slurm",
            "nfs",
            "openports",
            "opennebula",
            "--add",
            cloud.site.to_str().unwrap(),
            "-a",
            cloud.auth.to_str().unwrap(),
            "-y",
        ]);
    }

    /// A cluster to be launched on the OpenStack test cloud; `wn` holds
    /// features of system `wn` for `site.radl`, beside the image and login
    /// user.
    fn on_openstack(wn: &str) -> Cluster {
        let mut c = Cluster::new();
        let (guard, root, test_cloud) = new_cloud("slurm");
        let rt = cloud_runtime();
        let emu = rt.block_on(OstEmu::start(ost::EmuConfig {
            networks: vec![
                ost::network("a1e3b0c4-0000-4000-8000-000000000001", "public", true, ""),
                ost::network("a1e3b0c4-0000-4000-8000-000000000002", "private", false, ""),
            ],
            hosts: Some(test_cloud.clone()),
            ..ost::EmuConfig::default()
        }));
        let dir = c.root.parent().unwrap().to_path_buf();
        let auth = write_auth(
            &dir,
            &format!(
                "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default\n",
                emu.keystone()
            ),
        );
        let image = format!(
            "disk.0.image.url = 'ost://127.0.0.1/{}' and disk.0.os.credentials.username = 'cloudadm'",
            ost::IMAGE_ID
        );
        let site_file = dir.join("site.radl");
        std::fs::write(
            &site_file,
            format!("system front ( {image} )\nsystem wn ( {image} and {wn} )\n"),
        )
        .unwrap();
        c.cloud = Some(OstCloud {
            emu,
            _rt: rt,
            _guard: guard,
            test_cloud,
            test_cloud_root: root,
            auth,
            site: site_file,
        });
        c
    }

    /// `nubo launch NAME slurm nfs openports openstack --add site.radl -a
    /// auth.dat -y` on the test cloud.
    fn launch_on_openstack(&self) {
        let cloud = self.cloud.as_ref().expect("a cluster on the test cloud");
        self.ok(&[
            "launch",
            &self.name,
            "slurm",
            "nfs",
            "openports",
            "openstack",
            "--add",
            cloud.site.to_str().unwrap(),
            "-a",
            cloud.auth.to_str().unwrap(),
            "-y",
        ]);
    }

    fn mark(&mut self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("[{:7.2} s] {what}", self.start.elapsed().as_secs_f64());
        self.timeline.push((self.start.elapsed(), what));
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nubo"));
        c.args(args)
            .env("NUBO_HOME", &self.home)
            .env("NUBO_LOCAL_ROOT", &self.root)
            .env("NUBO_LOG", "warn")
            .env("XDG_CONFIG_HOME", self.root.with_file_name("config"))
            .env_remove("NUBO_TEST_KILL_AT")
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run nubo")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "nubo {args:?}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A shell command on a node, through `nubo ssh`.
    fn on(&self, node: &str, cmd: &str) -> String {
        self.ok(&["ssh", &self.name, node, "--", cmd])
    }

    fn env(&self) -> Env {
        Env::open(&EnvOptions {
            auth: None,
            state_dir: Some(self.home.clone()),
            local_root: Some(self.root.clone()),
        })
        .unwrap()
        .for_cluster(&self.name)
        .unwrap()
    }

    /// What the elasticity daemon does to change the number of workers:
    /// the recorded description gets `deploy wn COUNT`, and the cluster's
    /// configuration walk runs again (new VMs made, dropped ones
    /// destroyed, changed steps run).
    fn set_workers(&self, count: u32) {
        let env = self.env();
        let names: Vec<String> = TEMPLATES.iter().map(|t| t.to_string()).collect();
        let add = format!("deploy wn {count}\n");
        let composed = templates::compose(&TemplateSearch::default(), &names, Some(&add)).unwrap();
        assert!(!composed.has_errors(), "{:?}", composed.diagnostics);
        env.store
            .set_cluster_source(&self.name, &composed.record(), &composed.templates)
            .unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let report = rt
            .block_on(launch::reconfigure(
                &env,
                &launch::ReconfigureOptions {
                    name: self.name.clone(),
                    ..Default::default()
                },
                Arc::new(Silent),
            ))
            .unwrap();
        assert!(report.succeeded(), "walk to {count} worker(s) failed");
    }

    /// The host pids of the cluster's daemons (in its network namespaces).
    fn daemon_pids(&self) -> Vec<(u32, String)> {
        let inodes = local::netns_inodes(&self.name);
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
                continue;
            };
            let comm = comm.trim().to_string();
            let in_cluster = std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|m| inodes.contains(&m.ino()));
            if in_cluster && DAEMONS.contains(&comm.as_str()) {
                out.push((pid, comm));
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run(&["destroy", &self.name, "-y", "--force"]);
        if let Err(e) = LocalProvider::new(&self.root).destroy_cluster(&self.name) {
            eprintln!("cleanup of {}: {e}", self.name);
        }
        let _ = std::fs::remove_dir_all(self.root.parent().unwrap());
    }
}

/// Submits a job on the front-end and waits (up to 60 s, looking every
/// 0.1 s) until it left the queue; returns what it printed.
fn job(c: &Cluster, sbatch_args: &str) -> String {
    job_as(c, None, "/home", sbatch_args)
}

/// [`job`] as `user` (through sudo; the login user if `None`), its output
/// in `dir`, a shared directory that user can write.
fn job_as(c: &Cluster, user: Option<&str>, dir: &str, sbatch_args: &str) -> String {
    let script = format!(
        "cd {dir} && id=$(sbatch --parsable -o {dir}/job-%j.out {sbatch_args} --wrap hostname) && \
         for i in $(seq 600); do squeue -h -j $id | grep -q . || break; sleep 0.1; done && echo $id"
    );
    let out = c.on(
        "front",
        &match user {
            Some(u) => format!("sudo -u {u} sh -c '{script}'"),
            None => script,
        },
    );
    let id = out
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(id.parse::<u32>().is_ok(), "sbatch printed {out:?}");
    c.on(
        "front",
        &format!(
            "f={dir}/job-{id}.out; for i in $(seq 50); do [ -s $f ] && break; sleep 0.1; done; \
             cat $f; [ -s $f ] || {{ ls -la {dir}; scontrol show job {id}; }}"
        ),
    )
    .trim()
    .to_string()
}

/// The SLURM state of a node, as `sinfo` prints it.
fn node_state(c: &Cluster, node: &str) -> String {
    c.on("front", &format!("sinfo -h -N -n {node} -o %t"))
        .trim()
        .to_string()
}

/// Why a node is DOWN, as `sinfo` prints it.
fn reason(c: &Cluster, node: &str) -> String {
    c.on("front", &format!("sinfo -h -N -n {node} -o %E"))
        .trim()
        .to_string()
}

#[test]
fn slurm_nfs_local_runs_jobs_shares_home_grows_and_leaves_nothing() {
    if !can_run() {
        return;
    }
    let mut c = Cluster::new();
    let name = c.name.clone();

    // 1. Launch, through the binary, as the README says.
    c.mark(format!("launch {name} slurm nfs local"));
    let launched = c.run(&["launch", &name, "slurm", "nfs", "local", "-y"]);
    assert!(
        launched.status.success(),
        "launch: {}\n{}",
        launched.status,
        String::from_utf8_lossy(&launched.stderr)
    );
    let launch_time = c.start.elapsed();
    c.mark("launched: front and wn-1 configured");
    // 2. At once, a job submitted on the front-end runs on the worker.
    c.mark("sbatch --wrap hostname");
    assert_eq!(job(&c, ""), "wn-1");
    let first_job = c.start.elapsed();
    c.mark("first job done, on wn-1");
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let nodes: Vec<&str> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes, ["front", "wn-1"]);
    let steps = shown["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["status"] == "ok"), "{steps:#?}");

    // slurm.conf lists every worker slot; absent ones are DOWN, wn-1 IDLE.
    let conf = c.on("front", "cat /etc/slurm/slurm.conf");
    assert!(conf.contains(&format!("ClusterName={name}")), "{conf}");
    assert!(conf.contains("SlurmctldHost=front("), "{conf}");
    assert!(
        conf.contains("NodeName=wn-1,wn-2,wn-3 CPUs=1 RealMemory=488 "),
        "{conf}"
    );
    assert!(
        conf.contains("PartitionName=wn Nodes=wn-1,wn-2,wn-3 Default=YES"),
        "{conf}"
    );
    assert_eq!(
        conf,
        c.on("wn-1", "cat /etc/slurm/slurm.conf"),
        "the same slurm.conf"
    );
    assert_eq!(node_state(&c, "wn-1"), "idle");
    assert_eq!(node_state(&c, "wn-2"), "down~");
    assert_eq!(node_state(&c, "wn-3"), "down~");
    assert_eq!(reason(&c, "wn-3"), "nubo: no VM");

    // 3. `nubo ssh c1 front -- sbatch ...` as the README says.
    let out = c.ok(&["ssh", &name, "front", "--", "sbatch", "--wrap", "hostname"]);
    assert!(out.starts_with("Submitted batch job "), "{out}");

    // 4. One /home: each side sees what the other writes, with its owner.
    c.on("front", "echo from-front >/home/from-front.txt");
    assert_eq!(
        c.on("wn-1", "cat /home/from-front.txt").trim(),
        "from-front"
    );
    c.on("wn-1", "echo from-wn-1 >/home/from-wn-1.txt");
    assert_eq!(c.on("front", "cat /home/from-wn-1.txt").trim(), "from-wn-1");
    c.on(
        "wn-1",
        "su nubo -s /bin/sh -c 'echo mine >/home/nubo/mine.txt'",
    );
    assert_eq!(
        c.on("front", "stat -c '%U %s' /home/nubo/mine.txt").trim(),
        "nubo 5"
    );
    c.mark("/home shared both ways");

    // 5. root and nubo ssh between nodes without a prompt.
    assert_eq!(c.on("front", "ssh wn-1 hostname").trim(), "wn-1");
    assert_eq!(c.on("wn-1", "ssh front hostname").trim(), "front");
    assert_eq!(
        c.on("wn-1", "su nubo -s /bin/sh -c 'ssh front id -un'")
            .trim(),
        "nubo"
    );
    // munge: a credential made on one node is accepted on another.
    assert!(
        c.on("front", "munge -n | ssh wn-1 unmunge")
            .contains("STATUS:          Success (0)")
    );

    // 6. Grow to two workers as the elasticity daemon will: slurm.conf and
    //    slurmctld stay as they are; wn-2 becomes IDLE and takes a job.
    let ctld = c.on("front", "cat /run/slurmctld.pid");
    let grow = Instant::now();
    c.mark("grow: deploy wn 2, walk again");
    c.set_workers(2);
    let grow_time = grow.elapsed();
    c.mark("wn-2 configured");
    assert_eq!(node_state(&c, "wn-2"), "idle");
    assert_eq!(
        conf,
        c.on("front", "cat /etc/slurm/slurm.conf"),
        "slurm.conf changed"
    );
    assert_eq!(
        ctld,
        c.on("front", "cat /run/slurmctld.pid"),
        "slurmctld restarted"
    );
    assert!(
        c.on("front", "getent hosts wn-2").contains("wn-2"),
        "the front-end's /etc/hosts has wn-2"
    );
    assert_eq!(job(&c, "-w wn-2"), "wn-2");
    c.mark("a job ran on wn-2");
    assert_eq!(
        c.on("wn-2", "cat /home/from-front.txt").trim(),
        "from-front"
    );

    // 7. Shrink back: wn-2's VM goes, its slot is DOWN, and a job that
    //    needs two nodes waits instead of failing.
    c.set_workers(1);
    c.mark("shrunk to wn-1");
    assert!(node_state(&c, "wn-2").starts_with("down"));
    assert_eq!(reason(&c, "wn-2"), "nubo: no VM");
    assert_eq!(node_state(&c, "wn-1"), "idle");
    assert_eq!(job(&c, ""), "wn-1", "wn-1 still takes jobs");
    c.mark("a job ran on wn-1");
    let pending = c.on(
        "front",
        "cd /home && sbatch --parsable -N 2 -o /home/job-%j.out --wrap 'srun hostname | sort'",
    );
    let id = pending.trim();
    assert_eq!(
        c.on("front", &format!("squeue -h -j {id} -o %T")).trim(),
        "PENDING"
    );
    c.mark("a two-node job waits");

    // 8. Grow again: the powered-off slot comes back, and the job that
    //    waited for two nodes runs.
    c.set_workers(2);
    c.mark("grown again to wn-2");
    // Up, and maybe running the waiting job already.
    let state = node_state(&c, "wn-2");
    assert!(
        ["idle", "alloc", "comp"].contains(&state.as_str()),
        "wn-2 is {state}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c
        .on("front", &format!("squeue -h -j {id} -o %T"))
        .trim()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "job {id} did not run on two nodes"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    c.mark("the two-node job ran");
    assert_eq!(
        c.on("front", &format!("cat /home/job-{id}.out")),
        "wn-1\nwn-2\n"
    );
    assert_eq!(
        conf,
        c.on("front", "cat /etc/slurm/slurm.conf"),
        "slurm.conf changed"
    );
    assert_eq!(
        ctld,
        c.on("front", "cat /run/slurmctld.pid"),
        "slurmctld restarted"
    );

    // Every step again, on a running cluster: the steps hold, nothing
    // restarts slurmctld, and jobs still run.
    c.ok(&["reconfigure", &name, "--force"]);
    c.mark("reconfigure --force");
    assert_eq!(
        ctld,
        c.on("front", "cat /run/slurmctld.pid"),
        "slurmctld restarted"
    );
    assert_eq!(job(&c, "-w wn-2"), "wn-2");

    // The secrets server answers the cluster's nodes only (this machine is
    // on the cluster's bridge, but not a node).
    let front_ip = c.on("wn-1", "getent hosts front | cut -d' ' -f1");
    let front_ip = front_ip.trim();
    assert!(
        c.on(
            "wn-1",
            "/usr/local/lib/nubo/cluster-secret munge.key | wc -c"
        )
        .trim()
            == "1024"
    );
    let outside = Command::new("timeout")
        .args(["10", "busybox", "wget", "-q", "-O", "-"])
        .arg(format!("http://{front_ip}:6808/munge.key"))
        .output()
        .unwrap();
    assert!(
        !outside.status.success(),
        "the secrets server answered a non-node"
    );
    assert!(outside.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&outside.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&outside.stderr)
    );

    // 9. Destroy: nothing is left, none of the cluster's daemons either.
    let daemons = c.daemon_pids();
    let names: Vec<&str> = daemons.iter().map(|(_, n)| n.as_str()).collect();
    for d in ["slurmctld", "slurmd", "munged", "sshfs"] {
        assert!(
            names.contains(&d),
            "{d} not running before destroy: {names:?}"
        );
    }
    let netns = local::netns_inodes(&name);
    c.mark("destroy");
    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let left = local::traces(&name, &c.root, &netns);
    assert!(left.is_empty(), "left behind: {left:#?}");
    for (pid, comm) in &daemons {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim() != comm)
                    .unwrap_or(true),
            "{comm} (pid {pid}) outlived destroy"
        );
    }
    assert!(!c.home.join("keys").join(&name).exists());
    assert!(!c.ok(&["list"]).contains(&name));

    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "launch (slurm nfs local, 2 nodes): {:.1} s; first job done {:.1} s after the launch began; grow by one worker: {:.1} s",
        launch_time.as_secs_f64(),
        first_job.as_secs_f64(),
        grow_time.as_secs_f64()
    );
}

/// The rendered body of the step labelled `label` in the script of the
/// configure `configure` on `node`, for `slurm nfs local` plus `add`.
fn rendered_step(add: &str, configure: &str, node: &str, label: &str) -> String {
    let names: Vec<String> = TEMPLATES.iter().map(|t| t.to_string()).collect();
    let prepared = nubo::ops::prepare::prepare(
        &TemplateSearch::default(),
        &names,
        Some(add),
        &RecipeDirs::default(),
        &[],
    )
    .unwrap_or_else(|e| panic!("{add}: {e}"));
    let instances = prepared.spec.instances();
    let inst = instances.iter().find(|i| i.name == node).unwrap();
    let ctx = context::build(
        &ContextInput {
            cluster: "c1",
            spec: &prepared.spec,
            instances: &instances,
            vms: &[],
            variables: &serde_json::json!({}),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNsdXJtLXRlc3Qta2V5 nubo",
        },
        inst,
    );
    let script = nubo::recipe::render(&prepared.recipes[configure], &ctx).unwrap();
    let n = script
        .steps
        .iter()
        .position(|l| l == label)
        .unwrap_or_else(|| panic!("no step {label:?} in {:?}", script.steps))
        + 1;
    let start = script.text.find(&format!("\nnubo_step_{n}() {{")).unwrap();
    let rest = &script.text[start + 1..];
    let end = rest.find("\n}\n").unwrap();
    rest[..end].to_string()
}

/// The elasticity contract, without root: the front-end's slurm.conf is
/// the same text whatever the number of workers (so slurmctld is not
/// restarted as they come and go), and follows the `wn` system's
/// `ec3_max_instances`, `cpu.count` and `memory.size`, which a later
/// template (or `--add`) may change.
#[test]
fn slurm_conf_does_not_change_with_the_number_of_workers() {
    const CONF: &str = "slurm.conf from the cluster's description";
    let with =
        |workers: u32| rendered_step(&format!("deploy wn {workers}\n"), "front", "front", CONF);
    let one = with(1);
    assert!(
        one.contains("wn|wn-1,wn-2,wn-3|1|512000000|0|wn|\n"),
        "{one}"
    );
    assert!(one.contains("NodeName=$workers CPUs=$cpus$memory$node_gres State=CLOUD"));
    assert_eq!(one, with(0), "no worker");
    assert_eq!(one, with(2), "two workers");
    assert_eq!(one, with(3), "three workers");
    // The same text on a worker.
    assert_eq!(
        one,
        rendered_step("deploy wn 2\n", "wn", "wn-2", CONF),
        "a worker's slurm.conf"
    );
    // A later description changes the bound and the workers' size.
    let bigger = rendered_step(
        "system wn (ec3_max_instances = 8 and cpu.count >= 4 and memory.size >= 2g)\n",
        "front",
        "front",
        CONF,
    );
    assert!(
        bigger.contains("|wn-1,wn-2,wn-3,wn-4,wn-5,wn-6,wn-7,wn-8|4|2000000000|0|wn|\n"),
        "{bigger}"
    );
    // A second worker type with GPUs, serving its own partition.
    let gpus = rendered_step(
        "system gpu (ec3_inherit_from = system wn and net_interface.0.dns_name = 'gpu-#N#' and ec3_max_instances = 2 and gpu.count = 1 and elastic_partition = 'gpus' and slurm_gpu_file = '/dev/nvidia0')\n",
        "front",
        "front",
        CONF,
    );
    assert!(
        gpus.contains(
            "gpu|gpu-4,gpu-5|1|512000000|1|gpus|/dev/nvidia0\nwn|wn-1,wn-2,wn-3|1|512000000|0|wn|\n"
        ),
        "{gpus}"
    );
    // Slots with no VM are listed for `scontrol update ... State=DOWN`:
    // that step changes with the workers, slurm.conf does not.
    const DOWN: &str = "worker slots without a VM are DOWN";
    let down =
        |workers: u32| rendered_step(&format!("deploy wn {workers}\n"), "front", "front", DOWN);
    assert!(down(1).contains("present=\" front wn-1 \""), "{}", down(1));
    assert!(
        down(2).contains("present=\" front wn-1 wn-2 \""),
        "{}",
        down(2)
    );
    assert!(down(2).contains("slots=\" wn-1 wn-2 wn-3\""), "{}", down(2));
}

/// `nubo templates` lists the shipped templates with their kind and
/// summary (EC3's `description` features `kind` and `short`).
#[test]
fn nubo_templates_lists_the_shipped_templates() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::nubo_in(dir.path())
        .arg("templates")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |name: &str| -> (String, String) {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{text}"));
        let mut words = line.split_whitespace();
        words.next();
        let kind = words.next().unwrap_or_default().to_string();
        (kind, words.collect::<Vec<_>>().join(" "))
    };
    assert!(
        text.lines().count() > 8,
        "a header and 8 templates:\n{text}"
    );
    for (name, kind) in [
        ("slurm", "main"),
        ("nfs", "component"),
        ("openports", "component"),
        ("local", "images"),
        ("ec2", "images"),
        ("openstack", "images"),
        ("opennebula", "images"),
    ] {
        let (k, summary) = row(name);
        assert_eq!(k, kind, "{name}:\n{text}");
        assert!(!summary.is_empty(), "{name} has no summary:\n{text}");
    }
    assert!(row("slurm").1.starts_with("A SLURM cluster"), "{text}");
}

/// Follows the queue and the daemon's decisions until every job in `ids`
/// is done and every elastic node is off again, marking the timeline:
/// decisions, nodes up and off, jobs starting and ending. Returns the
/// nodes the daemon powered on.
fn watch_burst(
    c: &mut Cluster,
    daemon: &mut Daemon,
    ids: &[String],
    decisions_before: usize,
) -> std::collections::BTreeSet<String> {
    let name = c.name.clone();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut seen: std::collections::BTreeMap<String, &str> = Default::default();
    let mut node_seen: std::collections::BTreeMap<String, String> = Default::default();
    let mut decisions_seen = decisions_before;
    let mut powered_on: std::collections::BTreeSet<String> = Default::default();
    loop {
        daemon.assert_alive(&c.timeline);
        assert!(
            Instant::now() < deadline,
            "timed out: {:#?}\nthe daemon's log:\n{}",
            c.timeline,
            daemon.log()
        );
        let status: serde_json::Value = serde_json::from_str(&c.ok(&[
            "elastic",
            "status",
            &name,
            "--json",
            "--decisions",
            "200",
        ]))
        .unwrap();
        let decisions = status["decisions"].as_array().unwrap();
        for d in &decisions[decisions_seen.min(decisions.len())..] {
            let (action, node, why) = (
                d["action"].as_str().unwrap(),
                d["node"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            );
            if action == "power_on" {
                powered_on.insert(node.to_string());
            }
            c.mark(format!("decision: {action} {node}: {why}"));
        }
        decisions_seen = decisions.len();
        for n in status["nodes"].as_array().unwrap() {
            let (node, state) = (n["name"].as_str().unwrap(), n["state"].as_str().unwrap());
            if node_seen.get(node).map(String::as_str) != Some(state) {
                if state == "idle" || state == "used" {
                    if !matches!(
                        node_seen.get(node).map(String::as_str),
                        Some("idle" | "used")
                    ) {
                        c.mark(format!("{node} up"));
                    }
                } else if state == "off" && node_seen.contains_key(node) {
                    c.mark(format!("{node} off"));
                }
                node_seen.insert(node.to_string(), state.to_string());
            }
        }
        let queue = c.on("front", "squeue -h -o '%i %t %N'");
        for id in ids {
            let line = queue
                .lines()
                .find(|l| l.split_whitespace().next() == Some(id.as_str()));
            let now = match line {
                Some(l) if l.split_whitespace().nth(1) == Some("R") => "running",
                Some(_) => "pending",
                None => "done",
            };
            if seen.get(id).copied() != Some(now) {
                let on = line.and_then(|l| l.split_whitespace().nth(2)).unwrap_or("");
                match now {
                    "running" => c.mark(format!("job {id} starts on {on}")),
                    "done" => c.mark(format!("job {id} ends")),
                    _ => {}
                }
                seen.insert(id.clone(), now);
            }
        }
        let all_done = ids.iter().all(|id| seen.get(id) == Some(&"done"));
        let all_off = node_seen.values().all(|s| s == "off");
        if all_done && all_off && node_seen.len() == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    powered_on
}

/// `nubo elastic run` on a test cluster: the child and the file its
/// standard error goes to (a file, not a pipe nobody reads, which would
/// stop the daemon once full).
struct Daemon {
    child: std::process::Child,
    log: PathBuf,
}

impl Daemon {
    /// Its log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics, with the daemon's log, if it has exited.
    fn assert_alive(&mut self, timeline: &[(Duration, String)]) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the daemon exited ({status}):\n{}\n{timeline:#?}",
                self.log()
            );
        }
    }
}

/// A test that fails leaves no daemon running (it would hold the system
/// tests' lock and its cluster's state).
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nubo elastic run` on the cluster, a round every 0.5 s.
fn start_daemon(c: &Cluster) -> Daemon {
    let log = c.home.join(format!("daemon-{}.log", c.timeline.len()));
    let child = c
        .command(&["elastic", "run", &c.name, "--period", "0.5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    Daemon { child, log }
}

/// How many decisions the daemon has recorded so far (read before a
/// burst, so [`watch_burst`] sees only that burst's).
fn decisions_count(c: &Cluster) -> usize {
    serde_json::from_str::<serde_json::Value>(&c.ok(&[
        "elastic",
        "status",
        &c.name,
        "--json",
        "--decisions",
        "200",
    ]))
    .unwrap()["decisions"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Submits six one-node `sleep SECS` jobs on the front-end; their ids.
fn submit_burst(c: &Cluster, secs: u32) -> Vec<String> {
    c.on(
        "front",
        &format!(
            "cd /tmp && for i in 1 2 3 4 5 6; do sbatch --parsable -o /tmp/job-%j.out --wrap 'sleep {secs}'; done"
        ),
    )
    .lines()
    .map(|l| l.trim().to_string())
    .collect()
}

/// Stops the daemon with SIGTERM; it must exit cleanly.
fn stop_daemon(mut daemon: Daemon) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(daemon.child.id() as i32, libc::SIGTERM) };
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "daemon: {status}\n{}", daemon.log());
}

/// Issue 6's real test: a SLURM cluster whose workers are all off, the
/// elasticity daemon running; six one-node `sleep 20` jobs with at most
/// three workers: the daemon powers on three, all six complete, the
/// workers go after the idle time, nothing is left. Prints the timeline:
/// submit, decision, node up, job start, job end, power-off.
#[test]
fn elastic_daemon_runs_a_slurm_burst_on_three_workers_then_shrinks() {
    if !can_run() {
        return;
    }
    let mut c = Cluster::new();
    let name = c.name.clone();
    let add = c.root.with_file_name("elastic.radl");
    std::fs::write(
        &add,
        "system wn (ec3_max_instances = 3 and elastic_idle_time = 5 and elastic_cooldown = 0)\n\
         deploy wn 0\n",
    )
    .unwrap();
    c.mark(format!("launch {name} slurm nfs local, no worker"));
    c.ok(&[
        "launch",
        &name,
        "slurm",
        "nfs",
        "local",
        "--add",
        add.to_str().unwrap(),
        "-y",
    ]);
    c.mark("launched: the front-end only");
    let sinfo = c.on("front", "sinfo -h -N -o '%N %t'");
    for w in ["wn-1", "wn-2", "wn-3"] {
        assert!(
            sinfo.contains(&format!("{w} down")),
            "{w} declared and off: {sinfo}"
        );
    }
    let mut daemon = start_daemon(&c);
    let before = decisions_count(&c);
    let ids = submit_burst(&c, 20);
    assert_eq!(ids.len(), 6, "{ids:?}");
    c.mark(format!("submitted 6 jobs: {}", ids.join(" ")));

    let powered_on = watch_burst(&mut c, &mut daemon, &ids, before);
    stop_daemon(daemon);

    assert_eq!(
        powered_on.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-1", "wn-2", "wn-3"],
        "three workers powered on, no more"
    );
    for id in &ids {
        let state = c.on(
            "front",
            &format!("scontrol show job {id} | grep -o 'JobState=[A-Z]*'"),
        );
        assert_eq!(state.trim(), "JobState=COMPLETED", "job {id}");
    }
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let running = local::running_nodes(&shown);
    assert_eq!(running, ["front"], "the workers are gone");

    let netns = local::netns_inodes(&name);
    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let left = local::traces(&name, &c.root, &netns);
    assert!(left.is_empty(), "left behind: {left:#?}");
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Issue 7's first must-show with the daemon: `nubo launch c1 slurm nfs
/// local` (the idle time shortened for the test) runs `sbatch --wrap
/// hostname` on its worker and shares /home; then, with the daemon
/// running, a second burst grows the cluster to three workers and it
/// shrinks back (`ec3_min_instances` is 0, so to the front-end alone).
#[test]
fn slurm_nfs_local_with_the_daemon_grows_on_a_second_burst_then_shrinks() {
    if !can_run() {
        return;
    }
    let mut c = Cluster::new();
    let name = c.name.clone();
    let add = c.root.with_file_name("timing.radl");
    std::fs::write(
        &add,
        "system wn (elastic_idle_time = 5 and elastic_cooldown = 0)\n",
    )
    .unwrap();
    c.mark(format!("launch {name} slurm nfs local"));
    c.ok(&[
        "launch",
        &name,
        "slurm",
        "nfs",
        "local",
        "--add",
        add.to_str().unwrap(),
        "-y",
    ]);
    c.mark("launched: front and wn-1");
    assert_eq!(job(&c, ""), "wn-1", "the first job runs on the worker");
    c.mark("sbatch --wrap hostname ran on wn-1");
    c.on("front", "echo shared > /home/from-front");
    assert_eq!(c.on("wn-1", "cat /home/from-front").trim(), "shared");

    let mut daemon = start_daemon(&c);
    let before = decisions_count(&c);
    let ids = submit_burst(&c, 10);
    c.mark(format!("second burst: {}", ids.join(" ")));
    let powered_on = watch_burst(&mut c, &mut daemon, &ids, before);
    stop_daemon(daemon);
    assert_eq!(
        powered_on.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-2", "wn-3"],
        "grown by the two missing workers"
    );
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let running = local::running_nodes(&shown);
    assert_eq!(running, ["front"], "shrunk to the front-end");
    let netns = local::netns_inodes(&name);
    c.ok(&["destroy", &name, "-y"]);
    let left = local::traces(&name, &c.root, &netns);
    assert!(left.is_empty(), "left behind: {left:#?}");
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Issue 15, must-show 1 on OpenStack: `nubo launch c1 slurm nfs openports
/// openstack` (`--add`: the test cloud's image, the login user `cloudadm`,
/// a short idle time) on the OpenStack emulator backed by cloud-init
/// hosts: a front-end with a floating IP, wn-1 with only a private
/// address; `sbatch --wrap hostname` runs on wn-1; `nubo ssh c1 wn-1 --
/// id -un` prints `cloudadm`; with the daemon running a burst grows the
/// cluster to wn-2 and wn-3 and it shrinks back; `destroy` leaves nothing
/// on the cloud or the machine. Prints a timeline per node (API call,
/// cloud-init done, SSH up, configured) and the cluster's.
#[test]
fn slurm_nfs_on_the_openstack_test_cloud_runs_jobs_grows_and_leaves_nothing() {
    if !can_run() || !tc::can_run() {
        return;
    }
    let mut c = Cluster::on_openstack("elastic_idle_time = 5 and elastic_cooldown = 0");
    let name = c.name.clone();
    let called = std::time::SystemTime::now();
    c.start = Instant::now();
    c.mark(format!("launch {name} slurm nfs openports openstack"));
    c.launch_on_openstack();
    c.mark("launched: front and wn-1 configured");
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let launched = steps_ended(&shown, called);
    let addresses = |node: &str| -> Vec<std::net::Ipv4Addr> {
        shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["node"] == node)
            .unwrap_or_else(|| panic!("no {node} in {shown:#}"))["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect()
    };
    let wn = addresses("wn-1");
    assert_eq!(wn.len(), 1, "wn-1 has only a private address: {wn:?}");
    assert!(
        !reachable_from_here(wn[0]),
        "wn-1 is not reachable from here"
    );
    assert!(
        addresses("front").iter().any(|ip| reachable_from_here(*ip)),
        "the front-end's floating IP is"
    );
    job_then_burst_as_cloudadm(&mut c);
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    assert_eq!(
        local::running_nodes(&shown),
        ["front"],
        "shrunk to the front-end"
    );

    let prefix = c.cloud.as_ref().unwrap().test_cloud.netns_prefix();
    let netns: Vec<u64> = std::fs::read_dir("/run/netns")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    assert_eq!(netns.len(), 1, "the front-end's host only");
    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let cloud = c.cloud.as_ref().unwrap();
    assert!(cloud.emu.servers().is_empty(), "{:#?}", cloud.emu.servers());
    assert!(cloud.emu.ports().is_empty(), "{:#?}", cloud.emu.ports());
    assert!(
        cloud.emu.floating_ips().is_empty(),
        "{:#?}",
        cloud.emu.floating_ips()
    );
    assert!(
        cloud.emu.groups().iter().all(|g| g.name == "default"),
        "{:#?}",
        cloud.emu.groups()
    );
    assert!(cloud.test_cloud.host_names().is_empty());
    let boots = cloud.emu.boots();
    for (server, boot) in &boots {
        assert!(
            boot.cloud_init_ok(),
            "cloud-init on {server}: {:?} {:?}",
            boot.cloud_init_errors,
            boot.cloud_init_warnings
        );
    }
    let boots: Vec<(String, nubo::testcloud::Boot)> = boots
        .into_iter()
        .map(|(server, b)| {
            let node = server
                .rsplit_once(&format!("{name}-"))
                .map_or("?", |(_, n)| n);
            (node.to_string(), b)
        })
        .collect();
    eprintln!("{}", node_timeline(&c, called, &boots, &launched));
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (test_cloud, root) = (cloud.test_cloud.clone(), cloud.test_cloud_root.clone());
    let networks = test_cloud.networks().unwrap();
    drop(c);
    let left = tc::traces(&test_cloud, &root, &netns, &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// Issue 16, must-show 3: `nubo launch c1 slurm nfs openports openstack`
/// (`--add`: the real cloud's image and networks, the login user
/// `cloudadm`) against real OpenStack (Debian's Keystone, Glance, Nova
/// with the fake driver, Neutron; `scripts/openstack-test-cloud.sh`),
/// with test-cloud hosts booted by cloud-init behind Nova's servers at
/// their Neutron ports' addresses (`NovaHosts`): the front-end has a
/// floating IP this machine reaches, wn-1 only a private address it does
/// not; nubo configures wn-1 through the front-end (ProxyJump) and
/// `sbatch --wrap hostname` runs on wn-1; `nubo stop` stops the hosts
/// (Nova's `SHUTOFF`), `nubo restart` starts them and wn-1 answers again.
/// After `destroy` the `openstack` client shows no server, port, floating
/// IP, security group or key pair of the cluster, and the hosts are gone.
/// Prints a timeline per node.
#[test]
fn slurm_nfs_on_real_openstack_runs_a_job_on_a_private_worker_and_leaves_nothing() {
    if !can_run() || !tc::can_run() {
        return;
    }
    let Some(mut c) = Cluster::on_real_openstack() else {
        return;
    };
    let name = c.name.clone();
    let called = std::time::SystemTime::now();
    c.start = Instant::now();
    c.mark(format!(
        "launch {name} slurm nfs openports openstack (real)"
    ));
    {
        let r = c.real_ost.as_ref().unwrap();
        c.ok(&[
            "launch",
            &name,
            "slurm",
            "nfs",
            "openports",
            "openstack",
            "--add",
            r.site.to_str().unwrap(),
            "-a",
            r.auth.to_str().unwrap(),
            "-y",
        ]);
    }
    c.mark("launched: front and wn-1 configured");
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let launched = steps_ended(&shown, called);
    let vm = |node: &str| -> serde_json::Value {
        shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["node"] == node)
            .unwrap_or_else(|| panic!("no {node} in {shown:#}"))
            .clone()
    };
    let addresses = |node: &str| -> Vec<std::net::Ipv4Addr> {
        vm(node)["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect()
    };
    let wn = addresses("wn-1");
    assert_eq!(wn.len(), 1, "wn-1 has only a private address: {wn:?}");
    assert_eq!(
        wn[0].octets()[..3],
        [10, 250, 254],
        "on Neutron's private network"
    );
    assert!(
        !reachable_from_here(wn[0]),
        "wn-1 is not reachable from here"
    );
    let front = addresses("front");
    let floating: Vec<std::net::Ipv4Addr> = front
        .iter()
        .copied()
        .filter(|ip| ip.octets()[..3] == [10, 250, 255])
        .collect();
    assert_eq!(
        floating.len(),
        1,
        "one floating IP on the front-end: {front:?}"
    );
    assert!(
        reachable_from_here(floating[0]),
        "the front-end's floating IP is reachable from here"
    );
    // nubo reaches wn-1 through the front-end only.
    assert_eq!(c.on("wn-1", "hostname").trim(), "wn-1");
    assert_eq!(c.on("wn-1", "id -un").trim(), "cloudadm");
    assert_eq!(
        job_as(&c, Some("nubo"), "/home/nubo", ""),
        "wn-1",
        "the job runs on the private worker"
    );
    c.mark("sbatch --wrap hostname ran on wn-1");
    let ids: Vec<String> = ["front", "wn-1"]
        .iter()
        .map(|n| vm(n)["provider_vm_id"].as_str().unwrap().to_string())
        .collect();
    {
        let r = c.real_ost.as_ref().unwrap();
        assert_eq!(
            r.hosts.backed(),
            ids.iter().cloned().collect(),
            "a host behind each server of the cluster"
        );
        // Nova's SHUTOFF stops the hosts, ACTIVE starts them again (with
        // the floating address): wn-1 answers through the front-end.
        let hosts_running = |want: bool| {
            let deadline = Instant::now() + Duration::from_secs(60);
            while ids.iter().any(|id| r.test_cloud.is_running(id) != want)
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            ids.iter().all(|id| r.test_cloud.is_running(id) == want)
        };
        c.ok(&["stop", &name]);
        for id in &ids {
            assert_eq!(
                r.real.openstack(&["server", "show", id])["status"],
                "SHUTOFF"
            );
        }
        assert!(hosts_running(false), "the hosts stopped with their servers");
        c.ok(&["restart", &name]);
        assert!(hosts_running(true), "the hosts started with their servers");
        assert_eq!(c.on("wn-1", "hostname").trim(), "wn-1");
        c.mark("stopped and restarted; wn-1 answers again");
    }
    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let r = c.real_ost.as_ref().unwrap();
    let fips: Vec<String> = floating.iter().map(|f| f.to_string()).collect();
    r.real.assert_nothing_of(&name, &ids, &fips);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !r.test_cloud.host_names().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        r.test_cloud.host_names().is_empty(),
        "hosts left after their servers went: {:?}",
        r.test_cloud.host_names()
    );
    assert!(r.hosts.errors().is_empty(), "{:?}", r.hosts.errors());
    let boots: Vec<(String, nubo::testcloud::Boot)> = r
        .hosts
        .boots()
        .into_iter()
        .map(|(server, b)| {
            let node = server
                .strip_prefix(&format!("nubo-{name}-"))
                .unwrap_or(&server)
                .to_string();
            (node, b)
        })
        .collect();
    eprintln!("{}", node_timeline(&c, called, &boots, &launched));
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (test_cloud, root) = (r.test_cloud.clone(), r.test_cloud_root.clone());
    drop(c);
    // The adopted bridges and their routes are the real cloud's: only
    // what the test cloud made is looked for.
    let left = tc::traces(&test_cloud, &root, &[], &[]);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// Issue 15, must-show 2: the same SLURM cluster on the OpenStack test
/// cloud with `ec3_reuse_nodes = 'yes'`: the first burst makes wn-2 and
/// wn-3; when idle, the workers are stopped, not destroyed (`nubo show`
/// and `nubo elastic status` say so); the second burst starts the same
/// servers again: the cloud never holds a second server for a slot.
#[test]
fn reused_workers_on_the_openstack_test_cloud_are_stopped_then_started_again() {
    if !can_run() || !tc::can_run() {
        return;
    }
    let mut c = Cluster::on_openstack(
        "ec3_reuse_nodes = 'yes' and elastic_idle_time = 5 and elastic_cooldown = 0",
    );
    let name = c.name.clone();
    c.mark(format!(
        "launch {name} slurm nfs openports openstack, ec3_reuse_nodes"
    ));
    c.launch_on_openstack();
    c.mark("launched: front and wn-1");
    let servers_by_node = |c: &Cluster| -> std::collections::BTreeMap<String, (String, String)> {
        c.cloud
            .as_ref()
            .unwrap()
            .emu
            .servers()
            .into_iter()
            .map(|s| {
                let node = s
                    .name
                    .rsplit_once(&format!("{name}-"))
                    .map_or(String::new(), |(_, n)| n.to_string());
                (node, (s.id, s.status))
            })
            .collect()
    };
    let mut daemon = start_daemon(&c);
    let before = decisions_count(&c);
    let ids = submit_burst(&c, 10);
    c.mark(format!("first burst: {}", ids.join(" ")));
    let first = watch_burst(&mut c, &mut daemon, &ids, before);
    assert_eq!(
        first.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-2", "wn-3"],
        "grown by the two missing workers"
    );
    let after_first = servers_by_node(&c);
    assert_eq!(
        after_first.keys().map(String::as_str).collect::<Vec<_>>(),
        ["front", "wn-1", "wn-2", "wn-3"],
        "{after_first:#?}"
    );
    for w in ["wn-1", "wn-2", "wn-3"] {
        assert_eq!(after_first[w].1, "SHUTOFF", "{w} stopped, not deleted");
    }
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    for v in shown["vms"].as_array().unwrap() {
        let want = if v["node"] == "front" {
            "running"
        } else {
            "stopped"
        };
        assert_eq!(v["state"], want, "{v:#}");
    }
    let status = c.ok(&["elastic", "status", &name]);
    for w in ["wn-1", "wn-2", "wn-3"] {
        assert!(
            status
                .lines()
                .any(|l| l.starts_with(w) && l.contains(" off ") && l.contains(" stopped ")),
            "{w} off with a stopped VM:\n{status}"
        );
    }

    let before = decisions_count(&c);

    let ids = submit_burst(&c, 10);
    c.mark(format!("second burst: {}", ids.join(" ")));
    let second = watch_burst(&mut c, &mut daemon, &ids, before);
    stop_daemon(daemon);
    assert_eq!(
        second.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-1", "wn-2", "wn-3"],
        "every worker powered on again"
    );
    assert_eq!(
        servers_by_node(&c),
        after_first,
        "the same servers, stopped again"
    );
    let cloud = c.cloud.as_ref().unwrap();
    assert_eq!(
        cloud.emu.count("nova.create_server"),
        4,
        "one server per node ever: {:?}",
        cloud.emu.ops()
    );
    assert_eq!(cloud.emu.count("nova.delete_server"), 0);
    let starts = cloud
        .emu
        .calls()
        .iter()
        .filter(|c| c.op == "nova.server_action")
        .count();
    assert!(starts >= 6, "3 stops, 3 starts, 3 stops: {starts} actions");

    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let cloud = c.cloud.as_ref().unwrap();
    assert!(cloud.emu.servers().is_empty(), "{:#?}", cloud.emu.servers());
    assert!(cloud.test_cloud.host_names().is_empty());
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Issue 15, must-show 1 on OpenNebula: `nubo launch c1 slurm nfs
/// openports opennebula` on the OpenNebula emulator backed by cloud-init
/// hosts (cloud-init reads the `CONTEXT`'s `USER_DATA` nubo sends): a
/// front-end on the public network, wn-1 only on the private one; a job
/// runs on wn-1; `nubo ssh c1 wn-1 -- id -un` prints `cloudadm`; the
/// daemon grows the cluster to wn-3 and shrinks it; `destroy` leaves no
/// VM and no host. Prints a timeline per node.
#[test]
fn slurm_nfs_on_the_opennebula_test_cloud_runs_jobs_grows_and_leaves_nothing() {
    if !can_run() || !tc::can_run() {
        return;
    }
    let mut c = Cluster::on_opennebula("elastic_idle_time = 5 and elastic_cooldown = 0");
    let name = c.name.clone();
    let called = std::time::SystemTime::now();
    c.start = Instant::now();
    c.mark(format!("launch {name} slurm nfs openports opennebula"));
    c.launch_on_opennebula();
    c.mark("launched: front and wn-1 configured");
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let launched = steps_ended(&shown, called);
    let wn: Vec<std::net::Ipv4Addr> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["node"] == "wn-1")
        .unwrap()["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.parse().ok())
        .collect();
    assert_eq!(wn.len(), 1, "wn-1 has only a private address: {wn:?}");
    assert!(
        !reachable_from_here(wn[0]),
        "wn-1 is not reachable from here"
    );
    job_then_burst_as_cloudadm(&mut c);
    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let cloud = c.one.as_ref().unwrap();
    // OpenNebula answers `terminate` at once and removes the VM after.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cloud.emu.live_vms().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cloud.emu.live_vms().is_empty(),
        "{:#?}",
        cloud.emu.live_vms()
    );
    assert!(cloud.test_cloud.host_names().is_empty());
    let boots: Vec<(String, nubo::testcloud::Boot)> = cloud
        .emu
        .boots()
        .into_iter()
        .map(|(vm, b)| (vm.rsplit('.').nth(1).unwrap_or("?").to_string(), b))
        .collect();
    eprintln!("{}", node_timeline(&c, called, &boots, &launched));
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (test_cloud, root) = (cloud.test_cloud.clone(), cloud.test_cloud_root.clone());
    let networks = test_cloud.networks().unwrap();
    drop(c);
    let left = tc::traces(&test_cloud, &root, &[], &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// Issue 15, must-show 1 on EC2: `nubo launch c1 slurm nfs ec2` on
/// moto, with a cloud-init host behind each instance (moto's private
/// address in a subnet on the test cloud's network; no public network, as
/// moto's public addresses lead nowhere: nubo works as from inside the
/// VPC): a job runs on wn-1; `nubo ssh c1 wn-1 -- id -un` prints
/// `cloudadm`; the daemon grows the cluster to wn-3 and shrinks it;
/// `destroy` leaves no instance and no host.
#[cfg(feature = "ec2")]
#[test]
fn slurm_nfs_on_moto_with_hosts_runs_jobs_grows_and_leaves_nothing() {
    if !can_run() || !tc::can_run() {
        return;
    }
    let Some(mut c) = Cluster::on_moto(
        "elastic_idle_time = 5 and elastic_cooldown = 0 and \
         disk.1.size = 1GB and disk.1.mount_path = '/scratch'",
    ) else {
        return;
    };
    let name = c.name.clone();
    let called = std::time::SystemTime::now();
    c.start = Instant::now();
    c.mark(format!("launch {name} slurm nfs ec2"));
    {
        let m = c.moto.as_ref().unwrap();
        c.ok(&[
            "launch",
            &name,
            "slurm",
            "nfs",
            "ec2",
            "--add",
            m.site.to_str().unwrap(),
            "-a",
            m.auth.to_str().unwrap(),
            "-y",
        ]);
    }
    c.mark("launched: front and wn-1 configured");
    let shown: serde_json::Value = serde_json::from_str(&c.ok(&["show", &name, "--json"])).unwrap();
    let launched = steps_ended(&shown, called);
    // The EBS volume of disk.1, a loop device the host sees as xvdb (as
    // a Xen instance does), formatted and mounted by nubo.
    let scratch = c.on(
        "wn-1",
        "findmnt -n -o SOURCE,FSTYPE /scratch; df -B1M --output=size /scratch | tail -1",
    );
    let mut lines = scratch.lines();
    assert_eq!(
        lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["/dev/xvdb", "ext4"],
        "{scratch}"
    );
    let mib: u64 = lines.next().unwrap_or_default().trim().parse().unwrap_or(0);
    assert!((900..=1100).contains(&mib), "/scratch has {mib} MiB");
    // cloud-init left the name alone (one user data for instances made
    // together); nubo named the node.
    assert_eq!(c.on("wn-1", "hostname; cat /etc/hostname"), "wn-1\nwn-1\n");
    job_then_burst_as_cloudadm(&mut c);
    c.ok(&["destroy", &name, "-y"]);
    c.mark("destroyed");
    let m = c.moto.as_ref().unwrap();
    let volumes = m.rt.block_on(async {
        m.client
            .describe_volumes()
            .send()
            .await
            .unwrap()
            .volumes()
            .iter()
            .filter(|v| v.state().map(|s| s.as_str()) != Some("deleted"))
            .map(|v| format!("{:?} {:?}", v.volume_id(), v.attachments()))
            .collect::<Vec<_>>()
    });
    assert!(volumes.is_empty(), "volumes left on moto: {volumes:#?}");
    // Nor the cluster's security group or key pair, nor an instance.
    let (groups, keys, instances) = m.rt.block_on(async {
        let groups: Vec<String> = m
            .client
            .describe_security_groups()
            .send()
            .await
            .unwrap()
            .security_groups()
            .iter()
            .filter_map(|g| g.group_name())
            .filter(|g| g.contains(name.as_str()))
            .map(String::from)
            .collect();
        let keys: Vec<String> = m
            .client
            .describe_key_pairs()
            .send()
            .await
            .unwrap()
            .key_pairs()
            .iter()
            .filter_map(|k| k.key_name())
            .filter(|k| k.contains(name.as_str()))
            .map(String::from)
            .collect();
        let instances: Vec<String> = m
            .client
            .describe_instances()
            .send()
            .await
            .unwrap()
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|s| s.as_str()) != Some("terminated"))
            .filter_map(|i| i.instance_id())
            .map(String::from)
            .collect();
        (groups, keys, instances)
    });
    assert!(
        groups.is_empty() && keys.is_empty() && instances.is_empty(),
        "left on moto: groups {groups:?}, key pairs {keys:?}, instances {instances:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while !m.test_cloud.host_names().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        m.test_cloud.host_names().is_empty(),
        "{:?}",
        m.test_cloud.host_names()
    );
    assert!(m.hosts.errors().is_empty(), "{:?}", m.hosts.errors());
    let prefix = format!("nubo-{name}-");
    let boots: Vec<(String, nubo::testcloud::Boot)> = m
        .hosts
        .boots()
        .into_iter()
        .map(|(tag, b)| (tag.strip_prefix(&prefix).unwrap_or(&tag).to_string(), b))
        .collect();
    eprintln!("{}", node_timeline(&c, called, &boots, &launched));
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (test_cloud, root) = (m.test_cloud.clone(), m.test_cloud_root.clone());
    let networks = test_cloud.networks().unwrap();
    drop(c);
    let left = tc::traces(&test_cloud, &root, &[], &networks);
    assert!(left.is_empty(), "left on this machine: {left:#?}");
}

/// When each node's last recorded step ended, in seconds since `called`.
fn steps_ended(shown: &serde_json::Value, called: std::time::SystemTime) -> BTreeMap<String, f64> {
    let launched_ms = called
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for st in shown["steps"].as_array().unwrap() {
        if let (Some(node), Some(end)) = (st["node"].as_str(), st["ended_at"].as_i64()) {
            let t = (end - launched_ms) as f64 / 1000.0;
            let e = out.entry(node.to_string()).or_insert(t);
            *e = e.max(t);
        }
    }
    out
}

/// The timeline per node of a cluster on a test cloud, in seconds since
/// `called` (the launch): each host's API call, cloud-init done and sshd
/// up (`boots`: (node, boot) in boot order), and when the node was
/// configured: its last step at the launch (`launched`), or, for a worker
/// the daemon added, when SLURM had it up (the cluster's timeline).
fn node_timeline(
    c: &Cluster,
    called: std::time::SystemTime,
    boots: &[(String, nubo::testcloud::Boot)],
    launched: &BTreeMap<String, f64>,
) -> String {
    let mut configured = launched.clone();
    for (t, what) in &c.timeline {
        if let Some(node) = what.strip_suffix(" up") {
            configured
                .entry(node.to_string())
                .or_insert(t.as_secs_f64());
        }
    }
    let since =
        |t: std::time::SystemTime| t.duration_since(called).unwrap_or_default().as_secs_f64();
    let mut lines = String::from("timeline per node (seconds since `nubo launch` started):");
    for (node, boot) in boots {
        assert!(
            boot.cloud_init_ok(),
            "cloud-init on {node}: {:?} {:?}",
            boot.cloud_init_errors,
            boot.cloud_init_warnings
        );
        lines += &format!(
            "\n  {node:6} API call {:6.2}  cloud-init done {:6.2}  SSH up {:6.2}  configured {:6.2}",
            since(boot.called),
            boot.events
                .iter()
                .find(|e| e.what == "cloud-init-final")
                .map_or(f64::NAN, |e| since(e.at)),
            since(boot.sshd_up),
            configured.get(node).copied().unwrap_or(f64::NAN)
        );
    }
    lines
}

/// What the cloud SLURM tests check after the launch: `nubo ssh c1 wn-1
/// -- id -un` is `cloudadm`; a job of the cluster's user (in its home: the
/// front-end's, shared and mounted as that user, so the output is its own;
/// the login user's home is not shared that way) runs on wn-1; a file the
/// front-end writes in /home is on wn-1; with the daemon running, a burst
/// of six jobs grows the cluster by wn-2 and wn-3, and it shrinks back.
fn job_then_burst_as_cloudadm(c: &mut Cluster) {
    assert_eq!(c.on("wn-1", "id -un").trim(), "cloudadm");
    assert_eq!(
        job_as(c, Some("nubo"), "/home/nubo", ""),
        "wn-1",
        "the first job runs on the worker"
    );
    c.mark("sbatch --wrap hostname ran on wn-1");
    c.on(
        "front",
        "echo shared | sudo tee /home/from-front >/dev/null",
    );
    assert_eq!(c.on("wn-1", "cat /home/from-front").trim(), "shared");
    let mut daemon = start_daemon(c);
    let before = decisions_count(c);
    let ids = submit_burst(c, 10);
    c.mark(format!("burst: {}", ids.join(" ")));
    let powered_on = watch_burst(c, &mut daemon, &ids, before);
    stop_daemon(daemon);
    assert_eq!(
        powered_on.iter().map(String::as_str).collect::<Vec<_>>(),
        ["wn-2", "wn-3"],
        "grown by the two missing workers"
    );
}

/// A runtime of its own for a test cloud's emulator (the tests here are
/// synchronous).
fn cloud_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `dir/auth.dat` holding `line`, readable by its owner only.
fn write_auth(dir: &std::path::Path, line: &str) -> PathBuf {
    let auth = dir.join("auth.dat");
    std::fs::write(&auth, line).unwrap();
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    auth
}

/// Issue 17, must-show 2: the IM-style Ansible cluster of
/// `ansible_local::im_style_ansible_cluster_on_local_nodes` on the
/// OpenStack test cloud: the login user is `cloudadm` (cloud-init), so
/// every play runs with become; the workers have only a private address,
/// so Ansible reaches them through the front-end. Every task's effect is
/// checked, `reconfigure` keeps every step, and destroy leaves nothing.
#[test]
fn im_style_ansible_cluster_on_the_openstack_test_cloud() {
    if !can_run() || !tc::can_run() || !crate::ansible_local::has_ansible() {
        return;
    }
    let c = Cluster::on_openstack("cpu.count >= 1");
    let name = c.name.clone();
    let base = c.root.parent().unwrap().join("inputs");
    std::fs::create_dir_all(&base).unwrap();
    let password = base.join("vault-pass");
    std::fs::write(&password, "s3cret-pass\n").unwrap();
    let url = crate::ansible_local::role_repo(&base);
    let secret = crate::ansible_local::vault_body(&base, &password);
    let file = base.join("c.radl");
    std::fs::write(&file, crate::ansible_local::radl(&url, &secret)).unwrap();
    let cloud = c.cloud.as_ref().unwrap();
    let cache = base.join("cache");
    let nubo = |args: &[&str]| -> Output {
        c.command(args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .expect("run nubo")
    };
    let ok = |args: &[&str]| crate::support::stdout_of(&format!("nubo {args:?}"), nubo(args));
    ok(&[
        "launch",
        &name,
        file.to_str().unwrap(),
        "--add",
        cloud.site.to_str().unwrap(),
        "-a",
        cloud.auth.to_str().unwrap(),
        "-y",
        "--vault-password-file",
        password.to_str().unwrap(),
    ]);
    let shown: serde_json::Value = serde_json::from_str(&ok(&["show", &name, "--json"])).unwrap();
    let addresses = |node: &str| -> Vec<std::net::Ipv4Addr> {
        shown["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["node"] == node)
            .unwrap_or_else(|| panic!("no {node} in {shown:#}"))["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str()?.parse().ok())
            .collect()
    };
    for wn in ["wn-1", "wn-2"] {
        let ips = addresses(wn);
        assert!(
            ips.len() == 1 && !reachable_from_here(ips[0]),
            "{wn} has only a private address: {ips:?}"
        );
    }
    let on = |node: &str, cmd: &str| ok(&["ssh", &name, node, "--", cmd]);
    assert_eq!(on("wn-1", "id -un").trim(), "cloudadm");
    assert_eq!(
        on("front", "cat /etc/im-front").trim(),
        format!("front front.localdomain front 2 {name}")
    );
    assert_eq!(
        on("front", "stat -c %U /etc/im-front").trim(),
        "root",
        "plays run with become"
    );
    let front_ips = on("front", "hostname -I");
    for (i, wn) in ["wn-1", "wn-2"].iter().enumerate() {
        let im_wn = on(wn, "cat /etc/im-wn");
        let fields: Vec<&str> = im_wn.split_whitespace().collect();
        assert_eq!(fields.len(), 3, "{wn}: {im_wn}");
        assert_eq!(
            (fields[0], fields[1]),
            (*wn, (i + 1).to_string().as_str()),
            "{wn}: {im_wn}"
        );
        assert!(
            front_ips.split_whitespace().any(|ip| ip == fields[2]),
            "{wn}: the front-end's private address {} is one of {front_ips}",
            fields[2]
        );
        assert_eq!(
            on(wn, "cat /etc/native-marker").trim(),
            format!("native-{wn}")
        );
        assert_eq!(
            on(wn, "cat /etc/role-marker").trim(),
            format!("from-git-role on {wn}")
        );
    }
    assert_eq!(on("front", "cat /etc/native-marker").trim(), "native-front");
    assert_eq!(
        on("front", "cat /etc/secret-marker").trim(),
        "vault ok front"
    );
    let out = nubo(&["reconfigure", &name]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "reconfigure: {text}");
    assert_eq!(
        text.matches("kept configure").count(),
        9,
        "every step kept: {text}"
    );
    ok(&["destroy", &name, "-y"]);
    assert!(cloud.emu.servers().is_empty(), "{:#?}", cloud.emu.servers());
    assert!(cloud.emu.ports().is_empty(), "{:#?}", cloud.emu.ports());
    assert!(cloud.test_cloud.host_names().is_empty());
}

/// Issue 19's fourth must-show: real SLURM with two partitions, `cpu`
/// (system `wn`, 3 slots) and `gpu` (system `gpu`, one slot with a GPU
/// declared in gres.conf through a stand-in device file), every worker
/// off. A `--gres=gpu:1` job powers on the gpu node only and runs there; a
/// 4-node job in `cpu` (3 nodes at most) powers on nothing and is
/// reported; then the gpu node goes off and nothing is left.
#[test]
fn slurm_partitions_a_gpu_job_powers_on_only_a_gpu_node_and_a_too_large_job_none() {
    if !can_run() {
        return;
    }
    let mut c = Cluster::new();
    let name = c.name.clone();
    let add = c.root.with_file_name("partitions.radl");
    std::fs::write(
        &add,
        "system wn (ec3_max_instances = 3 and elastic_idle_time = 3 and elastic_cooldown = 0 and elastic_partition = 'cpu')\n\
         system gpu (ec3_inherit_from = system wn and net_interface.0.dns_name = 'gpu-#N#' and \
           ec3_max_instances = 1 and gpu.count = 1 and elastic_partition = 'gpu' and \
           slurm_gpu_file = '/var/lib/nubo-gpu/nvidia0')\n\
         configure gpu_device (\n@begin\n\
         - name: a stand-in GPU device\n  \
           shell: mkdir -p /var/lib/nubo-gpu && mknod /var/lib/nubo-gpu/nvidia0 c 1 3\n  \
           unless: test -c /var/lib/nubo-gpu/nvidia0\n\
         @end\n)\n\
         contextualize (system gpu configure gpu_device step 1 system gpu configure gpu step 2)\n\
         deploy wn 0\n\
         deploy gpu 0\n",
    )
    .unwrap();
    c.mark(format!("launch {name} slurm nfs local, no worker"));
    c.ok(&[
        "launch",
        &name,
        "slurm",
        "nfs",
        "local",
        "--add",
        add.to_str().unwrap(),
        "-y",
    ]);
    let parts = c.on("front", "sinfo -h -o '%P %D %G'");
    assert!(parts.contains("cpu* 3 (null)"), "{parts}");
    assert!(parts.contains("gpu 1 gpu:1"), "{parts}");
    let gpu_node = c.on("front", "sinfo -h -N -p gpu -o %N").trim().to_string();

    let mut daemon = start_daemon(&c);
    let before = decisions_count(&c);
    let gpu_job = c
        .on(
            "front",
            "cd /tmp && sbatch --parsable -p gpu --gres=gpu:1 -o /tmp/gpu-%j.out --wrap 'echo $SLURM_JOB_GPUS; hostname'",
        )
        .trim()
        .to_string();
    c.mark(format!("submitted gpu job {gpu_job}"));
    let deadline = Instant::now() + Duration::from_secs(240);
    while !c
        .on("front", &format!("squeue -h -j {gpu_job}"))
        .trim()
        .is_empty()
    {
        daemon.assert_alive(&c.timeline);
        assert!(
            Instant::now() < deadline,
            "gpu job not done: {:#?}\n{}",
            c.timeline,
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    c.mark("gpu job done");
    let out = c.on("front", &format!("cat /home/*/gpu-{gpu_job}.out /tmp/gpu-{gpu_job}.out 2>/dev/null; scontrol show job {gpu_job} | grep -o 'NodeList=[^ ]*'"));
    assert!(out.contains(&format!("NodeList={gpu_node}")), "{out}");

    // A 4-node job in `cpu`, which has 3 nodes at most.
    let big = c.run(&[
        "ssh",
        &name,
        "front",
        "--",
        "cd /tmp && sbatch --parsable -p cpu -N 4 --wrap hostname",
    ]);
    let big_out = String::from_utf8_lossy(&big.stdout).trim().to_string();
    let big_err = String::from_utf8_lossy(&big.stderr).to_string();
    c.mark(format!("4-node job: {big_out} {big_err}"));
    let big_id = big_out.clone();
    if big.status.success() {
        // SLURM keeps it pending; the daemon must report it and power on
        // nothing for it.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = c.ok(&["elastic", "status", &name, "--json", "--decisions", "200"]);
            if status.contains(&format!("job {big_id}")) {
                assert!(
                    status.contains("needs more nodes than the cluster may have (3)"),
                    "{status}"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not reported: {status}\nsqueue: {}",
                c.on("front", "squeue -h -a -o '%i|%T|%c|%m|%D|%P|%b|%r'")
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        c.on("front", &format!("scancel {big_id}"));
    } else {
        // SLURM refused it at submission: nothing to power on either.
        assert!(
            big_err.contains("not available") || big_err.contains("Node count"),
            "{big_err}"
        );
    }

    // The gpu node goes off after its idle time.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&c.ok(&["elastic", "status", &name, "--json"])).unwrap();
        let on: Vec<&str> = status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["state"] != "off")
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        if on.is_empty() {
            break;
        }
        daemon.assert_alive(&c.timeline);
        assert!(Instant::now() < deadline, "still on: {on:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let status: serde_json::Value =
        serde_json::from_str(&c.ok(&["elastic", "status", &name, "--json", "--decisions", "200"]))
            .unwrap();
    stop_daemon(daemon);
    let powered_on: Vec<String> = status["decisions"].as_array().unwrap()[before..]
        .iter()
        .filter(|d| d["action"] == "power_on")
        .map(|d| d["node"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(powered_on, std::slice::from_ref(&gpu_node), "{status:#}");

    let netns = local::netns_inodes(&name);
    c.ok(&["destroy", &name, "-y"]);
    let left = local::traces(&name, &c.root, &netns);
    assert!(left.is_empty(), "left behind: {left:#?}");
    eprintln!(
        "timeline of {name}:\n{}",
        c.timeline
            .iter()
            .map(|(t, w)| format!("  {:7.2} s  {w}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
