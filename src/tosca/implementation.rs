//! The Ansible text of a software node's operation implementation, as IM
//! inlines it into the node's configure: a `.yml`/`.yaml` file is either a
//! playbook (a list of plays; their `hosts` and `connection` are dropped,
//! the node's host decides where they run) or a task list (one play of
//! those tasks), and the operation's inputs become the plays' `vars` (a
//! play's own `vars` win, as in IM's merge); any other file is a script,
//! copied to the node and run with the inputs in its environment.
//!
//! This module only reads text it is given; finding and fetching the
//! files is `ops::tosca_artifacts`.

use serde_yaml_ng::{Mapping, Value};

/// Keys that make a list item a play rather than a task.
const PLAY_KEYS: &[&str] = &[
    "hosts",
    "tasks",
    "roles",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "import_playbook",
    "vars_files",
    "gather_facts",
];

/// Why a text is not an Ansible playbook or task list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("it is not YAML: {0}")]
    Yaml(String),
    #[error("it is empty")]
    Empty,
    #[error("it is a YAML {0}, not a list of Ansible plays or tasks")]
    NotList(&'static str),
    #[error("item {0} is a YAML {1}, not an Ansible play or task (a map)")]
    NotMap(usize, &'static str),
    #[error("item {0} is a play and item {1} a task: a file is either a playbook or a task list")]
    Mixed(usize, usize),
    #[error("item {0} is `import_playbook`, which nubo cannot inline into a configure")]
    Import(usize),
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "map",
        Value::Tagged(_) => "tagged value",
    }
}

/// The plays of an implementation file (checked), without `hosts` and
/// `connection`.
pub fn plays(text: &str) -> Result<Vec<Mapping>, ShapeError> {
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| ShapeError::Yaml(e.to_string()))?;
    let items = match doc {
        Value::Null => return Err(ShapeError::Empty),
        Value::Sequence(s) if s.is_empty() => return Err(ShapeError::Empty),
        Value::Sequence(s) => s,
        other => return Err(ShapeError::NotList(kind(&other))),
    };
    let mut maps = Vec::new();
    let (mut first_play, mut first_task) = (None, None);
    for (i, item) in items.into_iter().enumerate() {
        let n = i + 1;
        let Value::Mapping(m) = item else {
            return Err(ShapeError::NotMap(n, kind(&item)));
        };
        if m.contains_key("import_playbook") {
            return Err(ShapeError::Import(n));
        }
        let play = PLAY_KEYS.iter().any(|k| m.contains_key(*k));
        if play {
            first_play.get_or_insert(n);
        } else {
            first_task.get_or_insert(n);
        }
        if let (Some(p), Some(t)) = (first_play, first_task) {
            return Err(ShapeError::Mixed(p, t));
        }
        maps.push(m);
    }
    if first_task.is_some() {
        let mut play = Mapping::new();
        play.insert(
            "tasks".into(),
            Value::Sequence(maps.into_iter().map(Value::Mapping).collect()),
        );
        return Ok(vec![play]);
    }
    for m in &mut maps {
        m.remove("hosts");
        m.remove("connection");
    }
    Ok(maps)
}

/// Whether a reference names an Ansible file (`.yml`, `.yaml`); anything
/// else is a script, as IM tells them apart.
pub fn is_ansible(reference: &str) -> bool {
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    path.ends_with(".yml") || path.ends_with(".yaml")
}

/// A script implementation as IM runs it: copied to `/tmp/BASENAME`
/// (mode 0755) and run there, the operation's inputs in its environment.
pub fn script_play(
    task: &str,
    reference: &str,
    text: &str,
    inputs: &[(String, serde_json::Value)],
) -> Mapping {
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let base = path.rsplit('/').find(|s| !s.is_empty()).unwrap_or("script");
    let dest = format!("/tmp/{base}");
    let mut copy = Mapping::new();
    copy.insert("dest".into(), dest.clone().into());
    copy.insert("content".into(), text.into());
    copy.insert("mode".into(), "0755".into());
    let mut first = Mapping::new();
    first.insert(
        "name".into(),
        format!("Copy contents of script of interface {task}").into(),
    );
    first.insert("copy".into(), Value::Mapping(copy));
    let mut run = Mapping::new();
    run.insert("name".into(), task.into());
    run.insert("shell".into(), dest.into());
    if !inputs.is_empty() {
        let mut env = Mapping::new();
        for (k, v) in inputs {
            let v = match v {
                serde_json::Value::String(s) => Value::String(s.clone()),
                other => Value::String(other.to_string()),
            };
            env.insert(Value::String(k.clone()), v);
        }
        run.insert("environment".into(), Value::Mapping(env));
    }
    let mut play = Mapping::new();
    play.insert(
        "tasks".into(),
        Value::Sequence(vec![Value::Mapping(first), Value::Mapping(run)]),
    );
    play
}

/// The plays of one operation with its inputs as `vars` under the play's
/// own.
pub fn with_vars(plays: Vec<Mapping>, vars: &[(String, serde_json::Value)]) -> Vec<Mapping> {
    if vars.is_empty() {
        return plays;
    }
    plays
        .into_iter()
        .map(|mut play| {
            let mut merged = Mapping::new();
            for (k, v) in vars {
                let v = serde_yaml_ng::to_value(v).unwrap_or(Value::Null);
                merged.insert(Value::String(k.clone()), v);
            }
            if let Some(Value::Mapping(own)) = play.remove("vars") {
                for (k, v) in own {
                    merged.insert(k, v);
                }
            }
            // `vars` first, as IM writes it.
            let mut out = Mapping::new();
            out.insert("vars".into(), Value::Mapping(merged));
            for (k, v) in play {
                out.insert(k, v);
            }
            out
        })
        .collect()
}

/// A configure body (YAML text) of plays.
pub fn body(plays: Vec<Mapping>) -> String {
    let seq = Value::Sequence(plays.into_iter().map(Value::Mapping).collect());
    let text = serde_yaml_ng::to_string(&seq).unwrap_or_default();
    format!("\n---\n{text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_list_becomes_one_play_with_the_inputs_as_vars() {
        let p = plays("- name: a\n  shell: echo {{ x }}\n- copy: dest=/tmp/y content=z\n").unwrap();
        let p = with_vars(p, &[("x".into(), json!("hello"))]);
        let text = body(p);
        let back: Value = serde_yaml_ng::from_str(&text).unwrap();
        let play = &back[0];
        assert_eq!(play["vars"]["x"], Value::String("hello".into()));
        assert_eq!(play["tasks"].as_sequence().unwrap().len(), 2);
        assert_eq!(
            play["tasks"][0]["shell"],
            Value::String("echo {{ x }}".into())
        );
    }

    #[test]
    fn plays_lose_hosts_and_keep_their_own_vars_over_the_inputs() {
        let p = plays(
            "---\n- hosts: localhost\n  connection: local\n  vars:\n    x: own\n  tasks:\n  - debug: msg={{ x }}\n",
        )
        .unwrap();
        let p = with_vars(p, &[("x".into(), json!("input")), ("y".into(), json!(2))]);
        assert!(!p[0].contains_key("hosts"));
        assert!(!p[0].contains_key("connection"));
        assert_eq!(p[0]["vars"]["x"], Value::String("own".into()));
        assert_eq!(p[0]["vars"]["y"], Value::Number(2.into()));
    }

    #[test]
    fn a_script_is_copied_and_run_with_the_inputs_in_its_environment() {
        assert!(is_ansible("a/b.yml") && is_ansible("http://h/c.yaml?x=1"));
        assert!(!is_ansible("a/setup.sh"));
        let p = script_play(
            "app_create",
            "scripts/setup.sh",
            "#!/bin/sh\necho $SITE\n",
            &[("SITE".into(), json!("lab")), ("N".into(), json!(2))],
        );
        let tasks = p["tasks"].as_sequence().unwrap();
        assert_eq!(
            tasks[0]["copy"]["dest"],
            Value::String("/tmp/setup.sh".into())
        );
        assert_eq!(
            tasks[0]["copy"]["content"],
            Value::String("#!/bin/sh\necho $SITE\n".into())
        );
        assert_eq!(tasks[1]["shell"], Value::String("/tmp/setup.sh".into()));
        assert_eq!(tasks[1]["environment"]["SITE"], Value::String("lab".into()));
        assert_eq!(tasks[1]["environment"]["N"], Value::String("2".into()));
    }

    #[test]
    fn what_is_not_a_playbook_or_task_list_is_refused() {
        assert!(matches!(plays("a: [b"), Err(ShapeError::Yaml(_))));
        assert_eq!(plays(""), Err(ShapeError::Empty));
        assert_eq!(plays("[]"), Err(ShapeError::Empty));
        assert_eq!(
            plays("<html>oops</html>"),
            Err(ShapeError::NotList("string"))
        );
        assert_eq!(plays("a: 1"), Err(ShapeError::NotList("map")));
        assert_eq!(plays("- 1\n"), Err(ShapeError::NotMap(1, "number")));
        assert_eq!(
            plays("- tasks: []\n- shell: x\n"),
            Err(ShapeError::Mixed(1, 2))
        );
        assert_eq!(
            plays("- import_playbook: x.yml\n"),
            Err(ShapeError::Import(1))
        );
    }
}
