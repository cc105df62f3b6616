//! `Env`: what every cluster operation works with: the state store, the
//! providers from the auth file, and where SSH host keys are recorded.

use crate::auth::{self, AuthError, AuthFile, Credential, ProviderKind};
use crate::model::{ClusterSpec, SystemSpec};
use crate::provider::Provider;
use crate::provider::local::LocalProvider;
use crate::provider::local_cloud::LocalCloud;
use crate::provider::opennebula::OpenNebula;
use crate::provider::openstack::OpenStack;
use crate::state::{StateError, StateStore};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options that say where things are.
#[derive(Clone, Debug, Default)]
pub struct EnvOptions {
    /// The auth file (`-a`); without it, the cluster's recorded one, else
    /// the local provider alone.
    pub auth: Option<PathBuf>,
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
        "systems `{a}` (on `{pa}`) and `{b}` (on `{pb}`) share the private network `{network}`, so they must be on one cloud: pin both to one cloud, or make the network public (outbound = 'yes')"
    )]
    SplitNetwork {
        network: String,
        a: String,
        pa: String,
        b: String,
        pb: String,
    },
    #[error(
        "no provider in the auth file can run system `{system}` (image `{image}`): add a line for a {kind} cloud"
    )]
    NoProvider {
        system: String,
        image: String,
        kind: ProviderKind,
    },
}

impl Providers {
    pub fn new(list: Vec<Arc<dyn Provider>>) -> Self {
        Providers { list }
    }

    /// The local provider alone (`id = local; type = Local`), the default
    /// without an auth file.
    pub fn local_only(root: Option<&Path>) -> Self {
        Providers::new(vec![Arc::new(LocalCloud::new(
            "local",
            LocalProvider::new(local_root_of(root)),
        ))])
    }

    pub fn all(&self) -> &[Arc<dyn Provider>] {
        &self.list
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<dyn Provider>> {
        self.list.iter().find(|p| p.id() == id).cloned()
    }

    /// Where each system's VMs go: the cloud its `deploy` pins, else the
    /// kind its image URL names; a system with neither goes where a system
    /// sharing one of its private networks goes (IM's rule: a private
    /// network does not span clouds), else to the first provider.
    pub fn place(
        &self,
        spec: &ClusterSpec,
    ) -> Result<HashMap<String, Arc<dyn Provider>>, PlacementError> {
        let mut placed: HashMap<String, Arc<dyn Provider>> = HashMap::new();
        for s in &spec.systems {
            if let Some(p) = self.explicit(s)? {
                placed.insert(s.name.clone(), p);
            }
        }
        let private = |net: &str| spec.networks.iter().any(|n| n.name == net && !n.public);
        // Spread along private networks until nothing changes.
        loop {
            let mut changed = false;
            for s in &spec.systems {
                if placed.contains_key(&s.name) {
                    continue;
                }
                let peer = spec.systems.iter().find(|o| {
                    placed.contains_key(&o.name)
                        && o.interfaces.iter().any(|i| {
                            private(&i.network)
                                && s.interfaces.iter().any(|j| j.network == i.network)
                        })
                });
                if let Some(o) = peer {
                    let p = placed[&o.name].clone();
                    placed.insert(s.name.clone(), p);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for s in &spec.systems {
            if !placed.contains_key(&s.name) {
                placed.insert(s.name.clone(), self.for_system(s)?);
            }
        }
        // A private network must not span two clouds.
        for n in spec.networks.iter().filter(|n| !n.public) {
            let on: Vec<&SystemSpec> = spec
                .systems
                .iter()
                .filter(|s| s.count > 0 && s.interfaces.iter().any(|i| i.network == n.name))
                .collect();
            if let Some(first) = on.first() {
                let pa = placed[&first.name].id().to_string();
                if let Some(other) = on.iter().find(|s| placed[&s.name].id() != pa) {
                    return Err(PlacementError::SplitNetwork {
                        network: n.name.clone(),
                        a: first.name.clone(),
                        pa,
                        b: other.name.clone(),
                        pb: placed[&other.name].id().to_string(),
                    });
                }
            }
        }
        Ok(placed)
    }

    /// The cloud a system names itself: its `deploy` pin or its image
    /// URL's kind.
    fn explicit(&self, s: &SystemSpec) -> Result<Option<Arc<dyn Provider>>, PlacementError> {
        if s.cloud.is_some() || s.image_url.as_deref().and_then(image_kind).is_some() {
            self.for_system(s).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Where one system's VMs go, alone: the cloud its `deploy` pins, else
    /// the kind its image URL names (`local://`, `one://`, `ost://`,
    /// `aws://`), else the first provider.
    pub fn for_system(&self, s: &SystemSpec) -> Result<Arc<dyn Provider>, PlacementError> {
        if let Some(id) = &s.cloud {
            return self.by_id(id).ok_or_else(|| PlacementError::UnknownCloud {
                system: s.name.clone(),
                id: id.clone(),
            });
        }
        let image = s.image_url.clone().unwrap_or_default();
        match image_kind(&image) {
            // A Dummy credential stands in for any cloud, as IM's Dummy
            // connector accepts any image.
            Some(kind) => self
                .list
                .iter()
                .find(|p| kind == p.kind())
                .or_else(|| self.list.iter().find(|p| p.kind() == "Dummy"))
                .cloned()
                .ok_or(PlacementError::NoProvider {
                    system: s.name.clone(),
                    image,
                    kind,
                }),
            None => self
                .list
                .first()
                .cloned()
                .ok_or(PlacementError::NoProvider {
                    system: s.name.clone(),
                    image,
                    kind: ProviderKind::Local,
                }),
        }
    }
}

/// The kind of cloud an image URL's scheme names: `local://`, `one://`,
/// `ost://`, `aws://`.
fn image_kind(url: &str) -> Option<ProviderKind> {
    match url.split_once("://")?.0 {
        "local" => Some(ProviderKind::Local),
        "one" => Some(ProviderKind::OpenNebula),
        "ost" => Some(ProviderKind::OpenStack),
        "aws" => Some(ProviderKind::EC2),
        _ => None,
    }
}

/// The local provider's root: given, else `$NUBO_LOCAL_ROOT`, else the
/// default.
fn local_root_of(root: Option<&Path>) -> PathBuf {
    root.map(Path::to_path_buf)
        .or_else(|| std::env::var_os("NUBO_LOCAL_ROOT").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(LocalProvider::DEFAULT_ROOT))
}

#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error(transparent)]
    State(#[from] StateError),
    /// The auth file has errors (each names its file:line:column).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Auth(Vec<AuthError>),
    #[error("{0}")]
    Provider(String),
}

/// The kinds of credential a launch can use today.
#[cfg(feature = "ec2")]
pub const USABLE_KINDS: &[ProviderKind] = &[
    ProviderKind::Local,
    ProviderKind::OpenNebula,
    ProviderKind::OpenStack,
    ProviderKind::EC2,
    ProviderKind::Dummy,
];
/// The kinds of credential a launch can use today.
#[cfg(not(feature = "ec2"))]
pub const USABLE_KINDS: &[ProviderKind] = &[
    ProviderKind::Local,
    ProviderKind::OpenNebula,
    ProviderKind::OpenStack,
    ProviderKind::Dummy,
];

/// The EC2 provider of a credential.
#[cfg(feature = "ec2")]
fn ec2_provider(c: &Credential) -> Result<Arc<dyn Provider>, String> {
    crate::provider::ec2::Ec2::from_credential(c)
        .map(|p| Arc::new(p) as Arc<dyn Provider>)
        .map_err(|e| e.to_string())
}

/// Without the `ec2` feature an EC2 line is an error, not skipped: the
/// user meant it.
#[cfg(not(feature = "ec2"))]
fn ec2_provider(_: &Credential) -> Result<Arc<dyn Provider>, String> {
    Err("this nubo was built without EC2 support (cargo feature `ec2`)".into())
}

impl Providers {
    /// One provider per usable credential of the auth file, in its order.
    /// Credentials of other kinds (the Infrastructure Manager's own, clouds
    /// nubo does not drive yet) are skipped; none usable is an error.
    pub fn from_auth(auth: &AuthFile, local_root: Option<&Path>) -> Result<Providers, EnvError> {
        let mut list: Vec<Arc<dyn Provider>> = Vec::new();
        for c in &auth.entries {
            match c.kind {
                ProviderKind::Local => {
                    let id = c.id.clone().unwrap_or_else(|| "local".into());
                    list.push(Arc::new(LocalCloud::new(
                        id,
                        LocalProvider::new(local_root_of(local_root)),
                    )));
                }
                ProviderKind::OpenNebula => list
                    .push(Arc::new(OpenNebula::from_credential(c).map_err(|e| {
                        EnvError::Provider(format!("{}: {e}", c.describe()))
                    })?)),
                ProviderKind::OpenStack => list
                    .push(Arc::new(OpenStack::from_credential(c).map_err(|e| {
                        EnvError::Provider(format!("{}: {e}", c.describe()))
                    })?)),
                ProviderKind::EC2 => list.push(
                    ec2_provider(c)
                        .map_err(|e| EnvError::Provider(format!("{}: {e}", c.describe())))?,
                ),
                ProviderKind::Dummy => {
                    let id = c.id.clone().unwrap_or_else(|| "dummy".into());
                    list.push(Arc::new(crate::provider::dummy::Dummy::new(id)));
                }
                ProviderKind::InfrastructureManager
                | ProviderKind::VMRC
                | ProviderKind::AppDBIS
                | ProviderKind::Azure
                | ProviderKind::AzureClassic
                | ProviderKind::GCE
                | ProviderKind::Docker
                | ProviderKind::Kubernetes
                | ProviderKind::KubeVirt
                | ProviderKind::OCCI
                | ProviderKind::LibCloud
                | ProviderKind::LibVirt
                | ProviderKind::CloudStack
                | ProviderKind::Linode
                | ProviderKind::Orange
                | ProviderKind::EGI
                | ProviderKind::FogBow
                | ProviderKind::Lambda
                | ProviderKind::OSCAR
                | ProviderKind::VSphere
                | ProviderKind::Hetzner
                | ProviderKind::UpCloud
                | ProviderKind::DeployedNode => {}
            }
        }
        if list.is_empty() {
            return Err(EnvError::Provider(format!(
                "the auth file has no credential nubo can launch on (usable types: {}); add `id = local; type = Local` for the local machine",
                ProviderKind::list(USABLE_KINDS)
            )));
        }
        Ok(Providers::new(list))
    }
}

/// The auth file as IM's JSON form, its `file(...)` values read: what a
/// launch records (as a secret, mode 0600) so later commands on the
/// cluster find its clouds without `-a`.
pub fn auth_json(auth: &AuthFile) -> String {
    let list: Vec<serde_json::Value> = auth
        .entries
        .iter()
        .map(|c: &Credential| {
            let mut o = serde_json::Map::new();
            if let Some(id) = &c.id {
                o.insert("id".into(), id.clone().into());
            }
            o.insert("type".into(), c.kind.as_str().into());
            for (k, v) in &c.fields {
                o.insert(k.clone(), v.expose().to_string().into());
            }
            serde_json::Value::Object(o)
        })
        .collect();
    serde_json::Value::Array(list).to_string()
}

/// The name of the secret a launch records its auth under.
pub(crate) const AUTH_SECRET: &str = "auth";

/// The state store and the providers.
#[derive(Clone)]
pub struct Env {
    pub store: Arc<StateStore>,
    pub providers: Providers,
    /// The auth file given with `-a`, if one was.
    pub auth: Option<AuthFile>,
    local_root: Option<PathBuf>,
}

impl Env {
    /// Opens the state store and reads the auth file, if given; without
    /// one the providers are the local one (until [`Env::for_cluster`]
    /// finds a recorded auth).
    pub fn open(opts: &EnvOptions) -> Result<Env, EnvError> {
        let dir = match &opts.state_dir {
            Some(d) => d.clone(),
            None => StateStore::default_dir()?,
        };
        let store = StateStore::open(dir)?;
        let auth = match &opts.auth {
            Some(p) => Some(AuthFile::read(p).map_err(EnvError::Auth)?),
            None => None,
        };
        let providers = match &auth {
            Some(a) => Providers::from_auth(a, opts.local_root.as_deref())?,
            None => Providers::local_only(opts.local_root.as_deref()),
        };
        Ok(Env {
            store: Arc::new(store),
            providers,
            auth,
            local_root: opts.local_root.clone(),
        })
    }

    /// An `Env` on an open state store with these credentials (`nubo
    /// serve`: one store, each request's auth); `None`: the cluster's
    /// recorded auth, through [`Env::for_cluster`], else the local
    /// provider.
    pub fn with_store(
        store: Arc<StateStore>,
        auth: Option<AuthFile>,
        local_root: Option<PathBuf>,
    ) -> Result<Env, EnvError> {
        let providers = match &auth {
            Some(a) => Providers::from_auth(a, local_root.as_deref())?,
            None => Providers::local_only(local_root.as_deref()),
        };
        Ok(Env {
            store,
            providers,
            auth,
            local_root,
        })
    }

    /// Records the `-a` auth file for the cluster (a 0600 secret), so later
    /// commands find its clouds.
    pub fn record_auth(&self, cluster: &str) -> Result<(), EnvError> {
        if let Some(a) = &self.auth {
            self.store.put_secret(
                cluster,
                AUTH_SECRET,
                &crate::state::Secret::new(auth_json(a)),
            )?;
        }
        Ok(())
    }

    /// Without `-a`, the providers of the auth the cluster was launched
    /// with, if it recorded one.
    pub fn for_cluster(mut self, cluster: &str) -> Result<Env, EnvError> {
        if self.auth.is_some() || self.store.cluster(cluster)?.is_none() {
            return Ok(self);
        }
        if let Some(secret) = self.store.secret(cluster, AUTH_SECRET)? {
            let recorded = auth::parse("the recorded auth", secret.expose(), Path::new("."))
                .map_err(EnvError::Auth)?;
            self.providers = Providers::from_auth(&recorded, self.local_root.as_deref())?;
        }
        Ok(self)
    }

    /// The auth in use for `cluster`: the `-a` file if one was given, else
    /// the one recorded at launch, if any.
    pub fn auth_for(&self, cluster: &str) -> Result<Option<AuthFile>, EnvError> {
        if let Some(a) = &self.auth {
            return Ok(Some(a.clone()));
        }
        match self.store.secret(cluster, AUTH_SECRET)? {
            Some(secret) => auth::parse("the recorded auth", secret.expose(), Path::new("."))
                .map(Some)
                .map_err(EnvError::Auth),
            None => Ok(None),
        }
    }

    /// The cluster's known_hosts file.
    /// The state store for async code: every call on a blocking thread.
    pub fn db(&self) -> super::db::Db {
        super::db::Db::new(self.store.clone())
    }

    pub fn known_hosts_path(&self, cluster: &str) -> PathBuf {
        self.store.dir().join("known_hosts").join(cluster)
    }

    /// Where a cluster's Ansible runs work: playbooks and inventories
    /// while they run, gathered facts, the kept Vault password.
    pub fn ansible_dir(&self, cluster: &str) -> PathBuf {
        self.store.dir().join("ansible").join(cluster)
    }

    /// Where Ansible is installed when PATH has none that fits, one
    /// directory per package and version (`ansible_install`).
    pub fn ansible_install_dir(&self) -> PathBuf {
        self.store.dir().join("ansible-install")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn spec(text: &str) -> ClusterSpec {
        let v = crate::radl::validate(FileId(0), text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        crate::model::lower(&v.document).0
    }

    fn two_locals() -> Providers {
        Providers::new(vec![
            Arc::new(LocalCloud::new("a", LocalProvider::new("/nonexistent/a"))),
            Arc::new(LocalCloud::new("b", LocalProvider::new("/nonexistent/b"))),
        ])
    }

    #[test]
    fn systems_on_one_private_network_share_a_cloud() {
        let s = spec(
            "network priv ()\nnetwork pub (outbound = 'yes')\n\
             system front (net_interface.0.connection = 'priv')\n\
             system wn (net_interface.0.connection = 'priv')\n\
             system other (net_interface.0.connection = 'pub')\n\
             deploy wn 2 b\ndeploy front 1\ndeploy other 1\n",
        );
        let placed = two_locals().place(&s).unwrap();
        assert_eq!(placed["wn"].id(), "b");
        assert_eq!(placed["front"].id(), "b", "follows wn along `priv`");
        assert_eq!(placed["other"].id(), "a", "the first provider");
    }

    #[test]
    fn an_ec2_line() {
        let a = auth::parse(
            "auth.dat",
            "id = here; type = Local\nid = aws; type = EC2; username = AKID; password = 'sk'; host = http://127.0.0.1:9\n",
            Path::new("."),
        )
        .unwrap();
        let r = Providers::from_auth(&a, Some(Path::new("/nonexistent")));
        #[cfg(feature = "ec2")]
        {
            let p = r.unwrap_or_else(|e| panic!("{e}"));
            assert!(ProviderKind::EC2 == p.by_id("aws").unwrap().kind());
            assert!(USABLE_KINDS.contains(&ProviderKind::EC2));
            let s = spec(
                "system a (disk.0.image.url = 'aws://eu-west-1/ami-1')\n\
                 system b ()\ndeploy a 1\ndeploy b 1\n",
            );
            let placed = p.place(&s).unwrap();
            assert_eq!(placed["a"].id(), "aws", "aws:// chooses the EC2 cloud");
            assert_eq!(placed["b"].id(), "here", "the first provider");
        }
        #[cfg(not(feature = "ec2"))]
        {
            let e = r.err().expect("refused").to_string();
            assert!(e.contains("built without EC2 support"), "{e}");
            assert!(e.contains("`aws` (EC2, line 2)"), "{e}");
        }
    }

    #[test]
    fn a_dummy_credential_takes_any_image() {
        let p = Providers::new(vec![Arc::new(crate::provider::dummy::Dummy::new("d"))]);
        let s = spec(
            "system a (disk.0.image.url = 'one://h/12')\nsystem b ()\ndeploy a 1\ndeploy b 1\n",
        );
        let placed = p.place(&s).unwrap();
        assert_eq!(placed["a"].id(), "d");
        assert_eq!(placed["b"].id(), "d");
    }

    #[test]
    fn a_private_network_across_two_pinned_clouds_is_an_error() {
        let s = spec(
            "network priv ()\n\
             system front (net_interface.0.connection = 'priv')\n\
             system wn (net_interface.0.connection = 'priv')\n\
             deploy wn 2 b\ndeploy front 1 a\n",
        );
        let err = two_locals().place(&s).err().expect("refused");
        assert!(
            err.to_string().contains("share the private network `priv`"),
            "{err}"
        );
    }
}
