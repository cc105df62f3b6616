//! From a recipe and a context to one POSIX `sh` script, piped by the
//! caller to `sh -s` on the node.
//!
//! Every rendered value enters the script single-quoted, so no value can
//! change the script's structure. The script defines everything first and
//! calls `nubo_main` on its last line: a script cut short in transit does
//! nothing. Each step runs in a subshell under `set -e` with standard input
//! from `/dev/null` (it must not eat the script, which arrives on standard
//! input); the helpers it calls live in `prelude.sh`.

use super::step::{Action, FileContent, Recipe, Step, Text, When};
use super::template;
use super::validate;
use crate::diagnostic::Diagnostic;
use serde_json::Value as Json;
use std::fmt::Write as _;

/// A rendered recipe: the script, and each step's label (`steps[n - 1]`
/// is step `n`'s, as its `::nubo-step` marker shows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    pub text: String,
    pub steps: Vec<String>,
}

const PRELUDE: &str = include_str!("prelude.sh");

/// Shells that get `-e` when named as a step's interpreter without options.
const SHELLS: [&str; 6] = ["sh", "bash", "dash", "ash", "ksh", "zsh"];

/// Renders every value of `recipe` with `ctx` and writes the script. Every
/// problem is reported, each at the value it comes from. A step whose
/// `when` is false is not rendered further (its values may use what the
/// condition tested for).
pub fn render(recipe: &Recipe, ctx: &Json) -> Result<Script, Vec<Diagnostic>> {
    if let Some(body) = &recipe.ansible {
        return Ok(Script {
            text: super::playbook::identity(body, ctx),
            steps: Vec::new(),
        });
    }
    let mut diags = Vec::new();
    let mut functions = String::new();
    let mut calls = String::new();
    let mut labels = Vec::new();
    for (i, step) in recipe.steps.iter().enumerate() {
        let n = i + 1;
        let mut r = StepRenderer {
            ctx,
            what: format!(
                "in step {n}: {}",
                step.name
                    .as_ref()
                    .filter(|t| !template::is_templated(&t.value))
                    .map_or(step.action.kind().as_str(), |t| t.value.as_str())
            ),
            diags: &mut diags,
        };
        let run = match &step.when {
            None => true,
            Some(When::Constant(b, _)) => *b,
            Some(When::Template(t)) => r.condition(t),
        };
        let name = step.name.as_ref().map(|t| r.text(t));
        if !run {
            let label = label(name.unwrap_or_else(|| step.action.kind().to_string()));
            let _ = writeln!(calls, "\tnubo_skipped {n} {}", quote(&label));
            labels.push(label);
            continue;
        }
        let (body, summary) = r.step(step);
        let label = label(name.unwrap_or(summary));
        let _ = write!(functions, "\nnubo_step_{n}() {{\n{body}}}\n");
        let _ = writeln!(calls, "\tnubo_run {n} {} nubo_step_{n}", quote(&label));
        labels.push(label);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut text = String::new();
    let _ = write!(
        text,
        "#!/bin/sh\n\
         # A nubo recipe script ({} steps): run it with `sh -s`. Before each step\n\
         # it prints `::nubo-step N LABEL`, after it `::nubo-result N changed`\n\
         # (or ok, skipped; or `failed STATUS`, and the script stops there).\n\n",
        labels.len()
    );
    text.push_str(PRELUDE);
    text.push_str(&functions);
    let _ = write!(
        text,
        "\nnubo_main() {{\n\
         \tumask 022\n\
         \tnubo_tmp=$(mktemp -d 2>/dev/null) || nubo_tmp=\n\
         \tif [ -z \"$nubo_tmp\" ]; then\n\
         \t\tnubo_tmp=${{TMPDIR:-/tmp}}/nubo.$$\n\
         \t\tmkdir -m 700 \"$nubo_tmp\" || exit 1\n\
         \tfi\n\
         \ttrap 'rm -rf \"$nubo_tmp\"' EXIT\n\
         \ttrap 'exit 129' HUP\n\
         \ttrap 'exit 130' INT\n\
         \ttrap 'exit 143' TERM\n\
         {calls}}}\n\
         \nnubo_main\n"
    );
    Ok(Script {
        text,
        steps: labels,
    })
}

/// A value quoted for `sh`: `'...'`, with `'` written as `'\''`.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// One line, printable, at most 100 characters.
fn label(s: String) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let words: Vec<&str> = one.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() > 100 {
        let cut: String = joined.chars().take(99).collect();
        format!("{cut}…")
    } else if joined.is_empty() {
        "step".into()
    } else {
        joined
    }
}

struct StepRenderer<'a> {
    ctx: &'a Json,
    what: String,
    diags: &'a mut Vec<Diagnostic>,
}

impl StepRenderer<'_> {
    /// The rendered value (empty, with a diagnostic, on failure).
    fn text(&mut self, t: &Text) -> String {
        match template::render(t, &t.value, self.ctx, &self.what) {
            Ok(s) if s.contains('\0') => {
                self.diags.push(Diagnostic::error(
                    t.span,
                    format!(
                        "this value holds a NUL byte, which sh cannot carry ({})",
                        self.what
                    ),
                ));
                String::new()
            }
            Ok(s) => s,
            Err(d) => {
                self.diags.push(d);
                String::new()
            }
        }
    }

    /// A rendered value that must pass `check`.
    fn checked(&mut self, t: &Text, check: fn(&str) -> Result<(), String>) -> String {
        let s = self.text(t);
        if template::is_templated(&t.value)
            && let Err(e) = check(&s)
        {
            self.diags.push(Diagnostic::error(
                t.span,
                format!("{e} (rendered from this value, {})", self.what),
            ));
        }
        s
    }

    fn opt(&mut self, t: Option<&Text>) -> String {
        t.map(|t| self.text(t)).unwrap_or_default()
    }

    /// A `when` condition: `true` runs the step, `false` or nothing skips it.
    fn condition(&mut self, t: &Text) -> bool {
        let s = self.text(t);
        match s.trim() {
            "true" => true,
            "" | "false" => false,
            other => {
                self.diags.push(Diagnostic::error(
                    t.span,
                    format!(
                        "`when` gave `{other}`; it must give true, false or nothing ({})",
                        self.what
                    ),
                ));
                false
            }
        }
    }

    /// The step function's body and the step's default label.
    fn step(&mut self, step: &Step) -> (String, String) {
        let mut body = String::new();
        if let Some(c) = &step.creates {
            let p = self.checked(c, validate::path);
            let _ = writeln!(
                body,
                "\tif [ -e {} ]; then nubo_skip; return 0; fi",
                quote(&p)
            );
        }
        if let Some(u) = &step.unless {
            let cmd = self.text(u);
            let _ = writeln!(
                body,
                "\tif sh -ec {} </dev/null >/dev/null 2>&1; then nubo_skip; return 0; fi",
                quote(&cmd)
            );
        }
        let summary = match &step.action {
            Action::Shell { command } => {
                let cmd = self.text(command);
                let _ = writeln!(body, "\tsh -ec {}", quote(&cmd));
                format!("shell: {}", cmd.lines().next().unwrap_or(""))
            }
            Action::Script {
                body: b,
                interpreter,
            } => {
                let text = self.text(b);
                let interp = match interpreter {
                    Some(i) => self.text(i),
                    None => text
                        .strip_prefix("#!")
                        .and_then(|rest| rest.lines().next())
                        .unwrap_or("/bin/sh")
                        .to_string(),
                };
                let mut words: Vec<String> =
                    interp.split_whitespace().map(str::to_string).collect();
                if words.is_empty() {
                    words.push("/bin/sh".into());
                }
                let base = words[0].rsplit('/').next().unwrap_or("").to_string();
                if words.len() == 1 && SHELLS.contains(&base.as_str()) {
                    words.push("-e".into());
                }
                let _ = writeln!(body, "\tprintf '%s' {} >\"$nubo_tmp/script\"", quote(&text));
                let argv: Vec<String> = words.iter().map(|w| quote(w)).collect();
                let _ = writeln!(body, "\t{} \"$nubo_tmp/script\"", argv.join(" "));
                format!("script ({})", words.join(" "))
            }
            Action::File {
                path,
                content,
                mode,
                owner,
                group,
            } => {
                let p = self.checked(path, validate::path);
                let content = match content {
                    FileContent::Inline(t) => self.text(t),
                    FileContent::Template {
                        loaded: Some(t), ..
                    } => self.text(t),
                    FileContent::Template {
                        reference,
                        loaded: None,
                    } => {
                        self.diags.push(Diagnostic::error(
                            reference.span(),
                            format!(
                                "template `{reference}` was not loaded: expand_includes loads templates before render ({})",
                                self.what
                            ),
                        ));
                        String::new()
                    }
                };
                let mode = match mode {
                    Some(m) => {
                        let s = self.checked(m, validate::mode);
                        validate::normal_mode(&s).unwrap_or_default()
                    }
                    None => String::new(),
                };
                let owner = match owner {
                    Some(o) => self.checked(o, validate::account_name),
                    None => String::new(),
                };
                let group = match group {
                    Some(g) => self.checked(g, validate::account_name),
                    None => String::new(),
                };
                let _ = writeln!(body, "\tprintf '%s' {} >\"$nubo_tmp/new\"", quote(&content));
                let _ = writeln!(
                    body,
                    "\tnubo_file {} {} {} {}",
                    quote(&p),
                    quote(&mode),
                    quote(&owner),
                    quote(&group)
                );
                format!("file {p}")
            }
            Action::Line { path, line, regexp } => {
                let p = self.checked(path, validate::path);
                let l = self.checked(line, validate::one_line);
                let re = self.opt(regexp.as_ref());
                let _ = writeln!(
                    body,
                    "\texport NUBO_LINE={} NUBO_RE={}",
                    quote(&l),
                    quote(&re)
                );
                let _ = writeln!(body, "\tnubo_line {}", quote(&p));
                format!("line in {p}")
            }
            Action::Package { names } => {
                let mut all = Vec::new();
                for n in names {
                    let s = self.checked(n, validate::package_names);
                    all.extend(s.split_whitespace().map(str::to_string));
                }
                let argv: Vec<String> = all.iter().map(|w| quote(w)).collect();
                let _ = writeln!(body, "\tnubo_package {}", argv.join(" "));
                format!("package {}", all.join(" "))
            }
            Action::Service {
                name,
                state,
                enabled,
            } => {
                let n = self.checked(name, validate::account_name);
                let st = state.map_or("", |(s, _)| s.as_str());
                let en = enabled.map_or("", |(e, _)| if e { "yes" } else { "no" });
                let _ = writeln!(
                    body,
                    "\tnubo_service {} {} {}",
                    quote(&n),
                    quote(st),
                    quote(en)
                );
                let mut summary = format!("service {n}");
                if !st.is_empty() {
                    summary.push(' ');
                    summary.push_str(st);
                }
                if !en.is_empty() {
                    summary.push_str(if en == "yes" { " enabled" } else { " disabled" });
                }
                summary
            }
            Action::Daemon {
                name,
                command,
                user,
                env,
            } => {
                let n = self.checked(name, validate::daemon_name);
                let cmd = self.text(command);
                let u = match user {
                    Some(u) => self.checked(u, validate::account_name),
                    None => String::new(),
                };
                let mut full = String::new();
                for (var, value) in env {
                    let v = self.text(value);
                    let _ = writeln!(full, "export {var}={}", quote(&v));
                }
                full.push_str(&cmd);
                let _ = writeln!(body, "\texport NUBO_CMD={}", quote(&full));
                let _ = writeln!(body, "\tnubo_daemon {} {}", quote(&n), quote(&u));
                format!("daemon {n}")
            }
            Action::User {
                name,
                shell,
                home,
                groups,
                authorized_keys,
            } => {
                let n = self.checked(name, validate::account_name);
                let sh = self.opt(shell.as_ref());
                let home = match home {
                    Some(h) => self.checked(h, validate::path),
                    None => String::new(),
                };
                let mut gs = Vec::new();
                for g in groups {
                    let s = self.text(g);
                    for one in s.split([',', ' ']).filter(|x| !x.is_empty()) {
                        if let Err(e) = validate::account_name(one) {
                            self.diags
                                .push(Diagnostic::error(g.span, format!("{e} ({})", self.what)));
                        }
                        gs.push(one.to_string());
                    }
                }
                let mut keys = Vec::new();
                for k in authorized_keys {
                    let s = self.text(k);
                    for one in s.lines().map(str::trim).filter(|x| !x.is_empty()) {
                        keys.push(quote(one));
                    }
                }
                if keys.is_empty() {
                    let _ = writeln!(body, "\t: >\"$nubo_tmp/keys\"");
                } else {
                    let _ = writeln!(
                        body,
                        "\tprintf '%s\\n' {} >\"$nubo_tmp/keys\"",
                        keys.join(" ")
                    );
                }
                let _ = writeln!(
                    body,
                    "\tnubo_user {} {} {} {}",
                    quote(&n),
                    quote(&sh),
                    quote(&home),
                    quote(&gs.join(","))
                );
                format!("user {n}")
            }
            Action::Include(r) => {
                self.diags.push(Diagnostic::error(
                    r.span(),
                    format!(
                        "include `{r}` was not expanded: call expand_includes before render ({})",
                        self.what
                    ),
                ));
                String::new()
            }
        };
        (body, summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::parse;
    use crate::source::FileId;
    use serde_json::json;

    fn script(text: &str, ctx: &Json) -> Result<Script, Vec<String>> {
        let r = parse(FileId(0), 0, text).unwrap();
        render(&r, ctx).map_err(|d| d.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn quoting_survives_any_value() {
        assert_eq!(quote("it's"), "'it'\\''s'");
        for v in ["$(false); `x` 'y' \"z\" \\n", "", "a\nb", "'", "*"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s' {}", quote(v)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), v);
        }
    }

    #[test]
    fn labels_and_when() {
        let s = script(
            "- shell: apt-get update\n- name: 'motd for {{node.name}}'\n  file: {path: /etc/motd, content: x}\n- shell: ls\n  when: \"{{#if vars.off}}true{{/if}}\"\n- package: [a, 'b c']\n",
            &json!({"node": {"name": "wn-1"}, "vars": {}}),
        )
        .unwrap();
        assert_eq!(
            s.steps,
            [
                "shell: apt-get update",
                "motd for wn-1",
                "shell",
                "package a b c"
            ]
        );
        assert!(s.text.contains("\tnubo_skipped 3 'shell'\n"));
        assert!(s.text.ends_with("\nnubo_main\n"));
    }

    #[test]
    fn render_errors_are_collected_with_the_step() {
        let e = script(
            "- shell: echo {{vars.a}}\n- file: {path: '{{vars.p}}', content: x}\n",
            &json!({"vars": {"p": "relative"}}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            [
                "`vars.a` is not defined (in step 1: shell)",
                "a path must be absolute (start with `/`); found `relative` (rendered from this value, in step 2: file)"
            ]
        );
        let e = script(
            "- shell: ls\n  when: vars.mode\n",
            &json!({"vars": {"mode": "fast"}}),
        )
        .unwrap_err();
        assert_eq!(
            e,
            ["`when` gave `fast`; it must give true, false or nothing (in step 1: shell)"]
        );
    }

    #[test]
    fn interpreters() {
        let s = script(
            "- script: \"#!/usr/bin/env python3\\nprint(1)\\n\"\n- script: echo\n  interpreter: /bin/bash\n- script: echo\n",
            &json!({}),
        )
        .unwrap();
        assert!(
            s.text
                .contains("\t'/usr/bin/env' 'python3' \"$nubo_tmp/script\"\n")
        );
        assert!(s.text.contains("\t'/bin/bash' '-e' \"$nubo_tmp/script\"\n"));
        assert!(s.text.contains("\t'/bin/sh' '-e' \"$nubo_tmp/script\"\n"));
    }
}
