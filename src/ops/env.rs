//! `Env`: what every cluster operation works with: the state store, the
//! providers from the auth file, and where SSH host keys are recorded.

use crate::model::SystemSpec;
use crate::provider::Provider;
use crate::provider::local::LocalProvider;
use crate::provider::local_cloud::LocalCloud;
use crate::state::{StateError, StateStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options that say where things are.
#[derive(Clone, Debug, Default)]
pub struct EnvOptions {
    /// The state directory; `None`: [`StateStore::default_dir`].
    pub state_dir: Option<PathBuf>,
    /// The local provider's root; `None`: its default (`/run/nubo/local`),
    /// or `$NUBO_LOCAL_ROOT`.
    pub local_root: Option<PathBuf>,
}

/// The providers a cluster may use, in auth-file order.
#[derive(Clone, Default)]
pub struct Providers {
    list: Vec<Arc<dyn Provider>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    #[error(
        "system `{system}` is pinned to cloud `{id}`, which the auth file does not define: add a line with `id = {id}` or change the deploy"
    )]
    UnknownCloud { system: String, id: String },
    #[error(
        "no provider in the auth file can run system `{system}` (image `{image}`): add a line for a {kind} cloud"
    )]
    NoProvider {
        system: String,
        image: String,
        kind: &'static str,
    },
}

impl Providers {
    pub fn new(list: Vec<Arc<dyn Provider>>) -> Self {
        Providers { list }
    }

    /// The local provider alone (`id = local; type = Local`), the default
    /// without an auth file.
    pub fn local_only(root: Option<&Path>) -> Self {
        let root = root
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("NUBO_LOCAL_ROOT").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(LocalProvider::DEFAULT_ROOT));
        Providers::new(vec![Arc::new(LocalCloud::new(
            "local",
            LocalProvider::new(root),
        ))])
    }

    pub fn all(&self) -> &[Arc<dyn Provider>] {
        &self.list
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<dyn Provider>> {
        self.list.iter().find(|p| p.id() == id).cloned()
    }

    /// Where a system's VMs go: the cloud its `deploy` pins, else the kind
    /// its image URL names (`local://`, `one://`, `ost://`, `aws://`), else
    /// the first provider.
    pub fn for_system(&self, s: &SystemSpec) -> Result<Arc<dyn Provider>, PlacementError> {
        if let Some(id) = &s.cloud {
            return self.by_id(id).ok_or_else(|| PlacementError::UnknownCloud {
                system: s.name.clone(),
                id: id.clone(),
            });
        }
        let image = s.image_url.clone().unwrap_or_default();
        let kind = match image.split_once("://").map(|(scheme, _)| scheme) {
            Some("local") => Some("Local"),
            Some("one") => Some("OpenNebula"),
            Some("ost") => Some("OpenStack"),
            Some("aws") => Some("EC2"),
            _ => None,
        };
        match kind {
            Some(kind) => self.list.iter().find(|p| p.kind() == kind).cloned().ok_or(
                PlacementError::NoProvider {
                    system: s.name.clone(),
                    image,
                    kind,
                },
            ),
            None => self
                .list
                .first()
                .cloned()
                .ok_or(PlacementError::NoProvider {
                    system: s.name.clone(),
                    image,
                    kind: "Local",
                }),
        }
    }
}

/// The state store and the providers.
#[derive(Clone)]
pub struct Env {
    pub store: Arc<StateStore>,
    pub providers: Providers,
}

impl Env {
    /// Opens the state store; the providers are the local one unless
    /// given.
    pub fn open(opts: &EnvOptions, providers: Option<Providers>) -> Result<Env, StateError> {
        let dir = match &opts.state_dir {
            Some(d) => d.clone(),
            None => StateStore::default_dir()?,
        };
        let store = StateStore::open(dir)?;
        Ok(Env {
            store: Arc::new(store),
            providers: providers
                .unwrap_or_else(|| Providers::local_only(opts.local_root.as_deref())),
        })
    }

    /// The cluster's known_hosts file.
    pub fn known_hosts_path(&self, cluster: &str) -> PathBuf {
        self.store.dir().join("known_hosts").join(cluster)
    }
}
