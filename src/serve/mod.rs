//! `nubo serve`: the Infrastructure Manager's REST API over nubo's
//! library, so that IM's clients (`im_client.py`, `ec3`, CLUES's IM
//! plugin) drive nubo unchanged.
//!
//! One concept a file: `auth.rs` (the Authorization header: the caller and
//! its clouds), `negotiate.rs` (Content-Type and Accept, IM's JSON
//! wrapping), `error.rs` (each failure's status code and body),
//! `registry.rs` (infrastructure ids, owners and locks), `im_state.rs`
//! (IM's state names and rule), `vms.rs` (VMs as IM numbers and describes
//! them), `resize.rs` (adding and removing VMs as a change of the
//! recorded description), `policy.rs` (what a description sent over
//! the API may not ask of the server's machine), `routes.rs` (the
//! endpoints), `tls.rs` (HTTPS with `--tls-cert` and `--tls-key`),
//! `estimate.rs` (what a `dry_run` create would ask of each cloud). The
//! handlers call `ops/` as the CLI does; nothing here knows a provider's
//! internals.

mod auth;
mod error;
mod estimate;
mod im_state;
mod negotiate;
mod policy;
mod registry;
mod resize;
mod routes;
mod tls;
mod vms;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::ServiceExt;

pub use error::ServeError;
pub use registry::RegistryError;
pub use tls::TlsError;

use crate::state::{StateError, StateStore};

/// Where and how `nubo serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The state directory; `None`: [`StateStore::default_dir`].
    pub state_dir: Option<PathBuf>,
    /// The local provider's root (`--local-root`).
    pub local_root: Option<PathBuf>,
    /// The largest request body taken; larger ones get 413.
    pub body_limit: usize,
    /// HTTPS: the PEM certificate chain and the PEM private key.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// The default body limit: 4 MiB, far above any RADL or TOSCA document.
pub const BODY_LIMIT: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the infrastructure records: {0}")]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the server failed: {0}")]
    Serve(std::io::Error),
    #[error("starting the server did not finish: {0}")]
    Interrupted(String),
}

/// A server bound to its address, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Arc<routes::App>,
    body_limit: usize,
}

impl Server {
    /// Opens the state store and the infrastructure records, and binds.
    pub async fn bind(opts: &ServeOptions) -> Result<Server, StartError> {
        let tls = match &opts.tls {
            Some((cert, key)) => {
                let (cert, key) = (cert.clone(), key.clone());
                Some(
                    tokio::task::spawn_blocking(move || tls::acceptor(&cert, &key))
                        .await
                        .map_err(|e| StartError::Interrupted(e.to_string()))??,
                )
            }
            None => None,
        };
        let state_dir = opts.state_dir.clone();
        let (store, registry) = tokio::task::spawn_blocking(move || {
            let dir = match state_dir {
                Some(d) => d,
                None => StateStore::default_dir()?,
            };
            let store = StateStore::open(dir)?;
            let registry = registry::Registry::open(store.dir().join("serve"))?;
            Ok::<_, StartError>((store, registry))
        })
        .await
        .map_err(|e| StartError::Interrupted(e.to_string()))??;
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: opts.listen,
                source,
            })?;
        Ok(Server {
            listener,
            tls,
            app: Arc::new(routes::App {
                registry: Arc::new(registry),
                store: Arc::new(store),
                local_root: opts.local_root.clone(),
            }),
            body_limit: opts.body_limit,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` when it serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Serves until `shutdown` completes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let router = routes::router(self.app, self.body_limit);
        let app = tower::util::MapRequestLayer::new(routes::collapse_slashes::<axum::body::Body>)
            .layer(router);
        match self.tls {
            None => axum::serve(self.listener, app.into_make_service())
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(StartError::Serve),
            Some(acceptor) => {
                let listener =
                    tls::TlsListener::new(self.listener, acceptor).map_err(StartError::Serve)?;
                axum::serve(listener, app.into_make_service())
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(StartError::Serve)
            }
        }
    }
}

use tower::Layer;
