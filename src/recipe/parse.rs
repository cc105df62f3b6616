//! From YAML text to a [`Recipe`]: structure and value types checked,
//! every problem reported with its span, nothing rendered yet.

use super::ansible;
use super::step::{
    Action, FileContent, IncludeRef, Recipe, ServiceState, Step, StepKind, Text, When,
};
use super::validate;
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};
use crate::tosca::yaml::{self, Node, Value};

/// Keys a step may carry besides its action.
const MODIFIERS: [&str; 5] = ["name", "creates", "unless", "when", "interpreter"];

/// Parses a native recipe. `base` is where `text` starts inside `file`
/// (a RADL configure body starts after `@begin`), so spans point into the
/// file. An Ansible body gives one error at its first Ansible-only key.
pub fn parse(file: FileId, base: usize, text: &str) -> Result<Recipe, Vec<Diagnostic>> {
    let at = |start: usize, len: usize| Span::new(file, base + start, base + start + len);
    if let Some(h) = ansible::vault(text) {
        return Err(vec![ansible_error(at(h.offset, h.len), h.reason)]);
    }
    let (root, yaml_diags) = yaml::parse(file, text);
    let mut p = Parser {
        base,
        text,
        diags: yaml_diags.into_iter().map(|d| yaml_diag(d, base)).collect(),
    };
    let Some(root) = root else {
        return Err(p.diags);
    };
    if let Some(h) = ansible::find(&root, text) {
        return Err(vec![ansible_error(at(h.offset, h.len), h.reason)]);
    }
    let steps = match &root.value {
        Value::Null => Vec::new(),
        Value::Seq(items) => items.iter().filter_map(|i| p.step(i)).collect(),
        _ => {
            p.error(
                &root,
                format!(
                    "a recipe is a YAML list of steps (`- shell: CMD`); this is {}",
                    root.kind()
                ),
            );
            Vec::new()
        }
    };
    if p.diags.iter().any(Diagnostic::is_error) {
        Err(p.diags)
    } else {
        Ok(Recipe {
            steps,
            ansible: None,
        })
    }
}

fn ansible_error(span: Span, reason: String) -> Diagnostic {
    Diagnostic::error(span, ansible::MESSAGE).with_note(format!("note: {reason}"))
}

/// A diagnostic of the YAML reader, moved to the file and worded for
/// recipes: a repeated key is an error here (a step runs what it says).
fn yaml_diag(mut d: Diagnostic, base: usize) -> Diagnostic {
    d.span = shift(d.span, base);
    for (s, _) in &mut d.related {
        *s = shift(*s, base);
    }
    if d.message
        .starts_with("a TOSCA file holds one YAML document")
    {
        d.message = "a recipe holds one YAML document; a second one starts here".into();
    }
    if let Some(m) = d.message.strip_suffix("; the last value is used") {
        d.message = m.to_string();
        d.severity = crate::diagnostic::Severity::Error;
    }
    d
}

fn shift(s: Span, base: usize) -> Span {
    Span::new(s.file, s.start as usize + base, s.end as usize + base)
}

struct Parser<'t> {
    base: usize,
    text: &'t str,
    diags: Vec<Diagnostic>,
}

/// A mapping's entries by key, for one action's fields.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == name)
            .map(|(_, _, v)| *v)
    }
}

impl Parser<'_> {
    fn span(&self, node: &Node) -> Span {
        shift(node.span, self.base)
    }

    fn error(&mut self, node: &Node, message: impl Into<String>) {
        let span = self.span(node);
        self.diags.push(Diagnostic::error(span, message));
    }

    fn raw(&self, node: &Node) -> &str {
        self.text
            .get(node.span.start as usize..node.span.end as usize)
            .unwrap_or("")
    }

    fn step(&mut self, item: &Node) -> Option<Step> {
        let Some(entries) = item.as_map() else {
            self.error(
                item,
                format!(
                    "a step is a map with one action key (`- shell: CMD`); this is {}",
                    item.kind()
                ),
            );
            return None;
        };
        let mut action: Option<(StepKind, &Node, &Node)> = None;
        let mut name = None;
        let mut creates = None;
        let mut unless = None;
        let mut when = None;
        let mut interpreter: Option<(&Node, &Node)> = None;
        let mut ok = true;
        for (k, v) in entries {
            let Some(key) = k.as_str() else {
                self.error(k, format!("a step's keys are names; this is {}", k.kind()));
                ok = false;
                continue;
            };
            match key {
                "name" => name = self.text(v, "name"),
                "creates" => creates = self.path(v, "creates"),
                "unless" => unless = self.text(v, "unless"),
                "when" => when = self.when(v),
                "interpreter" => interpreter = Some((k, v)),
                other => {
                    let Ok(kind) = other.parse::<StepKind>() else {
                        let mut d = Diagnostic::error(
                            self.span(k),
                            format!(
                                "unknown step kind `{other}`; expected one of {}",
                                StepKind::list()
                            ),
                        );
                        let candidates = StepKind::ALL.iter().map(|k| k.as_str());
                        if let Some(s) = suggest(other, candidates.chain(MODIFIERS)) {
                            d = d.with_note(format!("help: did you mean `{s}`?"));
                        }
                        self.diags.push(d);
                        ok = false;
                        continue;
                    };
                    if let Some((first, first_key, _)) = action {
                        let span = self.span(k);
                        let first_span = self.span(first_key);
                        self.diags.push(
                            Diagnostic::error(
                                span,
                                format!(
                                    "a step has exactly one action; `{first}` and `{kind}` are both given"
                                ),
                            )
                            .with_related(first_span, format!("`{first}` given here"))
                            .with_note("help: write each action as a step of its own (`- ...`)"),
                        );
                        ok = false;
                    } else {
                        action = Some((kind, k, v));
                    }
                }
            }
        }
        let Some((kind, key, value)) = action else {
            if ok {
                self.error(
                    item,
                    format!(
                        "this step has no action; expected one of {}",
                        StepKind::list()
                    ),
                );
            }
            return None;
        };
        if let Some((ik, _)) = interpreter
            && kind != StepKind::Script
        {
            self.error(
                ik,
                format!("`interpreter` applies to `script` steps only, not `{kind}`"),
            );
        }
        if kind == StepKind::Include {
            for (m, given) in [
                ("creates", creates.is_some()),
                ("unless", unless.is_some()),
                ("when", when.is_some()),
            ] {
                if given
                    && let Some(k) = entries
                        .iter()
                        .map(|(k, _)| k)
                        .find(|k| k.as_str() == Some(m))
                {
                    self.error(
                        k,
                        format!("`{m}` does not apply to `include`; put it on the included steps"),
                    );
                }
            }
        }
        let action = self.action(kind, key, value, interpreter.map(|(_, v)| v))?;
        Some(Step {
            span: self.span(item),
            key_span: self.span(key),
            action,
            name,
            creates,
            unless,
            when,
        })
    }

    /// A string value; numbers are taken as written (`mode: 0644` is
    /// `0644`).
    fn text(&mut self, v: &Node, what: &str) -> Option<Text> {
        let value = match &v.value {
            Value::Str(s) => s.clone(),
            Value::Int(_) | Value::Float(_) => self.raw(v).to_string(),
            Value::Bool(_) => {
                let raw = self.raw(v).to_string();
                let span = self.span(v);
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!("`{what}` takes a string; `{raw}` is read as a boolean"),
                    )
                    .with_note(format!("help: quote it: '{raw}'")),
                );
                return None;
            }
            Value::Null => {
                self.error(v, format!("`{what}` takes a string; found nothing"));
                return None;
            }
            Value::Seq(_) | Value::Map(_) => {
                self.error(v, format!("`{what}` takes a string; this is {}", v.kind()));
                return None;
            }
        };
        Some(Text {
            value,
            span: self.span(v),
            raw: self.raw(v).to_string(),
        })
    }

    /// A string that must be an absolute path when it is not templated.
    fn path(&mut self, v: &Node, what: &str) -> Option<Text> {
        let t = self.text(v, what)?;
        if let Err(e) = validate::literal(&t.value, validate::path) {
            self.diags
                .push(Diagnostic::error(t.span, format!("`{what}`: {e}")));
            return None;
        }
        Some(t)
    }

    /// One string or a list of strings.
    fn texts(&mut self, v: &Node, what: &str) -> Option<Vec<Text>> {
        match &v.value {
            Value::Seq(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for i in items {
                    match self.text(i, what) {
                        Some(t) => out.push(t),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            _ => self.text(v, what).map(|t| vec![t]),
        }
    }

    fn when(&mut self, v: &Node) -> Option<When> {
        match &v.value {
            Value::Bool(b) => Some(When::Constant(*b, self.span(v))),
            Value::Str(_) => {
                let mut t = self.text(v, "when")?;
                if !t.value.contains("{{") {
                    t.value = format!("{{{{{}}}}}", t.value);
                }
                Some(When::Template(t))
            }
            _ => {
                self.error(
                    v,
                    format!(
                        "`when` takes a handlebars expression (`when: vars.enabled`) or true/false; this is {}",
                        v.kind()
                    ),
                );
                None
            }
        }
    }

    /// The entries of a map-valued action, checked against its fields.
    fn fields<'n>(
        &mut self,
        kind: &str,
        key: &Node,
        v: &'n Node,
        allowed: &[&str],
        required: &[&str],
    ) -> Option<Fields<'n>> {
        let Some(entries) = v.as_map() else {
            let mut d = Diagnostic::error(
                self.span(v),
                format!(
                    "`{kind}` takes a map of {}; this is {}",
                    allowed.join(", "),
                    v.kind()
                ),
            );
            if matches!(v.value, Value::Str(_)) {
                d = d.with_note(format!(
                    "help: write `{kind}:` and its fields on the lines below, like `  {}: ...`",
                    allowed[0]
                ));
            }
            self.diags.push(d);
            return None;
        };
        let mut fields = Fields {
            entries: Vec::new(),
        };
        let mut ok = true;
        for (k, val) in entries {
            let Some(name) = k.as_str() else {
                self.error(
                    k,
                    format!("the fields of `{kind}` are names; this is {}", k.kind()),
                );
                ok = false;
                continue;
            };
            if !allowed.contains(&name) {
                let mut d = Diagnostic::error(
                    self.span(k),
                    format!(
                        "unknown field `{name}` in `{kind}`; expected one of {}",
                        allowed.join(", ")
                    ),
                );
                if let Some(s) = suggest(name, allowed.iter().copied()) {
                    d = d.with_note(format!("help: did you mean `{s}`?"));
                }
                self.diags.push(d);
                ok = false;
                continue;
            }
            fields.entries.push((name, k, val));
        }
        for r in required {
            if fields.get(r).is_none() {
                self.error(key, format!("`{kind}` needs `{r}`"));
                ok = false;
            }
        }
        ok.then_some(fields)
    }

    fn opt_text(&mut self, f: &Fields, name: &str, ok: &mut bool) -> Option<Text> {
        let v = f.get(name)?;
        let t = self.text(v, name);
        *ok &= t.is_some();
        t
    }

    fn req_text(&mut self, f: &Fields, name: &str, ok: &mut bool) -> Text {
        self.opt_text(f, name, ok).unwrap_or_else(|| {
            *ok = false;
            Text {
                value: String::new(),
                span: Span::default(),
                raw: String::new(),
            }
        })
    }

    /// An optional user, group or service name.
    fn account(&mut self, f: &Fields, name: &str, ok: &mut bool) -> Option<Text> {
        let t = self.opt_text(f, name, ok)?;
        if let Err(e) = validate::literal(&t.value, validate::account_name) {
            self.diags.push(Diagnostic::error(t.span, e));
            *ok = false;
        }
        Some(t)
    }

    fn req_account(&mut self, f: &Fields, name: &str, ok: &mut bool) -> Text {
        let t = self.req_text(f, name, ok);
        if *ok && let Err(e) = validate::literal(&t.value, validate::account_name) {
            self.diags.push(Diagnostic::error(t.span, e));
            *ok = false;
        }
        t
    }

    fn req_path(&mut self, f: &Fields, name: &str, ok: &mut bool) -> Text {
        match f.get(name).and_then(|v| self.path(v, name)) {
            Some(t) => t,
            None => {
                *ok = false;
                Text {
                    value: String::new(),
                    span: Span::default(),
                    raw: String::new(),
                }
            }
        }
    }

    fn action(
        &mut self,
        step: StepKind,
        key: &Node,
        v: &Node,
        interpreter: Option<&Node>,
    ) -> Option<Action> {
        let mut ok = true;
        let kind = step.as_str();
        let action = match step {
            StepKind::Shell => Action::Shell {
                command: self.text(v, "shell")?,
            },
            StepKind::Script => {
                let body = self.text(v, "script");
                let interpreter = match interpreter {
                    Some(i) => {
                        let t = self.text(i, "interpreter");
                        ok &= t.is_some();
                        t
                    }
                    None => None,
                };
                Action::Script {
                    body: body?,
                    interpreter,
                }
            }
            StepKind::File => {
                let f = self.fields(
                    kind,
                    key,
                    v,
                    &["path", "content", "template", "mode", "owner", "group"],
                    &["path"],
                )?;
                let path = self.req_path(&f, "path", &mut ok);
                let content = match (f.get("content"), f.get("template")) {
                    (Some(c), None) => self.text(c, "content").map(FileContent::Inline),
                    (None, Some(t)) => {
                        self.reference(t, "template")
                            .map(|reference| FileContent::Template {
                                reference,
                                loaded: None,
                            })
                    }
                    (Some(_), Some(t)) => {
                        self.error(t, "`file` takes `content` or `template`, not both");
                        None
                    }
                    (None, None) => {
                        self.error(
                            key,
                            "`file` needs `content` (the text) or `template` (a template file)",
                        );
                        None
                    }
                };
                let mode = self.opt_text(&f, "mode", &mut ok);
                if let Some(m) = &mode
                    && let Err(e) = validate::literal(&m.value, validate::mode)
                {
                    self.diags.push(Diagnostic::error(m.span, e));
                    ok = false;
                }
                let owner = self.account(&f, "owner", &mut ok);
                let group = self.account(&f, "group", &mut ok);
                Action::File {
                    path,
                    content: content?,
                    mode,
                    owner,
                    group,
                }
            }
            StepKind::Line => {
                let f =
                    self.fields(kind, key, v, &["path", "line", "regexp"], &["path", "line"])?;
                let path = self.req_path(&f, "path", &mut ok);
                let line = self.req_text(&f, "line", &mut ok);
                if line.value.contains('\n') {
                    self.diags.push(Diagnostic::error(
                        line.span,
                        "`line` is one line; this value holds a line break",
                    ));
                    ok = false;
                }
                let regexp = self.opt_text(&f, "regexp", &mut ok);
                Action::Line { path, line, regexp }
            }
            StepKind::Package => {
                let names = self.texts(v, "package")?;
                if names.is_empty() {
                    self.error(v, "`package` needs at least one package name");
                    return None;
                }
                for n in &names {
                    if let Err(e) = validate::literal(&n.value, validate::package_names) {
                        self.diags.push(Diagnostic::error(n.span, e));
                        ok = false;
                    }
                }
                Action::Package { names }
            }
            StepKind::Service => {
                let f = self.fields(kind, key, v, &["name", "state", "enabled"], &["name"])?;
                let name = self.req_account(&f, "name", &mut ok);
                let state = match f.get("state") {
                    None => None,
                    Some(s) => match s.as_str().and_then(ServiceState::parse) {
                        Some(st) => Some((st, self.span(s))),
                        None => {
                            let found = self.raw(s).to_string();
                            self.error(
                                s,
                                format!(
                                    "`state` is one of {}; found `{found}`",
                                    ServiceState::NAMES.join(", ")
                                ),
                            );
                            ok = false;
                            None
                        }
                    },
                };
                let enabled = match f.get("enabled") {
                    None => None,
                    Some(e) => match e.value {
                        Value::Bool(b) => Some((b, self.span(e))),
                        _ => {
                            self.error(
                                e,
                                format!("`enabled` is true or false; this is {}", e.kind()),
                            );
                            ok = false;
                            None
                        }
                    },
                };
                if ok && state.is_none() && enabled.is_none() {
                    self.error(key, "`service` needs `state` or `enabled` (or both)");
                    ok = false;
                }
                Action::Service {
                    name,
                    state,
                    enabled,
                }
            }
            StepKind::Daemon => {
                let f = self.fields(
                    kind,
                    key,
                    v,
                    &["name", "command", "user", "env"],
                    &["name", "command"],
                )?;
                let name = self.req_text(&f, "name", &mut ok);
                if ok && let Err(e) = validate::literal(&name.value, validate::daemon_name) {
                    self.diags.push(Diagnostic::error(name.span, e));
                    ok = false;
                }
                let command = self.req_text(&f, "command", &mut ok);
                let user = self.account(&f, "user", &mut ok);
                let mut env = Vec::new();
                if let Some(e) = f.get("env") {
                    match e.as_map() {
                        Some(entries) => {
                            for (k, val) in entries {
                                let var = k.as_str().unwrap_or_default().to_string();
                                if let Err(msg) = validate::env_name(&var) {
                                    self.error(k, msg);
                                    ok = false;
                                    continue;
                                }
                                match self.text(val, &var) {
                                    Some(t) => env.push((var, t)),
                                    None => ok = false,
                                }
                            }
                        }
                        None => {
                            self.error(
                                e,
                                format!(
                                    "`env` takes a map of variable names to values; this is {}",
                                    e.kind()
                                ),
                            );
                            ok = false;
                        }
                    }
                }
                Action::Daemon {
                    name,
                    command,
                    user,
                    env,
                }
            }
            StepKind::User => {
                let f = self.fields(
                    kind,
                    key,
                    v,
                    &["name", "shell", "home", "groups", "authorized_keys"],
                    &["name"],
                )?;
                let name = self.req_account(&f, "name", &mut ok);
                let shell = self.opt_text(&f, "shell", &mut ok);
                let home = match f.get("home") {
                    Some(h) => {
                        let t = self.path(h, "home");
                        ok &= t.is_some();
                        t
                    }
                    None => None,
                };
                let mut list = |p: &mut Self, field: &str| match f.get(field) {
                    None => Vec::new(),
                    Some(n) => p.texts(n, field).unwrap_or_else(|| {
                        ok = false;
                        Vec::new()
                    }),
                };
                let groups = list(self, "groups");
                let authorized_keys = list(self, "authorized_keys");
                Action::User {
                    name,
                    shell,
                    home,
                    groups,
                    authorized_keys,
                }
            }
            StepKind::Include => Action::Include(self.reference(v, "include")?),
        };
        ok.then_some(action)
    }

    /// `NAME` or `{git: URL, rev: REV, path: PATH}`, never templated.
    fn reference(&mut self, v: &Node, what: &str) -> Option<IncludeRef> {
        let span = self.span(v);
        let r = match &v.value {
            Value::Str(s) => {
                if s.trim().is_empty() {
                    self.error(v, format!("`{what}` needs a recipe name"));
                    return None;
                }
                IncludeRef::Name {
                    name: s.clone(),
                    span,
                }
            }
            Value::Map(_) => {
                let f = self.fields(what, v, v, &["git", "rev", "path"], &["git"])?;
                let mut ok = true;
                let url = self.req_text(&f, "git", &mut ok);
                let rev = self.opt_text(&f, "rev", &mut ok);
                let path = self.opt_text(&f, "path", &mut ok);
                if !ok {
                    return None;
                }
                IncludeRef::Git {
                    url: url.value,
                    rev: rev.map(|t| t.value),
                    path: path.map(|t| t.value),
                    span,
                }
            }
            _ => {
                self.error(
                    v,
                    format!(
                        "`{what}` takes a recipe name or a map of git, rev, path; this is {}",
                        v.kind()
                    ),
                );
                return None;
            }
        };
        if self.raw(v).contains("{{") {
            self.error(
                v,
                format!("`{what}` references are not templated; write the name as it is"),
            );
            return None;
        }
        Some(r)
    }
}

/// The closest candidate to a misspelt word (`shel` → `shell`).
fn suggest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() < 3 {
        return None;
    }
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2 && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Recipe {
        match parse(FileId(0), 0, text) {
            Ok(r) => r,
            Err(d) => panic!("{d:#?}"),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        parse(FileId(0), 0, text)
            .unwrap_err()
            .into_iter()
            .map(|d| d.message)
            .collect()
    }

    #[test]
    fn every_kind_parses() {
        let r = ok("
- name: update
  shell: apt-get update
  creates: /var/lib/apt/periodic
- script: |
    echo a
    echo b
  interpreter: /bin/bash
- file: {path: /etc/motd, content: hi, mode: 0644, owner: root, group: root}
- line: {path: /etc/hosts, line: 10.0.0.1 a, regexp: '^10\\.0\\.0\\.1 '}
- package: [curl, vim]
- package: htop
- service: {name: ssh, state: started, enabled: yes}
- daemon: {name: web, command: python3 -m http.server, user: nobody, env: {PORT: 8080}}
- user: {name: nubo, shell: /bin/bash, groups: [sudo], authorized_keys: ssh-ed25519 AAAA}
- include: hosts
- include: {git: https://example.org/r.git, rev: v1, path: x.yaml}
- file: {path: /etc/x, template: x.hbs}
  when: true
");
        let kinds: Vec<_> = r.steps.iter().map(|s| s.action.kind().as_str()).collect();
        assert_eq!(
            kinds,
            [
                "shell", "script", "file", "line", "package", "package", "service", "daemon",
                "user", "include", "include", "file"
            ]
        );
        let Action::File { mode, .. } = &r.steps[2].action else {
            panic!()
        };
        assert_eq!(mode.as_ref().unwrap().value, "0644");
    }

    #[test]
    fn spans_are_moved_by_base() {
        let text = "- shell: ls\n";
        let r = parse(FileId(3), 100, text).unwrap();
        let Action::Shell { command } = &r.steps[0].action else {
            panic!()
        };
        assert_eq!((command.span.file, command.span.start), (FileId(3), 109));
        assert_eq!(command.raw, "ls");
        let e = parse(FileId(3), 100, "- shel: ls\n").unwrap_err();
        assert_eq!(e[0].span.start, 102);
        assert_eq!(e[0].notes, ["help: did you mean `shell`?"]);
    }

    #[test]
    fn structural_mistakes() {
        assert_eq!(
            errors("- shell: ls\n  file: {path: /x, content: y}\n"),
            ["a step has exactly one action; `shell` and `file` are both given"]
        );
        assert_eq!(
            errors("- frobnicate: 1\n"),
            [
                "unknown step kind `frobnicate`; expected one of shell, script, file, line, package, service, daemon, user, include"
            ]
        );
        assert_eq!(errors("- file: {content: y}\n"), ["`file` needs `path`"]);
        assert_eq!(
            errors("- shell: yes\n"),
            ["`shell` takes a string; `yes` is read as a boolean"]
        );
        assert_eq!(
            errors("shell: ls\n"),
            ["a recipe is a YAML list of steps (`- shell: CMD`); this is a map"]
        );
        assert_eq!(
            errors("- name: x\n"),
            [
                "this step has no action; expected one of shell, script, file, line, package, service, daemon, user, include"
            ]
        );
        assert_eq!(
            errors("- shell: a\n  shell: b\n"),
            ["`shell` is given twice in this map"]
        );
        assert_eq!(
            errors("- file: {path: etc/x, content: y}\n"),
            ["`path`: a path must be absolute (start with `/`); found `etc/x`"]
        );
        assert_eq!(
            errors("- service: {name: x, state: reloaded}\n"),
            ["`state` is one of started, stopped, restarted; found `reloaded`"]
        );
    }

    #[test]
    fn ansible_bodies_get_one_error() {
        let e = parse(FileId(0), 0, "- hosts: all\n  shel: x\n").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].message, ansible::MESSAGE);
        assert_eq!(e[0].notes, ["note: `hosts` is an Ansible play keyword"]);
    }

    /// Pieces of recipes, valid and not, glued at random.
    const PIECES: &[&str] = &[
        "- ",
        "  ",
        "    ",
        "\n",
        ": ",
        "shell",
        "file",
        "line",
        "package",
        "service",
        "daemon",
        "user",
        "include",
        "script",
        "name",
        "creates",
        "unless",
        "when",
        "interpreter",
        "path",
        "content",
        "template",
        "mode",
        "regexp",
        "state",
        "enabled",
        "env",
        "groups",
        "authorized_keys",
        "command",
        "git",
        "rev",
        "/etc/x",
        "echo hi",
        "0644",
        "yes",
        "started",
        "{",
        "}",
        "[",
        "]",
        ",",
        "'",
        "\"",
        "{{",
        "}}",
        "{{vars.port}}",
        "{{#each nodes}}",
        "{{/each}}",
        "{{ip}}",
        "|",
        ">",
        "#",
        "&a",
        "*a",
        "---",
        "hosts",
        "tasks",
        "apt",
        "ansible.builtin.copy",
        "$ANSIBLE_VAULT",
        "é",
        "\t",
        "~",
        "null",
        "-1",
        "\\",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the text, parsing and rendering return; every span lies
        /// inside the text.
        #[test]
        fn never_panics(pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..40)) {
            let text: String = pieces.concat();
            let base = 7;
            let check = |d: &Diagnostic| {
                assert!(d.span.start as usize >= base && d.span.end as usize <= base + text.len(),
                    "{d:?} outside {text:?}");
            };
            let _ = ansible::detect_ansible(&text);
            match parse(FileId(0), base, &text) {
                Err(diags) => diags.iter().for_each(check),
                Ok(recipe) => {
                    let ctx = serde_json::json!({"vars": {"port": 1}, "nodes": [{"ip": "a"}]});
                    if let Err(diags) = super::super::render(&recipe, &ctx) {
                        diags.iter().for_each(check);
                    }
                }
            }
        }
    }

    #[test]
    fn empty_body_is_an_empty_recipe() {
        assert!(ok("").steps.is_empty());
        assert!(ok("\n  # nothing\n").steps.is_empty());
    }
}
