//! `nubo serve`: the Infrastructure Manager's REST API (`src/serve/`).

use super::common::runtime;
use super::error::CliResult;
use crate::serve::{BODY_LIMIT, ServeOptions, Server};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8800", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate (then its chain); needs
    /// --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert's certificate.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The state directory [default: $NUBO_HOME, else ~/.local/share/nubo];
    /// each infrastructure is a cluster there, named by its id.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Where the local provider keeps its nodes' files [default:
    /// $NUBO_LOCAL_ROOT, else /run/nubo/local].
    #[arg(long, value_name = "DIR")]
    local_root: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> CliResult {
    let opts = ServeOptions {
        listen: args.listen,
        state_dir: args.state_dir,
        local_root: args.local_root,
        body_limit: BODY_LIMIT,
        tls: args.tls_cert.zip(args.tls_key),
    };
    runtime().block_on(async {
        let server = Server::bind(&opts).await?;
        let addr = server
            .local_addr()
            .map_err(crate::serve::StartError::Serve)?;
        eprintln!("nubo serve: listening on {}://{addr}", server.scheme());
        server.run(shutdown()).await?;
        Ok(())
    })
}

/// SIGINT or SIGTERM.
async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
