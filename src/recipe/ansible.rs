//! Recognising configure bodies written for Ansible.
//!
//! IM and EC3 bodies are Ansible plays (`- hosts:`, `- roles:`,
//! `- tasks:`) or task lists (`- apt: ...`, `- copy: ...`). nubo does not
//! run them; it says so, pointing at the first key (or value) that only
//! Ansible gives a meaning to, instead of reporting "unknown step kind" or,
//! worse, running a task whose native reading differs (`file: path=/x
//! state=directory`, `when: ansible_os_family == "Debian"`).

use crate::tosca::yaml::{Node, Value};

/// Where a body shows it is Ansible, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsibleHint {
    /// Byte offset in the text given to [`detect_ansible`].
    pub offset: usize,
    pub len: usize,
    /// Why, for a note: "`roles` is an Ansible play keyword".
    pub reason: String,
}

/// The message every Ansible body gets.
pub const MESSAGE: &str =
    "this configure is written for Ansible; nubo runs native recipes (see recipes/README.md)";

/// Play keywords (and EC3's `ec3_prio`).
const PLAY_KEYWORDS: &[&str] = &[
    "hosts",
    "roles",
    "tasks",
    "pre_tasks",
    "post_tasks",
    "handlers",
    "vars",
    "vars_files",
    "vars_prompt",
    "gather_facts",
    "gather_subset",
    "become",
    "become_user",
    "become_method",
    "connection",
    "remote_user",
    "import_playbook",
    "serial",
    "strategy",
    "environment",
    "any_errors_fatal",
    "max_fail_percentage",
    "collections",
    "module_defaults",
    "force_handlers",
    "ec3_prio",
];

/// Task keywords (besides `name` and `when`, which native steps share).
const TASK_KEYWORDS: &[&str] = &[
    "args",
    "register",
    "loop",
    "loop_control",
    "notify",
    "listen",
    "tags",
    "ignore_errors",
    "ignore_unreachable",
    "changed_when",
    "failed_when",
    "delegate_to",
    "delegate_facts",
    "run_once",
    "until",
    "retries",
    "delay",
    "no_log",
    "local_action",
    "action",
    "block",
    "rescue",
    "always",
    "check_mode",
    "diff",
    "async",
    "poll",
    "throttle",
    "debugger",
];

/// Ansible modules by short name (the ones native kinds share a name with
/// are checked by the form of their value instead).
const MODULES: &[&str] = &[
    "acl",
    "add_host",
    "alternatives",
    "apk",
    "apt",
    "apt_key",
    "apt_repository",
    "archive",
    "assemble",
    "assert",
    "async_status",
    "authorized_key",
    "blockinfile",
    "command",
    "copy",
    "cron",
    "debconf",
    "debug",
    "dnf",
    "docker_container",
    "docker_image",
    "dpkg_selections",
    "easy_install",
    "expect",
    "fail",
    "fetch",
    "find",
    "firewalld",
    "gem",
    "get_url",
    "getent",
    "git",
    "gluster_volume",
    "group",
    "group_by",
    "hostname",
    "import_role",
    "import_tasks",
    "include_role",
    "include_tasks",
    "include_vars",
    "iptables",
    "k8s",
    "known_hosts",
    "lineinfile",
    "locale_gen",
    "meta",
    "modprobe",
    "mount",
    "npm",
    "pacman",
    "pause",
    "ping",
    "pip",
    "raw",
    "reboot",
    "replace",
    "selinux",
    "seboolean",
    "service_facts",
    "package_facts",
    "set_fact",
    "setup",
    "slurp",
    "snap",
    "stat",
    "synchronize",
    "sysctl",
    "systemd",
    "systemd_service",
    "template",
    "tempfile",
    "timezone",
    "ufw",
    "unarchive",
    "uri",
    "wait_for",
    "yum",
    "yum_repository",
    "zypper",
];

/// Arguments of Ansible's `file`, `service` and `user` modules that
/// native steps of the same name do not have.
fn module_only_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "file" => &[
            "state",
            "src",
            "dest",
            "recurse",
            "force",
            "follow",
            "attributes",
            "access_time",
            "modification_time",
            "setype",
            "seuser",
            "serole",
            "selevel",
            "unsafe_writes",
        ],
        "service" => &["pattern", "sleep", "arguments", "args", "runlevel", "use"],
        "user" => &[
            "state",
            "append",
            "password",
            "uid",
            "group",
            "comment",
            "system",
            "create_home",
            "generate_ssh_key",
            "ssh_key_bits",
            "ssh_key_file",
            "ssh_key_type",
            "remove",
            "force",
            "expires",
            "update_password",
            "move_home",
            "password_lock",
            "non_unique",
            "skeleton",
            "local",
        ],
        _ => &[],
    }
}

/// Words of Ansible's free-form `shell`/`script` arguments.
const FREE_FORM_ARGS: &[&str] = &[
    "creates=",
    "removes=",
    "chdir=",
    "executable=",
    "warn=",
    "stdin=",
];

/// Where `text` (a configure body) shows it is written for Ansible.
pub fn detect_ansible(text: &str) -> Option<AnsibleHint> {
    if let Some(hint) = vault(text) {
        return Some(hint);
    }
    let (root, _) = crate::tosca::yaml::parse(crate::source::FileId(0), text);
    find(root.as_ref()?, text)
}

/// An Ansible Vault body (`$ANSIBLE_VAULT;1.1;AES256` ...).
pub(crate) fn vault(text: &str) -> Option<AnsibleHint> {
    let trimmed = text.trim_start();
    trimmed.starts_with("$ANSIBLE_VAULT").then(|| AnsibleHint {
        offset: text.len() - trimmed.len(),
        len: "$ANSIBLE_VAULT".len(),
        reason: "the body is Ansible Vault-encrypted text".into(),
    })
}

/// The first Ansible-only key or value of a parsed body (spans relative
/// to `text`).
pub(crate) fn find(root: &Node, text: &str) -> Option<AnsibleHint> {
    match &root.value {
        Value::Seq(items) => items.iter().find_map(|item| item_hint(item, text)),
        Value::Map(_) => item_hint(root, text),
        _ => None,
    }
}

fn hint(node: &Node, reason: String) -> AnsibleHint {
    AnsibleHint {
        offset: node.span.start as usize,
        len: node.span.len(),
        reason,
    }
}

fn raw<'t>(node: &Node, text: &'t str) -> &'t str {
    text.get(node.span.start as usize..node.span.end as usize)
        .unwrap_or("")
}

fn item_hint(item: &Node, text: &str) -> Option<AnsibleHint> {
    let entries = item.as_map()?;
    for (k, v) in entries {
        let Some(key) = k.as_str() else { continue };
        if let Some(h) = key_hint(k, key) {
            return Some(h);
        }
        if let Some(h) = value_hint(key, v, text) {
            return Some(h);
        }
        if let Some(h) = jinja(v, text) {
            return Some(h);
        }
    }
    None
}

fn key_hint(k: &Node, key: &str) -> Option<AnsibleHint> {
    let reason = if PLAY_KEYWORDS.contains(&key) {
        if key == "ec3_prio" {
            "`ec3_prio` is EC3's play keyword".to_string()
        } else {
            format!("`{key}` is an Ansible play keyword")
        }
    } else if TASK_KEYWORDS.contains(&key) || key.starts_with("with_") {
        format!("`{key}` is an Ansible task keyword")
    } else if MODULES.contains(&key) || key.starts_with("win_") {
        format!("`{key}` is an Ansible module")
    } else if is_fqcn(key) {
        format!("`{key}` is a fully qualified Ansible module name")
    } else {
        return None;
    };
    Some(hint(k, reason))
}

/// `namespace.collection.module`.
fn is_fqcn(key: &str) -> bool {
    let parts: Vec<&str> = key.split('.').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// `key=value` as the first word: Ansible's argument string.
fn is_key_value_args(s: &str) -> bool {
    let first = s.split_whitespace().next().unwrap_or("");
    match first.split_once('=') {
        Some((k, _)) => !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        None => false,
    }
}

fn value_hint(key: &str, v: &Node, text: &str) -> Option<AnsibleHint> {
    match (key, &v.value) {
        ("file" | "service" | "user" | "package", Value::Str(s)) if is_key_value_args(s) => {
            Some(hint(
                v,
                format!(
                    "`{key}: {}` is Ansible's key=value argument form",
                    first_word(s)
                ),
            ))
        }
        ("package", Value::Map(entries)) => entries.first().map(|(k, _)| {
            hint(
                k,
                format!("`{key}` with named arguments is Ansible's package module"),
            )
        }),
        ("file" | "service" | "user", Value::Map(entries)) => {
            let only = module_only_fields(key);
            entries.iter().find_map(|(k, _)| {
                let f = k.as_str()?;
                only.contains(&f).then(|| {
                    hint(
                        k,
                        format!("`{f}` is an argument of Ansible's `{key}` module"),
                    )
                })
            })
        }
        ("shell" | "script", Value::Map(entries)) => entries.first().map(|(k, _)| {
            hint(
                k,
                format!("`{key}` with named arguments is Ansible's {key} module"),
            )
        }),
        ("shell" | "script", Value::Str(_)) => {
            let src = raw(v, text);
            let mut at = 0;
            for word in src.split_inclusive(char::is_whitespace) {
                let w = word.trim_end();
                if FREE_FORM_ARGS.iter().any(|a| w.starts_with(a)) {
                    let offset = v.span.start as usize + at;
                    return Some(AnsibleHint {
                        offset,
                        len: w.len(),
                        reason: format!(
                            "`{}` is an argument of Ansible's {key} module",
                            w.split('=').next().unwrap_or(w)
                        ),
                    });
                }
                at += word.len();
            }
            None
        }
        ("when", Value::Seq(_)) => Some(hint(
            v,
            "a list of conditions is Ansible's `when`".to_string(),
        )),
        ("when", Value::Str(s)) if !s.contains("{{") && is_jinja_condition(s) => Some(hint(
            v,
            "this `when` is an Ansible (Jinja) condition; nubo's `when` is a handlebars expression"
                .to_string(),
        )),
        ("include", Value::Str(s)) if s.split_whitespace().skip(1).any(|w| w.contains('=')) => {
            Some(hint(
                v,
                "`include: FILE var=value` is Ansible's task include".to_string(),
            ))
        }
        _ => None,
    }
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

fn is_jinja_condition(s: &str) -> bool {
    const MARKS: &[&str] = &[
        "==", "!=", ">=", "<=", " is ", " in ", " and ", " or ", "ansible_", "|", " > ", " < ",
    ];
    MARKS.iter().any(|m| s.contains(m))
}

/// Jinja syntax in any string under `v`: `{% %}`, filters, Ansible's
/// variables.
fn jinja(v: &Node, text: &str) -> Option<AnsibleHint> {
    match &v.value {
        Value::Str(_) => {
            let src = raw(v, text);
            jinja_in(src).map(|(at, len, reason)| AnsibleHint {
                offset: v.span.start as usize + at,
                len,
                reason,
            })
        }
        Value::Seq(items) => items.iter().find_map(|i| jinja(i, text)),
        Value::Map(entries) => entries.iter().find_map(|(_, x)| jinja(x, text)),
        _ => None,
    }
}

/// (offset, length, reason) of the first Jinja-only construct in `src`.
fn jinja_in(src: &str) -> Option<(usize, usize, String)> {
    if let Some(at) = src.find("{%") {
        return Some((at, 2, "`{% ... %}` is a Jinja statement (Ansible's templating); nubo's templates are handlebars".into()));
    }
    let mut from = 0;
    while let Some(i) = src[from..].find("{{") {
        let open = from + i;
        let close = src[open..].find("}}").map_or(src.len(), |c| open + c);
        let expr = &src[open + 2..close];
        let trimmed = expr.trim();
        let ansible_var = ansible_variable(trimmed);
        let filter = !trimmed.starts_with('#')
            && !trimmed.starts_with('/')
            && !trimmed.contains(" as |")
            && trimmed.contains('|');
        if ansible_var.is_some() || filter {
            let what = match ansible_var {
                Some("item") => "`item` is Ansible's loop variable".to_string(),
                Some(m) => format!("`{m}` is Ansible's"),
                None => "`|` filters are Jinja's (Ansible's templating)".into(),
            };
            let reason = if ansible_var.is_some_and(|v| v != "item") {
                format!("{what} (a Jinja expression); nubo's templates are handlebars")
            } else {
                format!("{what}; nubo's templates are handlebars")
            };
            return Some((open, (close + 2).min(src.len()) - open, reason));
        }
        from = close.min(src.len());
        if from >= src.len() {
            break;
        }
    }
    None
}

/// A variable only Ansible defines, used as the first segment of a path
/// in a template expression (`hostvars[...]`, `groups.wn`,
/// `ansible_default_ipv4`, `item`), not as a field (`vars.groups`).
fn ansible_variable(expr: &str) -> Option<&str> {
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &expr[start..i];
            let first_segment = start == 0 || !matches!(bytes[start - 1], b'.' | b'/' | b'@');
            let is_ansible = matches!(word, "hostvars" | "groups" | "inventory_hostname" | "item")
                || word.starts_with("ansible_")
                || word.starts_with("IM_NODE_")
                || word.starts_with("IM_INFRASTRUCTURE");
            if first_segment && is_ansible {
                return Some(word);
            }
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<String> {
        detect_ansible(text).map(|h| h.reason)
    }

    fn at(text: &str) -> &str {
        let h = detect_ansible(text).unwrap();
        &text[h.offset..h.offset + h.len]
    }

    #[test]
    fn plays_and_task_lists() {
        assert_eq!(at("- hosts: all\n  tasks: []\n"), "hosts");
        assert_eq!(at("---\n - roles:\n    - { role: x }\n"), "roles");
        assert_eq!(at("- name: t\n  command: sleep 30\n"), "command");
        assert_eq!(at("- apt: name=x\n"), "apt");
        assert_eq!(
            at("- ansible.builtin.copy:\n    src: a\n"),
            "ansible.builtin.copy"
        );
        assert_eq!(at("- shell: ls\n  args:\n    chdir: /x\n"), "args");
        assert_eq!(at("- shell: ls\n  with_items: [1]\n"), "with_items");
        assert_eq!(at("- win_file:\n    path: C:\\x\n"), "win_file");
        assert_eq!(at("- ec3_prio: -10\n  vars: {}\n"), "ec3_prio");
    }

    #[test]
    fn native_names_with_ansible_values() {
        assert_eq!(
            at("- file: path=/pv state=directory\n"),
            "path=/pv state=directory"
        );
        assert_eq!(at("- file:\n    path: /x\n    state: directory\n"), "state");
        assert_eq!(at("- package:\n    name: vim\n"), "name");
        assert_eq!(at("- shell: make creates=/x\n"), "creates=/x");
        assert_eq!(
            at("- shell: ls\n  when: ansible_os_family == \"Debian\"\n"),
            "ansible_os_family == \"Debian\""
        );
        assert_eq!(at("- shell: echo {{ item }}\n"), "{{ item }}");
        assert_eq!(
            at("- shell: echo {{ x | default('a') }}\n"),
            "{{ x | default('a') }}"
        );
        assert_eq!(at("- shell: \"{% if x %}a{% endif %}\"\n"), "{%");
        assert_eq!(
            at("- shell: echo {{ hostvars[groups['front'][0]]['IM_NODE_PRIVATE_IP'] }}\n"),
            "{{ hostvars[groups['front'][0]]['IM_NODE_PRIVATE_IP'] }}"
        );
    }

    #[test]
    fn vault() {
        let t = "\n$ANSIBLE_VAULT;1.1;AES256\n6637\n";
        assert_eq!(at(t), "$ANSIBLE_VAULT");
    }

    #[test]
    fn native_recipes_are_not_ansible() {
        for t in [
            "- shell: apt-get update\n  creates: /x\n",
            "- file:\n    path: /etc/x\n    content: \"{{vars.a}}\"\n    mode: '0644'\n",
            "- package: [curl, vim]\n",
            "- service: {name: ssh, state: started, enabled: yes}\n",
            "- shell: echo {{#each nodes as |n|}}{{n.ip}}{{/each}}\n",
            "- shell: ls\n  when: eq node.system \"front\"\n",
            "- shell: awk '{print $1}' /etc/hosts | sort\n",
            "",
            "- include: hosts\n",
            "- shell: echo {{vars.groups.wn}} {{node.item}} {{#each vars.items}}{{this}}{{/each}}\n",
        ] {
            assert_eq!(reason(t), None, "{t}");
        }
    }
}
