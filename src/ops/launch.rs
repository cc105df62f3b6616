//! `nubo launch` and `nubo reconfigure`: compose the templates, plan, and
//! walk the plan against the providers and over SSH, recording everything.
//!
//! A launch converges: run again on a cluster a crash interrupted, it
//! reconciles the open intents, keeps the VMs that run, creates the missing
//! ones, destroys recorded VMs the description no longer asks for, and runs
//! the steps whose recorded run is not `ok` with the same script.

use super::env::{Env, PlacementError};
use super::executor::ClusterExecutor;
use super::git::GitRecipes;
use super::observer::{Event, Observer};
use super::recipes::{self, RecipeDirs};
use super::reconcile::{self, ReconcileError};
use super::templates::{self, Composed, TemplateError, TemplateSearch};
use crate::diagnostic::Diagnostic;
use crate::model::{self, ClusterSpec};
use crate::plan::graph::{DeployGraph, PHASES, PlanError};
use crate::plan::walk::{self, WalkOptions, WalkReport};
use crate::provider::Provider;
use crate::source::SourceMap;
use crate::ssh::KnownHosts;
use crate::state::{ClusterStatus, GitPin, IntentParams, NewCluster, StateError, VmState};
use std::collections::HashMap;
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
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The description has errors; render them from `sources`.
    #[error("the cluster description has errors")]
    Invalid {
        sources: Box<SourceMap>,
        diagnostics: Vec<Diagnostic>,
    },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Env(#[from] super::env::EnvError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error(
        "cluster `{0}` is already launched: change it with `nubo reconfigure {0}`, or remove it with `nubo destroy {0}`"
    )]
    Exists(String),
    #[error("cluster `{0}` not found: `nubo list` shows the clusters there are")]
    NotFound(String),
    #[error("{0}")]
    Provider(String),
}

/// What a launch did.
#[derive(Debug)]
pub struct LaunchReport {
    pub cluster: String,
    pub templates: Vec<String>,
    pub walk: WalkReport,
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

/// A composed, checked, lowered description with its graph and recipes.
pub struct Prepared {
    pub composed: Composed,
    pub spec: ClusterSpec,
    pub graph: DeployGraph,
    pub recipes: HashMap<String, crate::recipe::Recipe>,
    /// The commits the recipes from git were compiled from.
    pub git_pins: Vec<GitPin>,
}

/// Composes, checks, lowers and plans; every problem with a span. Git
/// references use the commits in `pins` (a cluster's recorded ones) and
/// resolve the others.
pub fn prepare(
    search: &TemplateSearch,
    templates: &[String],
    add: Option<&str>,
    recipe_dirs: &RecipeDirs,
    pins: &[GitPin],
) -> Result<Prepared, LaunchError> {
    let git = GitRecipes::new(recipe_dirs.git.clone(), pins, false);
    finish_prepare(
        templates::compose(search, templates, add)?,
        recipe_dirs,
        Default::default(),
        &git,
    )
}

/// Lowers, compiles the recipes of (fetching recipes from git), and plans
/// a composed description; `scaled` gives the elastic systems' nodes that
/// are on. Nothing is made on any provider here.
fn finish_prepare(
    mut composed: Composed,
    recipe_dirs: &RecipeDirs,
    scaled: indexmap::IndexMap<String, Vec<u32>>,
    git: &GitRecipes,
) -> Result<Prepared, LaunchError> {
    let (mut spec, mut diags) = model::lower(&composed.document);
    spec.scaled = scaled;
    diags.extend(composed.diagnostics.iter().cloned());
    if diags.iter().any(Diagnostic::is_error) {
        return Err(LaunchError::Invalid {
            sources: Box::new(composed.sources),
            diagnostics: diags,
        });
    }
    let recipes = recipes::compile(&spec, &mut composed.sources, recipe_dirs, git);
    let recipes = match recipes {
        Ok(r) => r,
        Err(d) => {
            return Err(LaunchError::Invalid {
                sources: Box::new(composed.sources),
                diagnostics: d,
            });
        }
    };
    let expanded: HashMap<String, String> = recipes
        .iter()
        .map(|(name, r)| (name.clone(), r.template_text()))
        .collect();
    let graph = DeployGraph::build_with(&spec, &expanded)?;
    composed.diagnostics = diags;
    Ok(Prepared {
        composed,
        spec,
        graph,
        recipes,
        git_pins: git.pins(),
    })
}

/// Where each system's VMs go.
pub fn place(
    env: &Env,
    spec: &ClusterSpec,
) -> Result<HashMap<String, Arc<dyn Provider>>, PlacementError> {
    env.providers.place(spec)
}

pub async fn launch(
    env: &Env,
    opts: &LaunchOptions,
    observer: Arc<dyn Observer>,
) -> Result<LaunchReport, LaunchError> {
    let search = opts.search.clone().unwrap_or_default();
    let dirs = opts.recipe_dirs.clone().unwrap_or_default();
    let store = &env.store;
    let _lock = store.lock_cluster(&opts.name)?;
    let recorded = store.cluster(&opts.name)?;
    if let Some(c) = &recorded
        && matches!(c.status, ClusterStatus::Running | ClusterStatus::Stopped)
    {
        return Err(LaunchError::Exists(opts.name.clone()));
    }
    // A launch that did not finish keeps the commits it resolved.
    let pins = match recorded {
        Some(_) => store.git_pins(&opts.name)?,
        None => Vec::new(),
    };
    let prepared = prepare(&search, &opts.templates, opts.add.as_deref(), &dirs, &pins)?;
    let mut reconciled = Vec::new();
    match recorded {
        Some(_) => {
            // A launch that did not finish: converge to this description.
            reconciled = reconcile::reconcile(env, &opts.name).await?.actions;
            store.set_cluster_source(
                &opts.name,
                &prepared.composed.record(),
                &prepared.composed.templates,
            )?;
        }
        None => {
            store.create_cluster(&NewCluster {
                name: opts.name.clone(),
                description: prepared.composed.record(),
                templates: prepared.composed.templates.clone(),
                variables: serde_json::json!({}),
            })?;
        }
    }
    store.set_git_pins(&opts.name, &prepared.git_pins)?;
    env.record_auth(&opts.name)?;
    run(env, &opts.name, prepared, observer, reconciled, false).await
}

/// `nubo reconfigure`: re-reads the recorded description, re-runs the steps
/// whose script changed or did not finish `ok` (every step with `force`).
/// Recipes from git come from the recorded commits, unless
/// `update_recipes` resolves their branches and tags again (the new
/// commits are recorded before any step runs).
pub async fn reconfigure(
    env: &Env,
    opts: &ReconfigureOptions,
    observer: Arc<dyn Observer>,
) -> Result<LaunchReport, LaunchError> {
    let name = opts.name.as_str();
    let dirs = opts.recipe_dirs.clone().unwrap_or_default();
    let store = &env.store;
    let _lock = store.lock_cluster(name)?;
    let cluster = store
        .cluster(name)?
        .ok_or_else(|| LaunchError::NotFound(name.to_string()))?;
    // Compile (and fetch) first: a recipe that cannot be had changes
    // nothing.
    let composed = templates::compose_recorded(&TemplateSearch::default(), &cluster.description)?;
    let git = GitRecipes::new(
        dirs.git.clone(),
        &store.git_pins(name)?,
        opts.update_recipes,
    );
    let prepared = finish_prepare(composed, &dirs, scaled_nodes(env, name)?, &git)?;
    let reconciled = reconcile::reconcile(env, name).await?.actions;
    store.set_git_pins(name, &prepared.git_pins)?;
    run(env, name, prepared, observer, reconciled, opts.force).await
}

/// The elastic systems' nodes that are on, as the elasticity daemon
/// recorded them: systems it never managed keep their deploy count.
pub fn scaled_nodes(
    env: &Env,
    name: &str,
) -> Result<indexmap::IndexMap<String, Vec<u32>>, LaunchError> {
    let mut scaled: indexmap::IndexMap<String, Vec<u32>> = indexmap::IndexMap::new();
    for n in env.store.elastic_nodes(name)? {
        let on = scaled.entry(n.system.clone()).or_default();
        if n.state.is_on() {
            on.push(n.number);
        }
    }
    Ok(scaled)
}

async fn run(
    env: &Env,
    name: &str,
    prepared: Prepared,
    observer: Arc<dyn Observer>,
    reconciled: Vec<String>,
    rerun_all: bool,
) -> Result<LaunchReport, LaunchError> {
    let store = &env.store;
    let placement = place(env, &prepared.spec)?;
    store.set_cluster_status(name, ClusterStatus::Launching)?;

    // VMs recorded but no longer asked for: destroy them first.
    let wanted: Vec<String> = prepared
        .spec
        .instances()
        .into_iter()
        .map(|i| i.name)
        .collect();
    let mut removed = Vec::new();
    for vm in store.vms(name)? {
        if wanted.contains(&vm.node) {
            continue;
        }
        destroy_vm(env, name, &vm.node).await?;
        store.delete_vm(name, &vm.node)?;
        observer.on(&Event::Destroyed(vm.node.clone()));
        removed.push(vm.node);
    }

    let (public_key, key_path) = cluster_key(env, name)?;
    let known_hosts = KnownHosts::open(env.known_hosts_path(name))
        .map_err(|e| LaunchError::Provider(e.to_string()))?;
    let variables = store
        .cluster(name)?
        .map(|c| c.variables)
        .unwrap_or_default();
    let mut exec = ClusterExecutor::new(
        env.clone(),
        name.to_string(),
        Arc::new(prepared.spec.clone()),
        placement,
        prepared.recipes,
        Arc::new(prepared.composed.sources.clone()),
        known_hosts,
        variables,
        public_key,
        key_path,
        observer.clone(),
    );
    exec.rerun_all = rerun_all;
    let exec = Arc::new(exec);
    for phase in PHASES {
        let total = prepared
            .graph
            .graph
            .node_weights()
            .filter(|v| v.phase() == phase)
            .count();
        observer.on(&Event::Phase { name: phase, total });
    }
    let report = walk::walk(&prepared.graph, exec, &WalkOptions::default()).await;
    store.set_cluster_status(
        name,
        if report.succeeded() {
            ClusterStatus::Running
        } else {
            ClusterStatus::Failed
        },
    )?;
    Ok(LaunchReport {
        cluster: name.to_string(),
        templates: prepared.composed.templates.clone(),
        walk: report,
        removed,
        reconciled,
        warnings: prepared.composed.diagnostics,
        sources: prepared.composed.sources,
    })
}

/// The cluster's SSH key, made at its first launch and kept in the state
/// directory (0600): clouds inject its public half, recipes get it as
/// `ssh.public_key` (the local provider logs in as root with a key of its
/// own).
pub fn cluster_key(env: &Env, name: &str) -> Result<(String, std::path::PathBuf), LaunchError> {
    let path = cluster_key_path(env, name);
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| LaunchError::Provider(format!("cannot create {}: {e}", dir.display())))?;
    }
    crate::provider::local::keys::ensure_keypair(&path, &format!("nubo-{name}"))
        .map_err(|e| LaunchError::Provider(e.to_string()))?;
    let public = crate::provider::local::keys::public_key(&path)
        .map_err(|e| LaunchError::Provider(e.to_string()))?;
    Ok((public, path))
}

pub fn cluster_key_path(env: &Env, name: &str) -> std::path::PathBuf {
    env.store.dir().join("keys").join(name).join("id_ed25519")
}

/// Destroys one recorded VM through its provider, between an intent and its
/// completion.
pub async fn destroy_vm(env: &Env, cluster: &str, node: &str) -> Result<(), LaunchError> {
    let store = &env.store;
    let Some(vm) = store.vm(cluster, node)? else {
        return Ok(());
    };
    if vm.state == VmState::Destroyed {
        return Ok(());
    }
    let Some(provider) = env.providers.by_id(&vm.provider) else {
        return Err(LaunchError::Provider(format!(
            "VM `{node}` belongs to provider `{}`, which the auth file does not define: pass the auth file it was launched with",
            vm.provider
        )));
    };
    let id = vm
        .provider_vm_id
        .clone()
        .unwrap_or_else(|| node.to_string());
    let intent = store.begin_intent(
        cluster,
        node,
        &IntentParams::DestroyVm {
            provider: provider.id().to_string(),
            id: id.clone(),
        },
    )?;
    super::crash::point("destroy-intent");
    match provider.destroy_vm(cluster, &id).await {
        Ok(()) | Err(crate::provider::ProviderError::NotFound(_)) => {
            store.record_vm_destroyed(intent.id)?;
            Ok(())
        }
        Err(e) => {
            store.complete_intent(
                intent.id,
                crate::state::Outcome::Failed {
                    error: e.to_string(),
                },
            )?;
            Err(LaunchError::Provider(format!("destroying `{node}`: {e}")))
        }
    }
}
