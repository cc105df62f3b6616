//! The endpoints: each reads the caller from the Authorization header,
//! finds the infrastructure (404 unknown, 403 another user's), and calls
//! the same operations as the CLI (`ops::launch`, `ops::destroy`,
//! `ops::lifecycle`). Long operations run as tokio tasks holding the
//! infrastructure's lock, taken before the request returns, so operations
//! on one infrastructure run in the order they arrived.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::auth::{self, Caller};
use super::error::{ServeError, internal};
use super::estimate;
use super::im_state;
use super::negotiate::{self, Default, Format};
use super::registry::{self, Infra, Job, Registry};
use super::resize;
use super::vms::{self, ImVm};
use crate::ops::db::Db;
use crate::ops::env::Env;
use crate::ops::observer::Silent;
use crate::state::{ClusterDetail, ClusterStatus, StateStore};

/// What every handler works with.
pub struct App {
    pub registry: Arc<Registry>,
    pub store: Arc<StateStore>,
    pub local_root: Option<PathBuf>,
}

type Shared = State<Arc<App>>;
type Params = Query<HashMap<String, String>>;

pub fn router(app: Arc<App>, body_limit: usize) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/infrastructures", get(list).post(create).put(import))
        .route(
            "/infrastructures/{id}",
            get(info).delete(destroy).post(add_resources),
        )
        .route(
            "/infrastructures/{id}/{prop}",
            get(property).put(operation).post(change_auth),
        )
        .route(
            "/infrastructures/{id}/vms/{vm}",
            get(vm_info).delete(remove_vms).put(alter_vm),
        )
        .route(
            "/infrastructures/{id}/vms/{vm}/{prop}",
            get(vm_property).put(vm_operation),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(app)
}

/// The error answer in the format the client asked for (text when its
/// Accept is itself the problem).
fn fail(headers: &HeaderMap, e: ServeError) -> Response {
    let f = negotiate::accept(headers, Default::Text).unwrap_or(Format::Text);
    e.respond(f)
}

fn answer(headers: &HeaderMap, r: Result<Response, ServeError>) -> Response {
    r.unwrap_or_else(|e| fail(headers, e))
}

async fn not_found(headers: HeaderMap) -> Response {
    fail(
        &headers,
        ServeError::NotFound("Not found: no such resource".into()),
    )
}

fn caller(headers: &HeaderMap) -> Result<Caller, ServeError> {
    let value = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            ServeError::Unauthorized("the Authorization header is not ASCII text".into())
        })?),
    };
    auth::caller(value)
}

/// The request's base URL, for absolute URIs.
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn inf_uri(headers: &HeaderMap, id: &str) -> String {
    format!("{}/infrastructures/{id}", base(headers))
}

/// The caller's infrastructure `id`.
fn owned(app: &App, caller: &Caller, id: &str) -> Result<Arc<Infra>, ServeError> {
    let infra = app
        .registry
        .get(id)
        .ok_or_else(ServeError::unknown_infrastructure)?;
    if !infra.is_owner(&caller.owner) {
        return Err(ServeError::Forbidden);
    }
    Ok(infra)
}

/// `yes|no|true|false|1|0`, else 400.
fn flag(q: &HashMap<String, String>, name: &str, default: bool) -> Result<bool, ServeError> {
    match q.get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "yes" | "true" | "1" => Ok(true),
            "no" | "false" | "0" => Ok(false),
            _ => Err(ServeError::BadRequest(format!(
                "Incorrect value in {name} parameter: expected yes, no, true, false, 1 or 0"
            ))),
        },
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServeError> + Send + 'static,
) -> Result<T, ServeError> {
    tokio::task::spawn_blocking(f).await.map_err(internal)?
}

/// An error with its causes, one after another.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut s = e.source();
    while let Some(c) = s {
        out.push_str(": ");
        out.push_str(&c.to_string());
        s = c.source();
    }
    out
}

// ---- version, list, create ----

async fn version() -> Response {
    negotiate::text(StatusCode::OK, env!("CARGO_PKG_VERSION").to_string())
}

async fn list(State(app): Shared, headers: HeaderMap, Query(q): Params) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let filter = match q.get("filter") {
            Some(f) => Some(regex::Regex::new(f).map_err(|e| {
                ServeError::BadRequest(format!("Invalid filter regular expression: {e}"))
            })?),
            None => None,
        };
        let mut uris = Vec::new();
        for infra in app.registry.of(&caller.owner) {
            if infra.job() == Job::Deleting {
                continue;
            }
            if let Some(re) = &filter {
                let text = description(&app, &infra.id).await?.unwrap_or_default();
                if !re.is_match(&text) {
                    continue;
                }
            }
            uris.push(inf_uri(&headers, &infra.id));
        }
        Ok(negotiate::uri_list(format, &uris))
    }
    .await;
    answer(&headers, r)
}

/// The description as RADL text, as recorded (a TOSCA template lowered
/// to RADL); `None`: not recorded yet.
async fn description(app: &App, id: &str) -> Result<Option<String>, ServeError> {
    let db = Db::new(app.store.clone());
    let Some(c) = db.cluster(id).await.map_err(internal)? else {
        return Ok(None);
    };
    blocking(move || Ok(Some(recorded_text(&c.description)))).await
}

/// The pieces of a recorded description as RADL, joined.
fn recorded_text(record: &str) -> String {
    let pieces: Vec<crate::ops::templates::Found> =
        serde_json::from_str(record).unwrap_or_default();
    if !pieces.iter().any(|p| p.tosca) {
        return pieces
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
    }
    match crate::ops::templates::compose_recorded(&search(), record) {
        Ok(c) => c.radl.join("\n"),
        Err(_) => String::new(),
    }
}

/// A RADL body checked as a launch would check it (composed, lowered,
/// its recipes compiled, its systems placed on the caller's clouds), so
/// that a bad one is refused before anything is recorded.
async fn check_radl(app: &App, caller: &Caller, text: &str) -> Result<Checked, ServeError> {
    let text = text.to_string();
    let clouds = caller.clouds.clone();
    let (store, root) = (app.store.clone(), app.local_root.clone());
    blocking(move || {
        let prepared = crate::ops::prepare::prepare(
            &search(),
            &[],
            Some(&text),
            &crate::ops::recipes::RecipeDirs::default(),
            &[],
        )
        .map_err(|e| match e {
            crate::ops::prepare::PrepareError::Invalid {
                sources,
                diagnostics,
            } => {
                let rendered: String = diagnostics.iter().map(|d| d.render(&sources)).collect();
                ServeError::BadRequest(rendered.replace("--add:", "body:"))
            }
            other => ServeError::BadRequest(chain(&other)),
        })?;
        if clouds.entries.is_empty() {
            return Err(ServeError::BadRequest(
                "the Authorization header has no cloud credential: add a line such as `id = dummy; type = Dummy` or `id = local; type = Local`".into(),
            ));
        }
        let env = Env::with_store(store, Some(clouds.clone()), root)
            .map_err(|e| ServeError::BadRequest(chain(&e)))?;
        let placed = env
            .providers
            .place(&prepared.spec)
            .map_err(|e| ServeError::BadRequest(e.to_string()))?;
        let placed = placed
            .into_iter()
            .map(|(system, p)| {
                let endpoint = clouds
                    .by_id(p.id())
                    .and_then(|c| c.value("host"))
                    .unwrap_or_default()
                    .to_string();
                let cloud = estimate::Cloud {
                    id: p.id().to_string(),
                    kind: p.kind().to_string(),
                    endpoint,
                };
                (system, cloud)
            })
            .collect();
        Ok(Checked {
            spec: prepared.spec,
            placed,
        })
    })
    .await
}

/// A description checked as a create would check it, and where each of
/// its systems would go.
struct Checked {
    spec: crate::model::ClusterSpec,
    placed: HashMap<String, estimate::Cloud>,
}

async fn create(State(app): Shared, headers: HeaderMap, Query(q): Params, body: Bytes) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let run_async = flag(&q, "async", false)?;
        let dry_run = flag(&q, "dry_run", false)?;
        let text = description_body(&headers, &body)?;
        let checked = check_radl(&app, &caller, &text).await?;
        if dry_run {
            // IM answers the estimate in JSON whatever the Accept.
            let est = estimate::estimate(&checked.spec, &checked.placed);
            return Ok(negotiate::json(StatusCode::OK, est));
        }
        let id = registry::new_id();
        let infra = {
            let (reg, id, owner) = (app.registry.clone(), id.clone(), caller.owner.clone());
            let name = caller.name.clone();
            blocking(move || reg.add(&id, &owner, &name).map_err(internal)).await?
        };
        infra.set_job(Job::Running("create"));
        let guard = infra.lock.clone().lock_owned().await;
        let env = Env::with_store(
            app.store.clone(),
            Some(caller.clouds),
            app.local_root.clone(),
        )
        .map_err(|e| ServeError::BadRequest(chain(&e)))?;
        let task = {
            let infra = infra.clone();
            tokio::spawn(async move {
                let _guard = guard;
                let opts = crate::ops::launch::LaunchOptions {
                    name: infra.id.clone(),
                    add: Some(text),
                    search: Some(search()),
                    ..std::default::Default::default()
                };
                let job = match crate::ops::launch::launch(&env, &opts, Arc::new(Silent)).await {
                    Ok(rep) if rep.succeeded() => Job::Idle,
                    Ok(rep) => Job::Failed(
                        rep.walk
                            .failures()
                            .map(|(v, e)| format!("{v} failed: {e}"))
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                    Err(e) => Job::Failed(chain(&e)),
                };
                infra.set_job(job);
            })
        };
        if !run_async {
            task.await.map_err(internal)?;
        }
        let uri = inf_uri(&headers, &id);
        let mut resp = match format {
            Format::Json => negotiate::field(format, "uri", uri.into()),
            Format::Text => negotiate::text(StatusCode::OK, uri),
        };
        if let Ok(v) = id.parse() {
            resp.headers_mut().insert("InfID", v);
        }
        Ok(resp)
    }
    .await;
    answer(&headers, r)
}

/// Where descriptions sent over the API find templates and TOSCA
/// imports: the server's template directories and the built-in ones, and
/// URL imports from the import cache only (nothing is downloaded for a
/// client).
fn search() -> crate::ops::templates::TemplateSearch {
    crate::ops::templates::TemplateSearch {
        imports: crate::ops::fetch::import_options(Vec::new(), true),
        ..std::default::Default::default()
    }
}

/// A request body that is RADL text (415 for the kinds not read yet).
fn radl_body<'a>(headers: &HeaderMap, body: &'a Bytes) -> Result<&'a str, ServeError> {
    match negotiate::body_kind(headers)? {
        negotiate::BodyKind::Radl => negotiate::utf8(body),
        negotiate::BodyKind::RadlJson => Err(ServeError::Unsupported(
            "RADL in JSON (application/json) is not supported by nubo serve yet: send RADL text"
                .into(),
        )),
        negotiate::BodyKind::Tosca => Err(ServeError::Unsupported(
            "a TOSCA body (text/yaml) is taken only to create an infrastructure (POST /infrastructures): send RADL text here".into(),
        )),
    }
}

/// A create's body: RADL text, or a TOSCA template (`text/yaml`), each
/// checked against what the API may not ask of the server.
fn description_body(headers: &HeaderMap, body: &Bytes) -> Result<String, ServeError> {
    let tosca = negotiate::body_kind(headers)? == negotiate::BodyKind::Tosca;
    let text = if tosca {
        negotiate::utf8(body)?
    } else {
        radl_body(headers, body)?
    };
    match (tosca, crate::tosca::is_tosca_text(text)) {
        (false, true) => Err(ServeError::BadRequest(
            "the body is a TOSCA template: send it with Content-Type text/yaml".into(),
        )),
        (true, false) => Err(ServeError::BadRequest(
            "the body is not a TOSCA template (it does not begin with `tosca_definitions_version`): send RADL with Content-Type text/plain, or no Content-Type".into(),
        )),
        (true, true) => {
            super::policy::check_tosca(text)?;
            Ok(text.to_string())
        }
        (false, false) => {
            super::policy::check(text)?;
            Ok(text.to_string())
        }
    }
}

// ---- one infrastructure ----

/// The records of an infrastructure, its VMs as IM shows them, and
/// whether its last operation failed.
struct Snapshot {
    detail: Option<ClusterDetail>,
    vms: Vec<ImVm>,
}

async fn snapshot(app: &App, id: &str) -> Result<Snapshot, ServeError> {
    let store = app.store.clone();
    let root = app.local_root.clone();
    let id = id.to_string();
    blocking(move || {
        let Some(detail) = store.cluster_detail(&id).map_err(internal)? else {
            return Ok(Snapshot {
                detail: None,
                vms: Vec::new(),
            });
        };
        let spec = crate::ops::templates::compose_recorded(
            &crate::ops::templates::TemplateSearch::default(),
            &detail.cluster.description,
        )
        .ok()
        .map(|c| crate::model::lower(&c.document).0);
        let env = Env::with_store(store.clone(), None, root)
            .and_then(|e| e.for_cluster(&id))
            .ok();
        let kind = |provider: &str| {
            env.as_ref()
                .and_then(|e| e.providers.by_id(provider))
                .map(|p| p.kind().to_string())
                .unwrap_or_else(|| provider.to_string())
        };
        let vms = vms::im_vms(&detail, spec.as_ref(), &kind);
        Ok(Snapshot {
            detail: Some(detail),
            vms,
        })
    })
    .await
}

impl Snapshot {
    fn state(&self, infra: &Infra) -> &'static str {
        match infra.job() {
            Job::Deleting => return im_state::DELETING,
            Job::Running("create") if self.vms.is_empty() => return im_state::PENDING,
            _ => {}
        }
        let failed = matches!(infra.job(), Job::Failed(_))
            || self
                .detail
                .as_ref()
                .is_some_and(|d| d.cluster.status == ClusterStatus::Failed);
        let running = matches!(infra.job(), Job::Running(_));
        let s = im_state::infrastructure_state(self.vms.iter().map(|v| v.state), failed);
        // While an operation runs, nothing is configured yet.
        if running && s == im_state::CONFIGURED {
            im_state::RUNNING
        } else {
            s
        }
    }

    fn vm(&self, vm: &str) -> Result<&ImVm, ServeError> {
        let n: u32 = vm.parse().map_err(|_| {
            ServeError::NotFound(format!("Invalid VM ID `{vm}`: VM ids are numbers"))
        })?;
        self.vms.iter().find(|v| v.id == n).ok_or_else(|| {
            ServeError::NotFound(format!(
                "Invalid VM ID {vm}: the infrastructure has no such VM"
            ))
        })
    }
}

async fn info(State(app): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        let snap = snapshot(&app, &infra.id).await?;
        let uris: Vec<String> = snap
            .vms
            .iter()
            .map(|v| format!("{}/vms/{}", inf_uri(&headers, &id), v.id))
            .collect();
        Ok(negotiate::uri_list(format, &uris))
    }
    .await;
    answer(&headers, r)
}

async fn property(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, prop)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let r = async {
        let default = match prop.as_str() {
            "state" | "outputs" | "data" => Default::JsonOnly,
            _ => Default::Text,
        };
        let format = negotiate::accept(&headers, default)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        match prop.as_str() {
            "state" => {
                let snap = snapshot(&app, &id).await?;
                let vm_states: serde_json::Map<String, serde_json::Value> = snap
                    .vms
                    .iter()
                    .map(|v| (v.id.to_string(), v.state.into()))
                    .collect();
                Ok(negotiate::field(
                    format,
                    "state",
                    serde_json::json!({"state": snap.state(&infra), "vm_states": vm_states}),
                ))
            }
            "contmsg" => {
                let header_only = flag(&q, "headeronly", false)?;
                let mut text = infra.log();
                if !header_only {
                    let snap = snapshot(&app, &id).await?;
                    for v in &snap.vms {
                        text.push_str(&format!("VM {}:\n{}\n{}\n", v.id, v.log, "*".repeat(75)));
                    }
                }
                Ok(negotiate::field(format, "contmsg", text.into()))
            }
            "radl" => {
                let text = description(&app, &id).await?.unwrap_or_default();
                Ok(negotiate::field(format, "radl", text.into()))
            }
            "authorization" => {
                let names: Vec<String> = infra.grants().into_iter().map(|g| g.name).collect();
                Ok(match format {
                    Format::Json => negotiate::field(format, "authorization", names.into()),
                    Format::Text => negotiate::text(StatusCode::OK, names.join("\n")),
                })
            }
            "tosca" => {
                let pieces = recorded_pieces(&app, &id).await?;
                let text = pieces
                    .iter()
                    .find(|p| p.tosca)
                    .map(|p| p.text.clone())
                    .ok_or_else(not_tosca)?;
                Ok(negotiate::field(format, "tosca", text.into()))
            }
            "outputs" => {
                let pieces = recorded_pieces(&app, &id).await?;
                if !pieces.iter().any(|p| p.tosca) {
                    return Err(not_tosca());
                }
                let store = app.store.clone();
                let id2 = id.clone();
                let outputs = blocking(move || {
                    let detail = store
                        .cluster_detail(&id2)
                        .map_err(internal)?
                        .ok_or_else(ServeError::unknown_infrastructure)?;
                    crate::ops::outputs::outputs(&detail).map_err(|e| internal(chain(&e)))
                })
                .await?;
                let map: serde_json::Map<String, serde_json::Value> = outputs
                    .into_iter()
                    .map(|o| (o.name, o.value.unwrap_or(serde_json::Value::Null)))
                    .collect();
                Ok(negotiate::field(format, "outputs", map.into()))
            }
            "data" => {
                let delete = flag(&q, "delete", false)?;
                export(&app, &infra, delete).await.map(|data| {
                    negotiate::field(format, "data", data.to_string().into())
                })
            }
            other => Err(ServeError::NotFound(format!(
                "Incorrect infrastructure property `{other}`: expected contmsg, radl, state, outputs, tosca, data or authorization"
            ))),
        }
    }
    .await;
    answer(&headers, r)
}

/// `POST .../authorization`: one more owner (the IM line in the JSON
/// body), or, with `overwrite`, the only one.
async fn change_auth(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, prop)): Path<(String, String)>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let r = async {
        negotiate::accept(&headers, Default::Text)?;
        if prop != "authorization" {
            return Err(ServeError::NotFound(format!(
                "Not found: POST /infrastructures/ID/{prop} (POST .../authorization changes the owners)"
            )));
        }
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        let overwrite = flag(&q, "overwrite", false)?;
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !ct.to_ascii_lowercase().starts_with("application/json") {
                return Err(ServeError::Unsupported(format!(
                    "Unsupported Media Type {ct}: the new owner is JSON (application/json)"
                )));
            }
        }
        let (owner, name) = super::auth::grant_of(negotiate::utf8(&body)?)?;
        let grant = registry::Grant {
            owner: owner.0,
            name,
        };
        let mut grants = if overwrite { Vec::new() } else { infra.grants() };
        if !grants.iter().any(|g| g.owner == grant.owner) {
            grants.push(grant);
        }
        let reg = app.registry.clone();
        blocking(move || reg.set_grants(&infra, grants).map_err(internal)).await?;
        Ok(negotiate::text(StatusCode::OK, String::new()))
    }
    .await;
    answer(&headers, r)
}

fn not_tosca() -> ServeError {
    ServeError::NotAvailable(
        "'outputs' and 'tosca' only exist for infrastructures made from TOSCA".into(),
    )
}

/// The recorded description's pieces (none: not recorded yet).
async fn recorded_pieces(
    app: &App,
    id: &str,
) -> Result<Vec<crate::ops::templates::Found>, ServeError> {
    let db = Db::new(app.store.clone());
    let Some(c) = db.cluster(id).await.map_err(internal)? else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&c.description).map_err(internal)
}

/// IM's export: the infrastructure as one JSON value (its records, key and
/// host keys; never its cloud credentials), after the operations before
/// it; `delete`: then forgotten here, its VMs untouched.
async fn export(
    app: &App,
    infra: &Arc<Infra>,
    delete: bool,
) -> Result<serde_json::Value, ServeError> {
    let _guard = infra.lock.clone().lock_owned().await;
    if infra.job() == Job::Deleting {
        return Err(ServeError::unknown_infrastructure());
    }
    let env = env_of(app, &infra.id).await?;
    let (id, reg) = (infra.id.clone(), app.registry.clone());
    blocking(move || {
        let data = crate::ops::export::export(&env, &id).map_err(|e| match e {
            crate::ops::export::ExportError::State(crate::state::StateError::ClusterNotFound(
                _,
            )) => ServeError::Conflict(
                "the infrastructure has nothing recorded to export (its creation failed)".into(),
            ),
            other => internal(chain(&other)),
        })?;
        if delete {
            crate::ops::export::forget(&env, &id).map_err(|e| internal(chain(&e)))?;
            reg.remove(&id).map_err(internal)?;
        }
        Ok(data)
    })
    .await
}

/// `PUT /infrastructures`: IM's import of an exported infrastructure,
/// under its own id, owned by the caller, on the caller's clouds.
async fn import(State(app): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !ct.to_ascii_lowercase().contains("application/json") {
                return Err(ServeError::Unsupported(format!(
                    "Unsupported Media Type {ct}: an exported infrastructure is JSON (application/json)"
                )));
            }
        }
        let text = negotiate::utf8(&body)?;
        let incorrect = |why: String| {
            ServeError::BadRequest(format!(
                "Error importing the infrastructure, incorrect data: {why}; send what GET /infrastructures/ID/data gave (its `data` value)"
            ))
        };
        let mut data: serde_json::Value =
            serde_json::from_str(text).map_err(|e| incorrect(e.to_string()))?;
        // The `data` value as IM hands it out is a string holding the JSON.
        if let Some(inner) = data.as_str() {
            data = serde_json::from_str(inner).map_err(|e| incorrect(e.to_string()))?;
        }
        if data.get("nubo_export").is_none() {
            return Err(incorrect(
                "it is not an infrastructure exported by nubo serve (IM's own exports cannot be imported here)".into(),
            ));
        }
        let id = data
            .pointer("/cluster/name")
            .and_then(|v| v.as_str())
            .ok_or_else(|| incorrect("it names no infrastructure".into()))?
            .to_string();
        if app.registry.get(&id).is_some() {
            return Err(ServeError::Conflict(format!(
                "infrastructure {id} is already on this server: export it with delete=yes first, or destroy it"
            )));
        }
        if caller.clouds.entries.is_empty() {
            return Err(ServeError::BadRequest(
                "the Authorization header has no cloud credential: add the lines of the clouds the infrastructure's VMs are on".into(),
            ));
        }
        let env = Env::with_store(app.store.clone(), Some(caller.clouds.clone()), app.local_root.clone())
            .map_err(|e| ServeError::BadRequest(chain(&e)))?;
        let reg = app.registry.clone();
        let owner = caller.owner.clone();
        let name = caller.name.clone();
        let uri = inf_uri(&headers, &id);
        blocking(move || {
            crate::state::StateStore::check_name(&id).map_err(|e| incorrect(e.to_string()))?;
            reg.add(&id, &owner, &name).map_err(|e| {
                ServeError::Conflict(format!("infrastructure {id} cannot be recorded here: {e}"))
            })?;
            match crate::ops::export::import(&env, &data) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = reg.remove(&id);
                    use crate::ops::export::ExportError as E;
                    use crate::state::StateError as S;
                    Err(match e {
                        E::State(S::ClusterExists(_)) => ServeError::Conflict(format!(
                            "a cluster named {id} already exists in this server's state directory"
                        )),
                        E::State(S::Corrupt(m)) => incorrect(m),
                        E::State(S::InvalidClusterName { .. }) | E::Malformed(_) | E::UnknownCloud { .. } => {
                            incorrect(chain(&e))
                        }
                        other => internal(chain(&other)),
                    })
                }
            }
        })
        .await?;
        Ok(match format {
            Format::Json => negotiate::field(format, "uri", uri.into()),
            Format::Text => negotiate::text(StatusCode::OK, uri),
        })
    }
    .await;
    answer(&headers, r)
}

/// Runs `op` as the infrastructure's next operation in the background;
/// waits for it unless `run_async`.
async fn background<F>(
    infra: Arc<Infra>,
    what: &'static str,
    run_async: bool,
    op: F,
) -> Result<(), ServeError>
where
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let guard = infra.lock.clone().lock_owned().await;
    infra.set_job(Job::Running(what));
    let task = {
        let infra = infra.clone();
        tokio::spawn(async move {
            let _guard = guard;
            match op.await {
                Ok(()) => infra.set_job(Job::Idle),
                Err(m) => infra.set_job(Job::Failed(format!("{what} failed: {m}"))),
            }
        })
    };
    if !run_async {
        task.await.map_err(internal)?;
        if let Job::Failed(m) = infra.job() {
            return Err(ServeError::BadRequest(m));
        }
    }
    Ok(())
}

/// The `Env` of a recorded infrastructure: its recorded auth.
async fn env_of(app: &App, id: &str) -> Result<Env, ServeError> {
    let (store, root, id) = (app.store.clone(), app.local_root.clone(), id.to_string());
    blocking(move || {
        Env::with_store(store, None, root)
            .and_then(|e| e.for_cluster(&id))
            .map_err(|e| internal(chain(&e)))
    })
    .await
}

async fn destroy(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Params,
) -> Response {
    let r = async {
        negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        let run_async = flag(&q, "async", false)?;
        let force = flag(&q, "force", false)?;
        if infra.job() == Job::Deleting {
            return Ok(negotiate::text(StatusCode::OK, String::new()));
        }
        let guard = infra.lock.clone().lock_owned().await;
        infra.set_job(Job::Deleting);
        let app2 = app.clone();
        let task = {
            let infra = infra.clone();
            tokio::spawn(async move {
                let _guard = guard;
                let r: Result<(), String> = async {
                    let recorded = description(&app2, &infra.id)
                        .await
                        .map_err(|e| e.to_string())?;
                    if recorded.is_some() {
                        let env = env_of(&app2, &infra.id).await.map_err(|e| e.to_string())?;
                        let opts = crate::ops::destroy::DestroyOptions {
                            name: infra.id.clone(),
                            force,
                        };
                        crate::ops::destroy::destroy(&env, &opts, Arc::new(Silent))
                            .await
                            .map_err(|e| chain(&e))?;
                    }
                    let (reg, id) = (app2.registry.clone(), infra.id.clone());
                    tokio::task::spawn_blocking(move || reg.remove(&id))
                        .await
                        .map_err(|e| e.to_string())?
                        .map_err(|e| e.to_string())
                }
                .await;
                if let Err(m) = r {
                    infra.set_job(Job::Failed(format!("destroy failed: {m}")));
                }
            })
        };
        if !run_async {
            task.await.map_err(internal)?;
            if let Job::Failed(m) = infra.job() {
                return Err(ServeError::Internal(m));
            }
        }
        Ok(negotiate::text(StatusCode::OK, String::new()))
    }
    .await;
    answer(&headers, r)
}

async fn operation(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, op)): Path<(String, String)>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let r = async {
        negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        if infra.job() == Job::Deleting {
            return Err(ServeError::Conflict("the infrastructure is being deleted".into()));
        }
        match op.as_str() {
            "stop" | "start" => {
                let action = if op == "stop" {
                    crate::ops::lifecycle::Action::Stop
                } else {
                    crate::ops::lifecycle::Action::Start
                };
                let env = env_of(&app, &id).await?;
                let name = id.clone();
                background(infra, if op == "stop" { "stop" } else { "start" }, false, async move {
                    crate::ops::lifecycle::set_power(&env, &name, action)
                        .await
                        .map(|_| ())
                        .map_err(|e| chain(&e))
                })
                .await?;
                Ok(negotiate::text(StatusCode::OK, String::new()))
            }
            "reconfigure" => {
                if let Some(list) = q.get("vm_list") {
                    parse_vm_list(list)?;
                }
                let text = radl_body(&headers, &body)?;
                if !text.trim().is_empty() {
                    return Err(ServeError::BadRequest(
                        "reconfigure with a RADL body is not supported by nubo serve yet: send an empty body to run the configuration again".into(),
                    ));
                }
                let env = env_of(&app, &id).await?;
                let name = id.clone();
                background(infra, "reconfigure", true, async move {
                    let opts = crate::ops::launch::ReconfigureOptions {
                        name,
                        force: true,
                        ..std::default::Default::default()
                    };
                    match crate::ops::launch::reconfigure(&env, &opts, Arc::new(Silent)).await {
                        Ok(r) if r.succeeded() => Ok(()),
                        Ok(r) => Err(r
                            .walk
                            .failures()
                            .map(|(v, e)| format!("{v} failed: {e}"))
                            .collect::<Vec<_>>()
                            .join("\n")),
                        Err(e) => Err(chain(&e)),
                    }
                })
                .await?;
                let mut resp = negotiate::text(StatusCode::OK, String::new());
                if let Ok(v) = id.parse() {
                    resp.headers_mut().insert("InfID", v);
                }
                Ok(resp)
            }
            other => Err(ServeError::NotFound(format!(
                "Incorrect infrastructure operation `{other}`: expected start, stop or reconfigure"
            ))),
        }
    }
    .await;
    answer(&headers, r)
}

/// `1,2,3`: VM ids; anything else is 400.
fn parse_vm_list(list: &str) -> Result<Vec<u32>, ServeError> {
    list.split(',')
        .map(|s| {
            s.trim().parse::<u32>().map_err(|_| {
                ServeError::BadRequest(format!(
                    "Incorrect vm_list `{list}`: expected VM ids separated by commas, such as 0,2"
                ))
            })
        })
        .collect()
}

async fn add_resources(
    State(app): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        flag(&q, "context", true)?;
        let text = radl_body(&headers, &body)?.to_string();
        super::policy::check(&text)?;
        let (before, after) =
            resize(&app, infra, move |spec| resize::added_piece(spec, &text)).await?;
        let uris: Vec<String> = after
            .iter()
            .filter(|n| !before.contains(n))
            .map(|n| format!("{}/vms/{n}", inf_uri(&headers, &id)))
            .collect();
        let mut resp = negotiate::uri_list(format, &uris);
        if let Ok(v) = id.parse() {
            resp.headers_mut().insert("InfID", v);
        }
        Ok(resp)
    }
    .await;
    answer(&headers, r)
}

async fn remove_vms(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, vm)): Path<(String, String)>,
    Query(q): Params,
) -> Response {
    let r = async {
        negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        flag(&q, "context", true)?;
        let ids = parse_vm_list(&vm)?;
        resize(&app, infra, move |spec| resize::removal_piece(spec, &ids)).await?;
        Ok(negotiate::text(StatusCode::OK, String::new()))
    }
    .await;
    answer(&headers, r)
}

/// Changes the recorded description by one more piece (`piece` of the
/// current description), then reconfigures; returns the VM numbers
/// before and after. Holds the infrastructure's lock throughout.
async fn resize(
    app: &App,
    infra: Arc<Infra>,
    piece: impl FnOnce(&crate::model::ClusterSpec) -> Result<String, ServeError> + Send + 'static,
) -> Result<(Vec<u32>, Vec<u32>), ServeError> {
    if infra.job() == Job::Deleting {
        return Err(ServeError::Conflict(
            "the infrastructure is being deleted".into(),
        ));
    }
    let guard = infra.lock.clone().lock_owned().await;
    let db = Db::new(app.store.clone());
    let cluster = db
        .cluster(&infra.id)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            ServeError::Conflict(
                "the infrastructure has no description recorded (its creation failed)".into(),
            )
        })?;
    let templates = cluster.templates.clone();
    let (record, before, after) = blocking(move || {
        let search = crate::ops::templates::TemplateSearch::default();
        let old = crate::ops::templates::compose_recorded(&search, &cluster.description)
            .map_err(|e| internal(chain(&e)))?;
        let spec = crate::model::lower(&old.document).0;
        let text = piece(&spec)?;
        let mut pieces: Vec<serde_json::Value> =
            serde_json::from_str(&cluster.description).map_err(internal)?;
        pieces.push(
            serde_json::json!({"name": "--add", "origin": "--add", "text": text, "tosca": false}),
        );
        let record = serde_json::Value::Array(pieces).to_string();
        let new = crate::ops::templates::compose_recorded(&search, &record)
            .map_err(|e| ServeError::BadRequest(chain(&e)))?;
        if new.has_errors() {
            let rendered: String = new
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(|d| d.render(&new.sources))
                .collect();
            return Err(ServeError::BadRequest(rendered.replace("--add:", "body:")));
        }
        let numbers = |s: &crate::model::ClusterSpec| {
            s.instances().iter().map(|i| i.number).collect::<Vec<_>>()
        };
        let after = crate::model::lower(&new.document).0;
        Ok((record, numbers(&spec), numbers(&after)))
    })
    .await?;
    db.set_cluster_source(&infra.id, record, templates)
        .await
        .map_err(internal)?;
    let env = env_of(app, &infra.id).await?;
    infra.set_job(Job::Running("resize"));
    let name = infra.id.clone();
    let task = {
        let infra = infra.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let opts = crate::ops::launch::ReconfigureOptions {
                name,
                ..std::default::Default::default()
            };
            let job = match crate::ops::launch::reconfigure(&env, &opts, Arc::new(Silent)).await {
                Ok(r) if r.succeeded() => Job::Idle,
                Ok(r) => Job::Failed(
                    r.walk
                        .failures()
                        .map(|(v, e)| format!("{v} failed: {e}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                Err(e) => Job::Failed(chain(&e)),
            };
            infra.set_job(job);
        })
    };
    task.await.map_err(internal)?;
    if let Job::Failed(m) = infra.job() {
        return Err(ServeError::Internal(m));
    }
    Ok((before, after))
}

// ---- VMs ----

async fn vm_info(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, vm)): Path<(String, String)>,
) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        owned(&app, &caller, &id)?;
        let snap = snapshot(&app, &id).await?;
        let v = snap.vm(&vm)?;
        Ok(match format {
            Format::Text => negotiate::text(StatusCode::OK, v.radl()),
            Format::Json => {
                let mut sys = serde_json::Map::new();
                sys.insert("class".into(), "system".into());
                sys.insert("id".into(), v.system.clone().into());
                for (k, val) in &v.features {
                    sys.insert(k.clone(), val.clone().into());
                }
                negotiate::field(format, "radl", serde_json::json!([sys]))
            }
        })
    }
    .await;
    answer(&headers, r)
}

async fn vm_property(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, vm, prop)): Path<(String, String, String)>,
) -> Response {
    let r = async {
        let format = negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        owned(&app, &caller, &id)?;
        let snap = snapshot(&app, &id).await?;
        let v = snap.vm(&vm)?;
        if prop == "contmsg" {
            return Ok(negotiate::field(format, "contmsg", v.log.clone().into()));
        }
        let value = v.feature(&prop).ok_or_else(|| {
            ServeError::NotFound(format!(
                "Invalid VM property `{prop}`: VM {vm} has no such feature"
            ))
        })?;
        Ok(negotiate::field(format, &prop, value.into()))
    }
    .await;
    answer(&headers, r)
}

async fn alter_vm(headers: HeaderMap) -> Response {
    fail(
        &headers,
        ServeError::NotImplemented(
            "altering a VM (PUT .../vms/ID) is not supported by nubo serve yet".into(),
        ),
    )
}

/// `PUT .../vms/N/{start,stop,reboot}`: one VM, through its provider,
/// as `nubo stop` and `nubo restart` do for every VM (a reboot is a stop
/// then a start).
async fn vm_operation(
    State(app): Shared,
    headers: HeaderMap,
    Path((id, vm, op)): Path<(String, String, String)>,
) -> Response {
    let r = async {
        negotiate::accept(&headers, Default::Text)?;
        let caller = caller(&headers)?;
        let infra = owned(&app, &caller, &id)?;
        if infra.job() == Job::Deleting {
            return Err(ServeError::Conflict(
                "the infrastructure is being deleted".into(),
            ));
        }
        use crate::ops::power::Action;
        let actions: &[Action] = match op.as_str() {
            "start" => &[Action::Start],
            "stop" => &[Action::Stop],
            "reboot" => &[Action::Stop, Action::Start],
            other => {
                return Err(ServeError::NotFound(format!(
                    "Incorrect VM operation `{other}`: expected start, stop or reboot"
                )));
            }
        };
        let node = snapshot(&app, &id).await?.vm(&vm)?.node.clone();
        let env = env_of(&app, &id).await?;
        let name = id.clone();
        background(infra, "a VM's power", false, async move {
            let db = env.db();
            let _lock = db.lock_cluster(&name).await.map_err(|e| chain(&e))?;
            for a in actions {
                let Some(rec) = db.vm(&name, &node).await.map_err(|e| chain(&e))? else {
                    return Err(format!("VM `{node}` is no longer recorded"));
                };
                crate::ops::power::power_vm(&env, &name, &rec, *a)
                    .await
                    .map_err(|e| chain(&e))?;
            }
            Ok(())
        })
        .await?;
        Ok(negotiate::text(StatusCode::OK, String::new()))
    }
    .await;
    answer(&headers, r)
}

/// Used by the router's layer: `//` in a path is one `/` (ec3's default
/// URL ends in `/`).
pub fn collapse_slashes<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let uri = req.uri();
    if uri.path().contains("//") {
        let mut path = uri.path().to_string();
        while path.contains("//") {
            path = path.replace("//", "/");
        }
        let pq = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(pq) = pq.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(pq);
            if let Ok(u) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        self.respond(Format::Text)
    }
}
