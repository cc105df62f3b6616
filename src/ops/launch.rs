//! `nubo launch` and `nubo reconfigure`: compose the templates, plan, and
//! walk the plan against the providers and over SSH, recording everything.
//!
//! A launch converges: run again on a cluster a crash interrupted, it
//! reconciles the open intents, keeps the VMs that run, creates the missing
//! ones, destroys recorded VMs the description no longer asks for, and runs
//! the steps whose recorded run is not `ok` with the same script.

use super::ansible_install::Tools as AnsibleTools;
use super::db::Db;
use super::env::{Env, EnvError, PlacementError};
use super::executor::{ClusterExecutor, ExecutorParts};
use super::git::GitRecipes;
use super::keys::{self, KeyError};
use super::observer::{Event, Observer};
use super::plan::{self, PlanReport};
use super::prepare::{self, PrepareError, Prepared};
use super::recipes::RecipeDirs;
use super::reconcile::{self, ReconcileError};
use super::templates::{self, TemplateSearch};
use crate::diagnostic::Diagnostic;
use crate::plan::graph::PHASES;
use crate::plan::walk::{self, WalkOptions, WalkReport};
use crate::source::SourceMap;
use crate::ssh::{KnownHosts, SshError};
use crate::state::{ClusterStatus, NewCluster, StateError};
use std::sync::Arc;

#[derive(Clone, Debug, Default)]
pub struct LaunchOptions {
    pub name: String,
    pub templates: Vec<String>,
    /// Extra RADL composed last (`--add`).
    pub add: Option<String>,
    pub search: Option<TemplateSearch>,
    pub recipe_dirs: Option<RecipeDirs>,
    /// Plan only.
    pub dry_run: bool,
    /// The Ansible Vault password for configures encrypted with it; kept
    /// with the cluster (0600) for later reconfigures.
    pub vault_password_file: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the cluster's known_hosts file")]
    KnownHosts(#[source] SshError),
    #[error(transparent)]
    Destroy(#[from] super::destroy::VmDestroyError),
    /// Stopping a VM no longer asked for (`ec3_reuse_nodes`).
    #[error(transparent)]
    Stop(#[from] super::power::PowerError),
    #[error(
        "cluster `{0}` is already launched: change it with `nubo reconfigure {0}`, or remove it with `nubo destroy {0}`"
    )]
    Exists(String),
    #[error("cluster `{0}` not found: `nubo list` shows the clusters there are")]
    NotFound(String),
    #[error("preparing the launch did not finish: {0}")]
    Interrupted(String),
    #[error(transparent)]
    Role(#[from] super::ansible_roles::RoleError),
    #[error("this cluster has configures written for Ansible: {0}")]
    Ansible(#[from] super::ansible::AnsibleError),
    #[error("the Ansible Vault password file {}: {source}", path.display())]
    VaultPassword {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

impl From<super::plan::PlanOpError> for LaunchError {
    fn from(e: super::plan::PlanOpError) -> LaunchError {
        match e {
            super::plan::PlanOpError::Prepare(e) => e.into(),
            super::plan::PlanOpError::Placement(e) => e.into(),
            super::plan::PlanOpError::State(e) => e.into(),
        }
    }
}

/// What a launch did.
#[derive(Debug)]
pub struct LaunchReport {
    pub cluster: String,
    pub templates: Vec<String>,
    pub walk: WalkReport,
    /// What was planned (the walk's VM actions may be corrected by what
    /// the providers said: see the observer's `VmAction` events).
    pub plan: PlanReport,
    /// Recorded VMs the description no longer asks for, destroyed.
    pub removed: Vec<String>,
    pub reconciled: Vec<String>,
    /// Composition warnings.
    pub warnings: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl LaunchReport {
    pub fn succeeded(&self) -> bool {
        self.walk.succeeded()
    }
}

/// What `nubo reconfigure` does.
#[derive(Clone, Debug, Default)]
pub struct ReconfigureOptions {
    pub name: String,
    /// Run every step again.
    pub force: bool,
    /// Resolve the branches and tags of recipes from git again (the
    /// network) and record the new commits, instead of the recorded ones.
    pub update_recipes: bool,
    pub recipe_dirs: Option<RecipeDirs>,
}

/// Runs blocking preparation (composing, compiling recipes, `git`) on a
/// blocking thread.
async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, LaunchError> + Send + 'static,
) -> Result<T, LaunchError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LaunchError::Interrupted(e.to_string()))?
}

pub async fn launch(
    env: &Env,
    opts: &LaunchOptions,
    observer: Arc<dyn Observer>,
) -> Result<LaunchReport, LaunchError> {
    let search = opts.search.clone().unwrap_or_default();
    let dirs = opts.recipe_dirs.clone().unwrap_or_default();
    let db = env.db();
    let name = opts.name.clone();
    let _lock = db.lock_cluster(&name).await?;
    let recorded = db.cluster(&name).await?;
    if let Some(c) = &recorded
        && matches!(c.status, ClusterStatus::Running | ClusterStatus::Stopped)
    {
        return Err(LaunchError::Exists(name));
    }
    // A launch that did not finish keeps the commits it resolved.
    let pins = match recorded {
        Some(_) => db.git_pins(&name).await?,
        None => Vec::new(),
    };
    let (templates, add) = (opts.templates.clone(), opts.add.clone());
    let prepared = off_runtime(move || {
        Ok(prepare::prepare(
            &search,
            &templates,
            add.as_deref(),
            &dirs,
            &pins,
        )?)
    })
    .await?;
    // Roles the plays need, before anything is recorded or made.
    let ansible = ansible_ready(
        env,
        &name,
        &prepared,
        opts.vault_password_file.as_deref(),
        &observer,
    )
    .await?;
    let mut reconciled = Vec::new();
    match recorded {
        Some(_) => {
            // A launch that did not finish: converge to this description.
            reconciled = reconcile::reconcile(env, &name).await?.actions;
            db.set_cluster_source(
                &name,
                prepared.composed.record(),
                prepared.composed.templates.clone(),
            )
            .await?;
        }
        None => {
            db.create_cluster(NewCluster {
                name: name.clone(),
                description: prepared.composed.record(),
                templates: prepared.composed.templates.clone(),
                variables: serde_json::json!({}),
            })
            .await?;
        }
    }
    db.set_git_pins(&name, prepared.git_pins.clone()).await?;
    if let Some(from) = opts.vault_password_file.clone() {
        let to = env.ansible_dir(&name).join("vault-password");
        off_runtime(move || keep_secret(&from, &to)).await?;
    }
    let auth_env = env.clone();
    let auth_name = name.clone();
    off_runtime(move || Ok(auth_env.record_auth(&auth_name)?)).await?;
    run(env, &name, prepared, ansible, observer, reconciled, false).await
}

/// `nubo reconfigure`: re-reads the recorded description, starts the VMs
/// that are stopped, re-runs the steps whose script changed or did not
/// finish `ok` (every step with `force`). Recipes from git come from the
/// recorded commits, unless `update_recipes` resolves their branches and
/// tags again (the new commits are recorded before any step runs).
pub async fn reconfigure(
    env: &Env,
    opts: &ReconfigureOptions,
    observer: Arc<dyn Observer>,
) -> Result<LaunchReport, LaunchError> {
    let name = opts.name.clone();
    let dirs = opts.recipe_dirs.clone().unwrap_or_default();
    let db = env.db();
    let _lock = db.lock_cluster(&name).await?;
    let cluster = db
        .cluster(&name)
        .await?
        .ok_or_else(|| LaunchError::NotFound(name.clone()))?;
    // Compile (and fetch) first: a recipe that cannot be had changes
    // nothing.
    let pins = db.git_pins(&name).await?;
    let scaled = {
        let (env, name) = (env.clone(), name.clone());
        off_runtime(move || Ok(prepare::scaled_nodes(&env, &name)?)).await?
    };
    let update = opts.update_recipes;
    let prepared = off_runtime(move || {
        let composed =
            templates::compose_recorded(&TemplateSearch::default(), &cluster.description)
                .map_err(PrepareError::from)?;
        let git = GitRecipes::new(dirs.git.clone(), &pins, update);
        Ok(prepare::finish_prepare(composed, &dirs, scaled, &git)?)
    })
    .await?;
    let ansible = ansible_ready(env, &name, &prepared, None, &observer).await?;
    let reconciled = reconcile::reconcile(env, &name).await?.actions;
    db.set_git_pins(&name, prepared.git_pins.clone()).await?;
    run(
        env, &name, prepared, ansible, observer, reconciled, opts.force,
    )
    .await
}

/// The plan of `prepared` against the records, read through `db`.
async fn plan_of(
    env: &Env,
    db: &Db,
    name: &str,
    prepared: &Prepared,
    force: bool,
) -> Result<PlanReport, LaunchError> {
    let placement = prepare::place(env, &prepared.spec)?;
    let loaded = {
        let (env, name) = (env.clone(), name.to_string());
        db.run(move |s| plan::load(&env, s, &name)).await?
    };
    Ok(plan::against(prepared, &placement, name, &loaded, force))
}

async fn run(
    env: &Env,
    name: &str,
    prepared: Prepared,
    ansible: AnsibleTools,
    observer: Arc<dyn Observer>,
    reconciled: Vec<String>,
    rerun_all: bool,
) -> Result<LaunchReport, LaunchError> {
    let db = env.db();
    let placement = prepare::place(env, &prepared.spec)?;
    let plan = plan_of(env, &db, name, &prepared, rerun_all).await?;
    db.set_cluster_status(name, ClusterStatus::Launching)
        .await?;

    // VMs recorded but no longer asked for: destroy them first.
    let mut removed = Vec::new();
    for node in plan.destroyed() {
        super::destroy::destroy_vm(env, name, node).await?;
        db.delete_vm(name, node).await?;
        observer.on(&Event::Destroyed(node.to_string()));
        removed.push(node.to_string());
    }
    // Those of a system that reuses its nodes: stopped, kept.
    for node in plan.stopped() {
        if let Some(vm) = db.vm(name, node).await? {
            super::power::power_vm(env, name, &vm, super::power::Action::Stop).await?;
        }
    }

    let (public_key, key_path) = {
        let (env, name) = (env.clone(), name.to_string());
        off_runtime(move || Ok(keys::cluster_key(&env, &name)?)).await?
    };
    let known_hosts = {
        let path = env.known_hosts_path(name);
        off_runtime(move || KnownHosts::open(path).map_err(LaunchError::KnownHosts)).await?
    };
    let vault_password = {
        let path = env.ansible_dir(name).join("vault-password");
        off_runtime(move || Ok(path.is_file().then_some(path))).await?
    };
    let variables = db
        .cluster(name)
        .await?
        .map(|c| c.variables)
        .unwrap_or_default();
    let exec = Arc::new(ClusterExecutor::new(
        env.clone(),
        name.to_string(),
        ExecutorParts {
            spec: Arc::new(prepared.spec.clone()),
            placement,
            recipes: prepared.recipes,
            sources: Arc::new(prepared.composed.sources.clone()),
            known_hosts,
            variables,
            public_key,
            key_path,
            vm_actions: plan.vm_actions(),
            rerun_all,
            vault_password,
            ansible,
        },
        observer.clone(),
    ));
    for phase in PHASES {
        let total = prepared
            .graph
            .graph
            .node_weights()
            .filter(|v| v.phase() == phase)
            .count();
        observer.on(&Event::Phase { name: phase, total });
    }
    let report = walk::walk(&prepared.graph, exec.clone(), &WalkOptions::default()).await;
    exec.close().await;
    db.set_cluster_status(
        name,
        if report.succeeded() {
            ClusterStatus::Running
        } else {
            ClusterStatus::Failed
        },
    )
    .await?;
    Ok(LaunchReport {
        cluster: name.to_string(),
        templates: prepared.composed.templates.clone(),
        walk: report,
        plan,
        removed,
        reconciled,
        warnings: prepared.composed.diagnostics,
        sources: prepared.composed.sources,
    })
}

/// Copies the Vault password into the cluster's records, readable by its
/// owner only; its text is never logged.
fn keep_secret(from: &std::path::Path, to: &std::path::Path) -> Result<(), LaunchError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| LaunchError::VaultPassword { path, source }
    };
    let secret = std::fs::read(from).map_err(err(from))?;
    if let Some(dir) = to.parent() {
        super::ansible::private_dir(dir).map_err(|e| LaunchError::Interrupted(e.to_string()))?;
    }
    let _ = std::fs::remove_file(to);
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(to)
        .map_err(err(to))?;
    f.write_all(&secret).map_err(err(to))
}

/// For a cluster with configures written for Ansible: `ansible-playbook`
/// is there (from PATH, or installed into nubo's data directory,
/// `ansible_install`) and every role is installed, before anything is
/// made. The Ansible chosen (PATH's when no configure is written for
/// Ansible).
async fn ansible_ready(
    env: &Env,
    name: &str,
    prepared: &Prepared,
    given: Option<&std::path::Path>,
    observer: &Arc<dyn Observer>,
) -> Result<AnsibleTools, LaunchError> {
    if !prepared.recipes.values().any(|r| r.ansible.is_some()) {
        return Ok(AnsibleTools::on_path());
    }
    let wanted = prepared
        .composed
        .document
        .contextualize
        .as_ref()
        .and_then(|c| c.options.get_str("ansible_version"))
        .filter(|v| !v.is_empty());
    let tools = super::ansible_install::ensure(&env.ansible_install_dir(), wanted, |line| {
        tracing::info!("{line}");
        observer.on(&Event::Note(line));
    })
    .await
    .map_err(super::ansible::AnsibleError::from)?;
    let encrypted = prepared.recipes.iter().find(|(_, r)| {
        r.ansible
            .as_ref()
            .is_some_and(|a| a.parts.iter().any(|p| p.vault))
    });
    if let Some((configure, _)) = encrypted {
        let kept = env.ansible_dir(name).join("vault-password");
        let have = match given {
            Some(_) => true,
            None => off_runtime(move || Ok(kept.is_file())).await?,
        };
        if !have {
            return Err(super::ansible::AnsibleError::NoVaultPassword {
                configure: configure.clone(),
            }
            .into());
        }
    }
    super::ansible_roles::install(&tools, &prepared.ansible_roles()).await?;
    Ok(tools)
}
