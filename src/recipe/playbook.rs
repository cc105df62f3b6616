//! Configure bodies written for Ansible, turned into the playbook nubo
//! hands to `ansible-playbook`, as IM's ConfManager builds it.
//!
//! A body is a list of plays (`- hosts: ...`, `- roles: ...`,
//! `- tasks: ...`) or, which IM does not take, a bare task list
//! (`- apt: ...`), which becomes the `tasks` of one play. Every play is
//! merged with IM's header, `hosts: "{{IM_HOST}}"`, `gather_facts: false`,
//! `become: true`, by IM's merge rule: a key only one side has is taken as
//! it is; a map is updated by the body's; a list is extended by it; two
//! different scalars become a list of both (so a play's own `hosts: front`
//! runs on `IM_HOST` and on `front`, as it does in IM; equal scalars stay
//! one value, where IM would write `[true, true]`). EC3's `ec3_prio`
//! orders the plays (lowest first, stable) and is removed.
//!
//! An Ansible Vault body is kept encrypted; the caller decrypts it before
//! [`playbook`] (IM decrypts, merges, encrypts again).

use super::ansible;
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};
use crate::tosca::yaml::{self, Node, Value};
use serde_json::{Map, Value as Json, json};

/// One part of an Ansible configure body, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct AnsiblePart {
    pub text: String,
    pub span: Span,
    /// `$ANSIBLE_VAULT;...`: encrypted, decrypted at run time.
    pub vault: bool,
}

/// A role the plays use, installed before the first play.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// `ansible.modules.NAME` or `ansible.roles.NAME[,VERSION]`, from
    /// Ansible Galaxy with `ansible-galaxy`.
    Galaxy {
        name: String,
        version: Option<String>,
    },
    /// `ansible.modules.git+URL|NAME` (IM's git form): the repository at a
    /// commit, cached as recipes from git are; `tree` is its files.
    Git {
        name: String,
        url: String,
        commit: String,
        tree: std::path::PathBuf,
    },
}

impl Role {
    pub fn name(&self) -> &str {
        match self {
            Role::Galaxy { name, .. } | Role::Git { name, .. } => name,
        }
    }

    /// What the role is, for a step's identity (a new commit runs it again).
    pub fn identity(&self) -> String {
        match self {
            Role::Galaxy { name, version } => {
                format!("galaxy {name} {}", version.as_deref().unwrap_or(""))
            }
            Role::Git {
                name, url, commit, ..
            } => format!("git {name} {url} {commit}"),
        }
    }
}

/// A role named in `disk.0.applications`, before it is fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleRef {
    Galaxy {
        name: String,
        version: Option<String>,
    },
    Git {
        name: String,
        url: String,
        rev: Option<String>,
    },
}

/// Reads an application name as IM does: `ansible.roles.NAME` (IM 1.5 and
/// later) or `ansible.modules.NAME` (older IM, EC3's templates); NAME is a
/// Galaxy role, or IM's git form `git+URL|NAME` (a `,REV` after the URL
/// picks a branch, tag or commit). `version` is the application's
/// `version` feature. Anything else is not a role (`None`).
pub fn role_ref(app: &str, version: Option<&str>) -> Option<Result<RoleRef, String>> {
    let rest = app
        .strip_prefix("ansible.roles.")
        .or_else(|| app.strip_prefix("ansible.modules."))?;
    if let Some(git) = rest.strip_prefix("git+") {
        let Some((url, name)) = git.split_once('|') else {
            return Some(Err(format!(
                "`{app}`: IM's git form is `ansible.modules.git+URL|NAME` (the role's name after `|`)"
            )));
        };
        let (url, rev) = match url.rsplit_once(',') {
            Some((u, r)) => (u, Some(r.to_string())),
            None => (url, version.map(str::to_string)),
        };
        if url.is_empty() || name.trim().is_empty() {
            return Some(Err(format!(
                "`{app}`: IM's git form is `ansible.modules.git+URL|NAME`"
            )));
        }
        return Some(Ok(RoleRef::Git {
            name: name.trim().to_string(),
            url: url.to_string(),
            rev,
        }));
    }
    if rest.is_empty() {
        return Some(Err(format!("`{app}` names no role")));
    }
    let (name, version) = match rest.split_once(',') {
        Some((n, v)) => (n.to_string(), Some(v.to_string())),
        None => (rest.to_string(), version.map(str::to_string)),
    };
    Some(Ok(RoleRef::Galaxy { name, version }))
}

/// Checks one part of a body at compile time: YAML that is a list of
/// plays or of tasks (a Vault body is taken as it is).
pub fn check_part(file: FileId, base: usize, text: &str) -> Result<AnsiblePart, Vec<Diagnostic>> {
    let whole = Span::new(file, base, base + text.len());
    if ansible::vault(text).is_some() {
        return Ok(AnsiblePart {
            text: text.to_string(),
            span: whole,
            vault: true,
        });
    }
    let (root, diags) = yaml::parse(file, text);
    let errors: Vec<Diagnostic> = diags
        .into_iter()
        .filter(Diagnostic::is_error)
        .map(|mut d| {
            d.span = Span::new(
                file,
                base + d.span.start as usize,
                base + d.span.end as usize,
            );
            d
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(root) = &root
        && let Err(m) = plays_of(root)
    {
        let at = Span::new(
            file,
            base + root.span.start as usize,
            base + root.span.end as usize,
        );
        return Err(vec![Diagnostic::error(at, m)]);
    }
    Ok(AnsiblePart {
        text: text.to_string(),
        span: whole,
        vault: false,
    })
}

/// The playbook for one configure: the plays of every part (decrypted
/// texts, in order), each merged with IM's header, ordered by `ec3_prio`.
/// `hosts` is the header's host pattern: IM's `{{IM_HOST}}` (an extra
/// variable), or the nodes of one run (`wn-1:wn-2`), each of which has
/// `IM_HOST` set to itself in the inventory.
pub fn playbook(texts: &[&str], hosts: &str) -> Result<Json, String> {
    let mut plays: Vec<(i64, Json)> = Vec::new();
    for text in texts {
        let (root, diags) = yaml::parse(FileId(0), text);
        if let Some(d) = diags.iter().find(|d| d.is_error()) {
            return Err(format!("the body is not YAML: {}", d.message));
        }
        let Some(root) = root else { continue };
        for mut play in plays_of(&root)? {
            let prio = match play.remove("ec3_prio") {
                Some(Json::Number(n)) => n.as_i64().unwrap_or(0),
                Some(Json::String(s)) => s.trim().parse().unwrap_or(0),
                _ => 0,
            };
            plays.push((prio, merge(header(hosts), play)));
        }
    }
    plays.sort_by_key(|(p, _)| *p);
    Ok(Json::Array(plays.into_iter().map(|(_, p)| p).collect()))
}

/// What an Ansible step is, for its record: a step whose identity is
/// unchanged is not run again. The parts as written (a Vault body
/// encrypted), the roles with their commits, the node, and the inventory
/// without VM ids and connections (what the plays see of the cluster).
pub fn identity(body: &super::step::AnsibleBody, ctx: &Json) -> String {
    let mut out = String::from("# ansible-playbook\n");
    out.push_str(&format!(
        "# IM_HOST={}\n",
        ctx["node"]["name"].as_str().unwrap_or("")
    ));
    for r in &body.roles {
        out.push_str(&format!("# role {}\n", r.identity()));
    }
    for p in &body.parts {
        out.push_str(&p.text);
        out.push('\n');
    }
    let inv = super::inventory::inventory(ctx, &|_| (String::new(), String::new()));
    out.push_str(&inv.to_string());
    out
}

/// EC3's variables taken from the RADL: a play variable written
/// `{ec3_jpath: PATH}` or `{ec3_xpath: PATH}` gets the value at PATH,
/// which EC3's client puts there before IM sees the plays. PATH is
/// `/system/NAME/FEATURE` (a system's feature), `/system/NAME` (its
/// features, with `id`) or `/system/*` (every system's); `systems` is the
/// recipe context's `system_features`. A path that names nothing gives
/// null.
pub fn resolve_ec3_paths(playbook: &mut Json, systems: &Json) {
    let Some(plays) = playbook.as_array_mut() else {
        return;
    };
    for play in plays {
        let Some(vars) = play.get_mut("vars").and_then(Json::as_object_mut) else {
            continue;
        };
        for v in vars.values_mut() {
            let path = match v.as_object() {
                Some(o) if o.len() == 1 => o
                    .get("ec3_jpath")
                    .or_else(|| o.get("ec3_xpath"))
                    .and_then(Json::as_str)
                    .map(str::to_string),
                _ => None,
            };
            if let Some(path) = path {
                *v = ec3_path(&path, systems);
            }
        }
    }
}

fn ec3_path(path: &str, systems: &Json) -> Json {
    let system = |name: &str| -> Json {
        let mut f = systems[name].as_object().cloned().unwrap_or_default();
        f.insert("id".into(), json!(name));
        f.insert("class".into(), json!("system"));
        Json::Object(f)
    };
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["system", "*"] => Json::Array(
            systems
                .as_object()
                .map(|m| m.keys().map(|k| system(k)).collect())
                .unwrap_or_default(),
        ),
        ["system", name] if systems.get(*name).is_some() => system(name),
        ["system", name, feature] => systems[*name][*feature].clone(),
        _ => Json::Null,
    }
}

/// IM's header of every play.
fn header(hosts: &str) -> Map<String, Json> {
    let Json::Object(m) = json!({
        "hosts": hosts,
        "gather_facts": false,
        "become": true,
    }) else {
        unreachable!("an object literal")
    };
    m
}

/// IM's merge of a play into the header (see the module's comment).
fn merge(mut into: Map<String, Json>, play: Map<String, Json>) -> Json {
    for (k, v) in play {
        if is_empty(&v) {
            into.entry(k).or_insert(v);
            continue;
        }
        let merged = match into.remove(&k) {
            None => v,
            Some(old) if is_empty(&old) => v,
            Some(Json::Object(mut a)) => match v {
                Json::Object(b) => {
                    a.extend(b);
                    Json::Object(a)
                }
                other => other,
            },
            Some(Json::Array(mut a)) => match v {
                Json::Array(b) => {
                    a.extend(b);
                    Json::Array(a)
                }
                other => {
                    a.push(other);
                    Json::Array(a)
                }
            },
            Some(old) if old == v => v,
            Some(old) => Json::Array(vec![old, v]),
        };
        into.insert(k, merged);
    }
    Json::Object(into)
}

/// Python's truth of a value, which IM's merge tests.
fn is_empty(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::String(s) => s.is_empty(),
        Json::Array(a) => a.is_empty(),
        Json::Object(o) => o.is_empty(),
    }
}

/// The plays of a body: a list of plays, a bare task list (one play), or
/// nothing.
fn plays_of(root: &Node) -> Result<Vec<Map<String, Json>>, String> {
    let items: Vec<&Node> = match &root.value {
        Value::Null => return Ok(Vec::new()),
        Value::Seq(items) => items.iter().collect(),
        Value::Map(_) => vec![root],
        _ => {
            return Err(format!(
                "an Ansible body is a YAML list of plays or of tasks; this is {}",
                root.kind()
            ));
        }
    };
    let mut maps = Vec::new();
    for item in &items {
        match to_json(item) {
            Json::Object(m) => maps.push(m),
            _ => {
                return Err(format!(
                    "an Ansible body is a YAML list of plays or of tasks; an item is {}",
                    item.kind()
                ));
            }
        }
    }
    let is_play = |m: &Map<String, Json>| m.keys().any(|k| PLAY_ONLY.contains(&k.as_str()));
    let plays = maps.iter().filter(|m| is_play(m)).count();
    if plays == maps.len() {
        Ok(maps)
    } else if plays == 0 {
        let tasks: Vec<Json> = maps.into_iter().map(Json::Object).collect();
        let mut play = Map::new();
        play.insert("tasks".into(), Json::Array(tasks));
        Ok(vec![play])
    } else {
        Err(
            "this Ansible body mixes plays (`hosts`, `roles`, `tasks`, ...) and tasks; \
             put the tasks under a play's `tasks:`"
                .into(),
        )
    }
}

/// Keys only a play has (a task may have `vars`, `become`, `environment`).
const PLAY_ONLY: &[&str] = &[
    "hosts",
    "roles",
    "tasks",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "vars_files",
    "vars_prompt",
    "gather_facts",
    "gather_subset",
    "import_playbook",
    "serial",
    "strategy",
    "max_fail_percentage",
    "collections",
    "force_handlers",
    "ec3_prio",
];

/// A YAML node as JSON, scalars as PyYAML reads them.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => json!(i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Value::Str(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let key = match &k.value {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
                    Value::Float(f) => f.to_string(),
                    _ => String::new(),
                };
                m.insert(key, to_json(v));
            }
            Json::Object(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IM_HOST: &str = "{{IM_HOST}}";

    #[test]
    fn a_task_list_becomes_one_play_with_im_header() {
        let p = playbook(
            &["- name: a\n  shell: echo {{ IM_NODE_HOSTNAME }}\n- apt: name=x\n"],
            IM_HOST,
        )
        .unwrap();
        assert_eq!(
            p,
            json!([{
                "hosts": "{{IM_HOST}}", "gather_facts": false, "become": true,
                "tasks": [
                    {"name": "a", "shell": "echo {{ IM_NODE_HOSTNAME }}"},
                    {"apt": "name=x"}
                ]
            }])
        );
    }

    #[test]
    fn plays_merge_as_in_im() {
        let p = playbook(&[
            "- hosts: front\n  become: yes\n  gather_facts: yes\n  vars: {a: 1}\n  roles: [{role: r}]\n",
        ], IM_HOST)
        .unwrap();
        assert_eq!(
            p,
            json!([{
                "hosts": ["{{IM_HOST}}", "front"], "gather_facts": true, "become": true,
                "vars": {"a": 1}, "roles": [{"role": "r"}]
            }])
        );
    }

    #[test]
    fn ec3_prio_orders_plays_and_goes() {
        let p = playbook(
            &[
                "- tasks: [{debug: {msg: b}}]\n",
                "- ec3_prio: -5\n  tasks: [{debug: {msg: a}}]\n",
            ],
            IM_HOST,
        )
        .unwrap();
        assert_eq!(p[0]["tasks"][0]["debug"]["msg"], "a");
        assert!(p[0].get("ec3_prio").is_none());
        assert_eq!(p[1]["tasks"][0]["debug"]["msg"], "b");
    }

    #[test]
    fn ec3_paths_read_the_radl() {
        let mut p = playbook(
            &["- vars:\n    T: {ec3_jpath: /system/front/ec3_templates}\n    S: {ec3_jpath: /system/*}\n    A: {ec3_xpath: /system/front/auth}\n    K: {keep: 1}\n  roles: [r]\n"],
            IM_HOST,
        )
        .unwrap();
        let systems = json!({
            "front": {"ec3_templates": ["slurm", "nfs"]},
            "wn": {"ec3_max_instances_max": 4}
        });
        resolve_ec3_paths(&mut p, &systems);
        let vars = &p[0]["vars"];
        assert_eq!(vars["T"], json!(["slurm", "nfs"]));
        assert_eq!(vars["S"][1]["id"], "wn");
        assert_eq!(vars["S"][1]["ec3_max_instances_max"], 4);
        assert_eq!(vars["A"], Json::Null);
        assert_eq!(vars["K"], json!({"keep": 1}));
    }

    #[test]
    fn octal_modes_read_as_pyyaml_does() {
        let p = playbook(&["- file: path=/x\n  mode: 0644\n"], IM_HOST).unwrap();
        assert_eq!(p[0]["tasks"][0]["mode"], json!(420));
    }

    #[test]
    fn mixed_bodies_and_scalars_are_refused() {
        assert!(playbook(&["- hosts: all\n- apt: name=x\n"], IM_HOST).is_err());
        assert!(check_part(FileId(0), 0, "just text\n").is_err());
        assert!(
            check_part(FileId(0), 0, "$ANSIBLE_VAULT;1.1;AES256\n3132\n").is_ok_and(|p| p.vault)
        );
    }

    #[test]
    fn role_names_as_im_reads_them() {
        assert_eq!(
            role_ref("ansible.modules.grycap.slurm", None),
            Some(Ok(RoleRef::Galaxy {
                name: "grycap.slurm".into(),
                version: None
            }))
        );
        assert_eq!(
            role_ref("ansible.roles.indigo-dc.nfs", Some("v1.2")),
            Some(Ok(RoleRef::Galaxy {
                name: "indigo-dc.nfs".into(),
                version: Some("v1.2".into())
            }))
        );
        assert_eq!(
            role_ref("ansible.modules.git+https://h/r.git|myrole", None),
            Some(Ok(RoleRef::Git {
                name: "myrole".into(),
                url: "https://h/r.git".into(),
                rev: None
            }))
        );
        assert!(matches!(
            role_ref("ansible.modules.git+https://h/r.git", None),
            Some(Err(_))
        ));
        assert_eq!(role_ref("slurm", None), None);
    }
}
