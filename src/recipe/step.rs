//! The recipe tree: steps as written, every value with its span.
//!
//! Strings are kept unrendered ([`Text`]); `render` fills them in with a
//! context later, so a structural mistake is reported before any
//! templating happens.

use crate::source::Span;
use std::fmt;

/// A parsed native recipe: its steps in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub steps: Vec<Step>,
    /// A body written for Ansible (then `steps` is empty): run with
    /// `ansible-playbook` instead of as a script.
    pub ansible: Option<AnsibleBody>,
}

/// A configure written for Ansible: its parts as written, and the roles
/// the cluster's applications name.
#[derive(Clone, Debug, PartialEq)]
pub struct AnsibleBody {
    pub parts: Vec<super::playbook::AnsiblePart>,
    pub roles: Vec<super::playbook::Role>,
}

impl Recipe {
    /// Every template the recipe renders, one per line: its values, its
    /// `when` conditions and the template files `expand_includes` loaded.
    /// After includes are expanded, this is what the recipe may read from
    /// the context (which the deployment graph looks at), where the
    /// configure's own text may only say `- include: hosts`.
    pub fn template_text(&self) -> String {
        let mut out = String::new();
        if self.ansible.is_some() {
            // The inventory lists every node: an Ansible configure waits
            // for all of them, as IM contextualizes once every VM is up.
            out.push_str("{{nodes}}\n");
        }
        let mut add = |t: &Text| {
            out.push_str(&t.value);
            out.push('\n');
        };
        for step in &self.steps {
            step.name.iter().for_each(&mut add);
            step.creates.iter().for_each(&mut add);
            step.unless.iter().for_each(&mut add);
            if let Some(When::Template(t)) = &step.when {
                add(t);
            }
            match &step.action {
                Action::Shell { command } => add(command),
                Action::Script { body, interpreter } => {
                    add(body);
                    interpreter.iter().for_each(&mut add);
                }
                Action::File {
                    path,
                    content,
                    mode,
                    owner,
                    group,
                } => {
                    add(path);
                    match content {
                        FileContent::Inline(t) => add(t),
                        FileContent::Template { loaded, .. } => loaded.iter().for_each(&mut add),
                    }
                    for t in [mode, owner, group].into_iter().flatten() {
                        add(t);
                    }
                }
                Action::Line { path, line, regexp } => {
                    add(path);
                    add(line);
                    regexp.iter().for_each(&mut add);
                }
                Action::Package { names } => names.iter().for_each(&mut add),
                Action::Service { name, .. } => add(name),
                Action::Daemon {
                    name,
                    command,
                    user,
                    env,
                } => {
                    add(name);
                    add(command);
                    user.iter().for_each(&mut add);
                    env.iter().for_each(|(_, t)| add(t));
                }
                Action::User {
                    name,
                    shell,
                    home,
                    groups,
                    authorized_keys,
                } => {
                    add(name);
                    for t in [shell, home].into_iter().flatten() {
                        add(t);
                    }
                    groups.iter().chain(authorized_keys).for_each(&mut add);
                }
                Action::Include(_) => {}
            }
        }
        out
    }
}

/// A string value as written: a handlebars template (rendered later), the
/// span of the value in its file, and the source text under that span (so
/// a rendering error can point at the expression inside the value).
#[derive(Clone, Debug, PartialEq)]
pub struct Text {
    pub value: String,
    pub span: Span,
    pub raw: String,
}

/// One list item: exactly one action plus optional modifiers.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The whole item.
    pub span: Span,
    /// The action key (`shell`, `file`, ...).
    pub key_span: Span,
    pub action: Action,
    /// `name:`, a label for logs.
    pub name: Option<Text>,
    /// `creates: PATH`: skipped when the path exists.
    pub creates: Option<Text>,
    /// `unless: CMD`: skipped when the command exits 0.
    pub unless: Option<Text>,
    /// `when: EXPR`: skipped when the expression renders empty or `false`.
    pub when: Option<When>,
}

/// A `when:` condition.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// `when: true` / `when: false`.
    Constant(bool, Span),
    /// A handlebars template that must render to `true`, `false` or nothing.
    Template(Text),
}

/// What a step does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `shell: CMD`, run with `sh -e`.
    Shell { command: Text },
    /// `script: TEXT` (+ `interpreter:`), written to a file and run.
    Script {
        body: Text,
        interpreter: Option<Text>,
    },
    /// `file: {path, content | template, mode, owner, group}`.
    File {
        path: Text,
        content: FileContent,
        mode: Option<Text>,
        owner: Option<Text>,
        group: Option<Text>,
    },
    /// `line: {path, line, regexp}`.
    Line {
        path: Text,
        line: Text,
        regexp: Option<Text>,
    },
    /// `package: NAME | [NAMES]`.
    Package { names: Vec<Text> },
    /// `service: {name, state, enabled}`.
    Service {
        name: Text,
        state: Option<(ServiceState, Span)>,
        enabled: Option<(bool, Span)>,
    },
    /// `daemon: {name, command, user, env}`.
    Daemon {
        name: Text,
        command: Text,
        user: Option<Text>,
        env: Vec<(String, Text)>,
    },
    /// `user: {name, shell, home, groups, authorized_keys}`.
    User {
        name: Text,
        shell: Option<Text>,
        home: Option<Text>,
        groups: Vec<Text>,
        authorized_keys: Vec<Text>,
    },
    /// `include: NAME | {git, rev, path}`; replaced by the included steps
    /// in `expand_includes`.
    Include(IncludeRef),
}

impl Action {
    /// The action's kind: the key it is written under.
    pub fn kind(&self) -> StepKind {
        match self {
            Action::Shell { .. } => StepKind::Shell,
            Action::Script { .. } => StepKind::Script,
            Action::File { .. } => StepKind::File,
            Action::Line { .. } => StepKind::Line,
            Action::Package { .. } => StepKind::Package,
            Action::Service { .. } => StepKind::Service,
            Action::Daemon { .. } => StepKind::Daemon,
            Action::User { .. } => StepKind::User,
            Action::Include(_) => StepKind::Include,
        }
    }
}

/// A step's action key (`shell`, `file`, ...): which [`Action`] it is.
/// `FromStr` reads the key as written, `Display` writes it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum StepKind {
    Shell,
    Script,
    File,
    Line,
    Package,
    Service,
    Daemon,
    User,
    Include,
}

impl StepKind {
    /// Every kind, in the order messages list them.
    pub const ALL: &[StepKind] = <StepKind as strum::VariantArray>::VARIANTS;

    /// The key as written.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Every key, joined with `, ` as messages list them.
    pub fn list() -> String {
        Self::ALL
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Where a `file` step's content comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum FileContent {
    /// `content: TEXT`, inline.
    Inline(Text),
    /// `template: REF`: a template file the caller's `RecipeSource` loads
    /// (`expand_includes` fills in `loaded`).
    Template {
        reference: IncludeRef,
        loaded: Option<Text>,
    },
}

/// `state:` of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    Started,
    Stopped,
    Restarted,
}

impl ServiceState {
    pub const NAMES: [&'static str; 3] = ["started", "stopped", "restarted"];

    pub fn parse(s: &str) -> Option<ServiceState> {
        match s {
            "started" => Some(ServiceState::Started),
            "stopped" => Some(ServiceState::Stopped),
            "restarted" => Some(ServiceState::Restarted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Started => "started",
            ServiceState::Stopped => "stopped",
            ServiceState::Restarted => "restarted",
        }
    }
}

/// What an `include:` (or a `file` step's `template:`) refers to. Nubo
/// only parses the reference; the caller's `RecipeSource` finds the text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncludeRef {
    /// `include: NAME`, as written (`hosts`, `common/base`, `motd.hbs`).
    Name { name: String, span: Span },
    /// `include: {git: URL, rev: REV, path: PATH}`; `rev` and `path` are
    /// optional.
    Git {
        url: String,
        rev: Option<String>,
        path: Option<String>,
        span: Span,
    },
}

impl IncludeRef {
    /// Where the reference is written.
    pub fn span(&self) -> Span {
        match self {
            IncludeRef::Name { span, .. } | IncludeRef::Git { span, .. } => *span,
        }
    }

    /// A key that is equal for two references to the same text (spans
    /// aside), for cycle detection.
    pub fn key(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for IncludeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IncludeRef::Name { name, .. } => f.write_str(name),
            IncludeRef::Git { url, rev, path, .. } => {
                write!(f, "git {url}")?;
                if let Some(rev) = rev {
                    write!(f, "@{rev}")?;
                }
                if let Some(path) = path {
                    write!(f, ":{path}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StepKind;

    #[test]
    fn step_kinds_read_back_as_written() {
        assert_eq!(
            StepKind::list(),
            "shell, script, file, line, package, service, daemon, user, include"
        );
        for &k in StepKind::ALL {
            assert_eq!(k.to_string().parse::<StepKind>(), Ok(k));
        }
        for other in ["Shell", "SHELL", "command", "", "shell "] {
            assert!(other.parse::<StepKind>().is_err(), "{other:?}");
        }
    }
}
