//! A `moto_server` (moto's standalone server, `pip install 'moto[server]'`)
//! on 127.0.0.1 for the EC2 tests: started on a free port, killed (with
//! its process group) when dropped.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    host: String,
    port: u16,
}

impl Moto {
    /// Starts one, or says why it cannot (`skip_or_fail`) and returns
    /// `None` when moto is not installed.
    pub fn start() -> Option<Moto> {
        Self::start_with(&[])
    }

    /// Starts one with extra environment variables (moto reads its
    /// settings from there, e.g. `INITIAL_NO_AUTH_ACTION_COUNT`).
    pub fn start_with(env: &[(&str, &str)]) -> Option<Moto> {
        Self::start_on("127.0.0.1", 0, env)
    }

    /// Starts one listening on `host` (an address of this machine, such
    /// as a local-provider cluster's bridge address, which its nodes
    /// reach) and `port` (0: a free one).
    pub fn start_on(host: &str, port: u16, env: &[(&str, &str)]) -> Option<Moto> {
        let installed = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            super::skip_or_fail(
                "moto_server is not installed (scripts/install-test-deps.sh: pip install 'moto[server]')",
            );
            return None;
        }
        let port = match port {
            0 => std::net::TcpListener::bind((host, 0))
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port(),
            p => p,
        };
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", host, "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so a drop kills whatever it started.
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start moto_server");
        let moto = Moto {
            child,
            host: host.to_string(),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect((host, port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {host}:{port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// `http://HOST:PORT` (`127.0.0.1` unless started with
    /// [`Moto::start_on`]).
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: signalling the process group this test started.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
