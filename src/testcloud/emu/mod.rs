//! Emulated cloud front ends, written from the published API references
//! because no real OpenNebula or OpenStack API can run in the tests (the
//! real OpenStack services are the other test cloud), and a Kubernetes API
//! server for the elasticity daemon's `kubernetes` queue ([`kube`]): in-process HTTP
//! servers that keep their resources in memory, and, given a
//! [`TestCloud`](super::TestCloud), boot a real host for each VM
//! ([`backing`]). Used by the tests and by `nubo-testcloud`.

pub mod backing;
pub mod kube;
pub mod opennebula;
pub mod openstack;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

/// What an emulator answers.
pub type Answer = Response<Full<Bytes>>;

/// Why an emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    #[error("cannot listen: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    TestCloud(#[from] super::TestCloudError),
}

/// Listens on 127.0.0.1 (a free port) and answers every HTTP/1 request
/// with `handle`, which is also given the server's own address (a cloud's
/// catalog points back at it). Aborting the returned task stops the server and, since
/// connections live in the task, closes them too.
pub async fn serve<F, Fut>(handle: F) -> (SocketAddr, tokio::task::JoinHandle<()>)
where
    F: Fn(SocketAddr, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Answer, Infallible>> + Send + 'static,
{
    serve_on(SocketAddr::from(([127, 0, 0, 1], 0)), handle)
        .await
        .unwrap_or_else(|e| panic!("an emulator cannot listen on 127.0.0.1: {e}"))
}

/// [`serve`] on `bind`.
pub async fn serve_on<F, Fut>(
    bind: SocketAddr,
    handle: F,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)>
where
    F: Fn(SocketAddr, Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<Answer, Infallible>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            while connections.try_join_next().is_some() {}
            let handle = handle.clone();
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(
                        TokioIo::new(stream),
                        service_fn(move |req| handle(addr, req)),
                    )
                    .await;
            });
        }
    });
    Ok((addr, task))
}
