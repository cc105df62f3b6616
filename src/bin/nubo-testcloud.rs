//! `nubo-testcloud`: a test cloud on this machine, to try nubo's cloud path
//! without a cloud. `nubo-testcloud openstack --listen 127.0.0.1:PORT`
//! serves the OpenStack emulator (Keystone v3, Nova, Neutron, Glance,
//! written from the API references: `nubo::testcloud::emu::openstack`) on
//! that loopback address, with a host booted by Debian's cloud-init
//! behind every server it creates (networks `public`, external, and
//! `private` in 10.250.224.0/19); `opennebula` does the same with the
//! OpenNebula emulator (virtual networks 0 `public` and 1 `private`);
//! `ec2 --moto URL` puts hosts behind the instances of a running
//! moto_server (a VPC and subnet on the test cloud's network). Its first
//! line of output is the auth line to use, then what the description
//! needs; it runs until SIGINT or SIGTERM, then removes every host and
//! network it made. Needs root.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nubo::testcloud::emu::EmuError;
use nubo::testcloud::emu::openstack::{self, EmuConfig, IMAGE_ID, OstEmu};
use nubo::testcloud::{TestCloud, TestCloudError};

#[derive(Parser)]
#[command(
    name = "nubo-testcloud",
    version,
    about = "A test cloud on this machine: an emulated cloud API whose VMs are hosts booted by cloud-init",
    after_help = "Needs root. Stop it with Ctrl-C or SIGTERM: it removes every host and network it made.\n\
                  Exit codes: 0 stopped cleanly, 1 failed (the message says why), 2 bad usage."
)]
struct Args {
    #[command(subcommand)]
    cloud: Cloud,
}

#[derive(clap::Args)]
struct Common {
    /// Where the hosts' files are kept while they run.
    #[arg(long, default_value = TestCloud::DEFAULT_ROOT)]
    root: PathBuf,
}

#[derive(Subcommand)]
enum Cloud {
    /// OpenStack: Keystone v3, Nova, Neutron and Glance, a cloud-init host
    /// behind every server, a floating IP a NIC on the public network.
    /// Prints the auth line first, then the image to use.
    Openstack {
        /// Where the API listens: a loopback address (port 0: any free one).
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: SocketAddr,
        #[command(flatten)]
        common: Common,
    },
    /// OpenNebula: the XML-RPC API, a cloud-init host behind every VM
    /// (its CONTEXT's USER_DATA), virtual networks 0 `public` and 1
    /// `private`. Prints the auth line first, then the site's features.
    Opennebula {
        /// Where the API listens: a loopback address (port 0: any free one).
        #[arg(long, default_value = "127.0.0.1:2633")]
        listen: SocketAddr,
        #[command(flatten)]
        common: Common,
    },
    /// EC2 on a running moto_server: makes a VPC and a subnet on the test
    /// cloud's network there and boots a cloud-init host behind every
    /// instance in that subnet. Prints the auth line first, then the
    /// network to use (no public network: moto's public addresses lead
    /// nowhere).
    #[cfg(feature = "ec2")]
    Ec2 {
        /// moto_server's URL, on loopback (`http://127.0.0.1:PORT`).
        #[arg(long)]
        moto: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(
        "--listen {0}: give a loopback address (127.0.0.1:PORT); the test cloud serves this machine only"
    )]
    NotLoopback(SocketAddr),
    #[error("another nubo-testcloud {0} runs with --root {1}; stop it, or give another --root")]
    Busy(&'static str, PathBuf),
    #[cfg(feature = "ec2")]
    #[error("--moto {0}: give moto_server's URL on loopback, http://127.0.0.1:PORT")]
    NotLoopbackUrl(String),
    #[cfg(feature = "ec2")]
    #[error("moto at {url}: {why}")]
    Moto { url: String, why: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    TestCloud(#[from] TestCloudError),
    #[error(transparent)]
    Emulator(#[from] EmuError),
    #[error("waiting for a signal: {0}")]
    Signal(std::io::Error),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("NUBO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nubo-testcloud: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nubo-testcloud: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    match args.cloud {
        Cloud::Openstack { listen, common } => run_openstack(listen, common.root).await,
        Cloud::Opennebula { listen, common } => run_opennebula(listen, common.root).await,
        #[cfg(feature = "ec2")]
        Cloud::Ec2 { moto, common } => run_ec2(moto, common.root).await,
    }
}

/// The test cloud `name` under `root`, alone there (a lock held while the
/// returned file is open), what a killed run left removed first.
async fn fresh_cloud(
    root: PathBuf,
    name: &'static str,
) -> Result<(TestCloud, std::fs::File), Error> {
    std::fs::create_dir_all(&root).map_err(|source| Error::Io {
        what: "cannot create",
        path: root.clone(),
        source,
    })?;
    let lock = lock(&root.join(format!("{name}.lock")), &root, name)?;
    let cloud = blocking(move || {
        let old = TestCloud::new(&root, name)?;
        old.destroy()?;
        TestCloud::new(&root, name)
    })
    .await?;
    Ok((cloud, lock))
}

/// Prints `lines` (the first is the auth line), waits for SIGINT or
/// SIGTERM, drops `running`, removes the cloud.
async fn serve_until_stopped<T>(
    cloud: TestCloud,
    running: T,
    lines: &[String],
) -> Result<(), Error> {
    let waited = {
        let mut out = std::io::stdout().lock();
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
        drop(out);
        wait_for_stop().await
    };
    drop(running);
    blocking(move || cloud.destroy()).await?;
    waited
}

async fn run_opennebula(listen: SocketAddr, root: PathBuf) -> Result<(), Error> {
    use nubo::testcloud::emu::opennebula::{self as one, OneEmu};
    if !listen.ip().is_loopback() {
        return Err(Error::NotLoopback(listen));
    }
    let (cloud, _lock) = fresh_cloud(root, "opennebula").await?;
    let config = one::EmuConfig {
        hosts: Some(cloud.clone()),
        ..one::EmuConfig::default()
    };
    let emu = or_destroy(&cloud, OneEmu::start_on(config, listen).await).await?;
    let lines = [
        format!(
            "id = one; type = OpenNebula; host = {}; username = oneuser; password = 'onepass'",
            emu.endpoint()
        ),
        format!(
            "# image: disk.0.image.url = 'one://{}/5' and disk.0.os.credentials.username = 'cloudadm'",
            emu.addr.ip()
        ),
        "# networks: provider_id = 'public' (reachable from here) or 'private' (not)".to_string(),
    ];
    serve_until_stopped(cloud, emu, &lines).await
}

#[cfg(feature = "ec2")]
async fn run_ec2(moto: String, root: PathBuf) -> Result<(), Error> {
    use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
    use nubo::testcloud::Role;
    use nubo::testcloud::moto::MotoHosts;
    let loopback = moto
        .strip_prefix("http://")
        .and_then(|rest| rest.split(['/', ':']).next())
        .and_then(|host| host.parse::<std::net::IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback());
    if !loopback {
        return Err(Error::NotLoopbackUrl(moto));
    }
    let (cloud, _lock) = fresh_cloud(root, "ec2").await?;
    let net = {
        let cloud = cloud.clone();
        blocking(move || cloud.network("vpc", Role::Public)).await?
    };
    let region = "us-east-1";
    let client = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(Credentials::new(
                "AKIDNUBOTESTCLOUD",
                "x",
                None,
                None,
                "nubo",
            ))
            .endpoint_url(&moto)
            .build(),
    );
    let made = async {
        let vpc = client
            .create_vpc()
            .cidr_block("10.250.0.0/16")
            .send()
            .await
            .map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(e).to_string())?;
        let vpc = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_string();
        let subnet = client
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(net.cidr())
            .send()
            .await
            .map_err(|e| aws_sdk_ec2::error::DisplayErrorContext(e).to_string())?;
        let subnet = subnet
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_string();
        Ok::<_, String>((vpc, subnet))
    }
    .await;
    let (vpc, subnet) = or_destroy(
        &cloud,
        made.map_err(|why| Error::Moto {
            url: moto.clone(),
            why,
        }),
    )
    .await?;
    let hosts = MotoHosts::start(
        cloud.clone(),
        net,
        &moto,
        region,
        &subnet,
        std::time::Duration::from_millis(200),
    );
    let lines = [
        format!(
            "id = ec2; type = EC2; host = {moto}; username = AKIDNUBOTEST; password = 'nubo-secret-key'"
        ),
        "# image: disk.0.image.url = 'aws://us-east-1/ami-12c6146b' and disk.0.os.credentials.username = 'cloudadm'".to_string(),
        format!("# network: provider_id = '{vpc}.{subnet}' (no public network: moto's public addresses lead nowhere)"),
    ];
    serve_until_stopped(cloud, hosts, &lines).await
}

async fn run_openstack(listen: SocketAddr, root: PathBuf) -> Result<(), Error> {
    if !listen.ip().is_loopback() {
        return Err(Error::NotLoopback(listen));
    }
    let (cloud, _lock) = fresh_cloud(root, "openstack").await?;
    let config = EmuConfig {
        networks: vec![
            openstack::network("a1e3b0c4-0000-4000-8000-000000000001", "public", true, ""),
            openstack::network("a1e3b0c4-0000-4000-8000-000000000002", "private", false, ""),
        ],
        hosts: Some(cloud.clone()),
        ..EmuConfig::default()
    };
    let emu = or_destroy(&cloud, OstEmu::start_on(config, listen).await).await?;
    let lines = [
        format!(
            "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default",
            emu.keystone()
        ),
        format!(
            "# image: disk.0.image.url = 'ost://{}/{IMAGE_ID}' and disk.0.os.credentials.username = 'cloudadm'",
            emu.addr.ip()
        ),
    ];
    serve_until_stopped(cloud, emu, &lines).await
}

/// `r`, or, if it failed, `cloud` removed first (nothing half made left).
async fn or_destroy<T, E: Into<Error>>(cloud: &TestCloud, r: Result<T, E>) -> Result<T, Error> {
    match r {
        Ok(v) => Ok(v),
        Err(e) => {
            let cloud = cloud.clone();
            let _ = blocking(move || cloud.destroy()).await;
            Err(e.into())
        }
    }
}

/// Runs `f` off the runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TestCloudError> + Send + 'static,
) -> Result<T, TestCloudError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Holds an exclusive lock on `path` while the returned file is open.
fn lock(path: &Path, root: &Path, name: &'static str) -> Result<std::fs::File, Error> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|source| Error::Io {
            what: "cannot open",
            path: path.to_path_buf(),
            source,
        })?;
    // SAFETY: flock(2) on a descriptor we own.
    let r = unsafe {
        libc::flock(
            std::os::fd::AsRawFd::as_raw_fd(&file),
            libc::LOCK_EX | libc::LOCK_NB,
        )
    };
    if r != 0 {
        return Err(Error::Busy(name, root.to_path_buf()));
    }
    Ok(file)
}

async fn wait_for_stop() -> Result<(), Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(Error::Signal)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
