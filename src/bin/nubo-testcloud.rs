//! `nubo-testcloud`: a test cloud on this machine, to try nubo's cloud path
//! without a cloud. `nubo-testcloud openstack --listen 127.0.0.1:PORT`
//! serves the OpenStack emulator (Keystone v3, Nova, Neutron, Glance,
//! written from the API references: `nubo::testcloud::emu::openstack`) on
//! that loopback address, with a host booted by Debian's cloud-init
//! behind every server it creates (networks `public`, external, and
//! `private` in 10.250.224.0/19). Its first line of output is the auth
//! line to use; it runs until SIGINT or SIGTERM, then removes every host
//! and network it made. Needs root.

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

#[derive(Subcommand)]
enum Cloud {
    /// OpenStack: Keystone v3, Nova, Neutron and Glance, a cloud-init host
    /// behind every server, a floating IP a NIC on the public network.
    /// Prints the auth line first, then the image to use.
    Openstack {
        /// Where the API listens: a loopback address (port 0: any free one).
        #[arg(long, default_value = "127.0.0.1:5000")]
        listen: SocketAddr,
        /// Where the hosts' files are kept while they run.
        #[arg(long, default_value = TestCloud::DEFAULT_ROOT)]
        root: PathBuf,
    },
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(
        "--listen {0}: give a loopback address (127.0.0.1:PORT); the test cloud serves this machine only"
    )]
    NotLoopback(SocketAddr),
    #[error(
        "another nubo-testcloud openstack runs with --root {0}; stop it, or give another --root"
    )]
    Busy(PathBuf),
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
    let Cloud::Openstack { listen, root } = args.cloud;
    if !listen.ip().is_loopback() {
        return Err(Error::NotLoopback(listen));
    }
    std::fs::create_dir_all(&root).map_err(|source| Error::Io {
        what: "cannot create",
        path: root.clone(),
        source,
    })?;
    let _lock = lock(&root.join("openstack.lock"), &root)?;
    // What a killed run left under this root goes first.
    let cloud = blocking(move || {
        let old = TestCloud::new(&root, "openstack")?;
        old.destroy()?;
        TestCloud::new(&root, "openstack")
    })
    .await?;
    let config = EmuConfig {
        networks: vec![
            openstack::network("a1e3b0c4-0000-4000-8000-000000000001", "public", true, ""),
            openstack::network("a1e3b0c4-0000-4000-8000-000000000002", "private", false, ""),
        ],
        hosts: Some(cloud.clone()),
        ..EmuConfig::default()
    };
    let served = OstEmu::start_on(config, listen).await;
    let emu = match served {
        Ok(emu) => emu,
        Err(e) => {
            let _ = blocking(move || cloud.destroy()).await;
            return Err(e.into());
        }
    };
    let waited = {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "id = ost; type = OpenStack; host = {}; username = alice; password = 'ostpass'; tenant = demo; domain = Default",
            emu.keystone()
        );
        let _ = writeln!(
            out,
            "# image: disk.0.image.url = 'ost://{}/{IMAGE_ID}' and disk.0.os.credentials.username = 'cloudadm'",
            emu.addr.ip()
        );
        let _ = out.flush();
        drop(out);
        wait_for_stop().await
    };
    drop(emu);
    blocking(move || cloud.destroy()).await?;
    waited
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
fn lock(path: &Path, root: &Path) -> Result<std::fs::File, Error> {
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
        return Err(Error::Busy(root.to_path_buf()));
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
