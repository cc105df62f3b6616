//! What a description sent over the API may not ask of the server: it is
//! composed on the server's machine, so a template included by path (EC3's
//! `include NAME (template = '/etc/passwd')`), a recipe included by path
//! (`- include: ../x`) or from git would make the server read its own
//! files or fetch from the network on a client's behalf. Those are
//! refused (400); included by name they come from the server's own
//! template and recipe directories and the built-in ones, as for the CLI.
//!
//! The recipe check is textual and errs on the side of refusing: any
//! `include:` whose value is not a plain name, and any `git:` key, inside
//! the body.

use super::error::ServeError;
use crate::source::FileId;

fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn check(body: &str) -> Result<(), ServeError> {
    let v = crate::radl::validate(FileId(0), body);
    for inc in &v.document.includes {
        if let Some(list) = inc.features.get_str("template") {
            for name in list.split_whitespace() {
                if !plain_name(name) {
                    return Err(ServeError::BadRequest(format!(
                        "template `{name}`: over the API templates are included by name only (from the server's template directories), not by path"
                    )));
                }
            }
        }
    }
    for (i, line) in body.lines().enumerate() {
        let t = line.trim_start().trim_start_matches("- ").trim();
        let refuse = |what: &str| {
            Err(ServeError::BadRequest(format!(
                "body:{}: {what} is not accepted over the API (recipes are included by name only, from the server's recipe directories)",
                i + 1
            )))
        };
        if let Some(value) = t.strip_prefix("include:") {
            let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
            if !plain_name(value) {
                return refuse("an include that is not a plain recipe name");
            }
        }
        if t.starts_with("git:") || t.contains("{git:") || t.contains("{ git:") {
            return refuse("a recipe from git");
        }
    }
    Ok(())
}

/// A TOSCA body: no import read from the server's own files
/// (`file://`). An absolute or relative import is not looked for beside a
/// text, nor an implementation by path (`ops::tosca_artifacts`), and URL
/// imports come only from the server's import cache: nothing is read from
/// the server's files or downloaded for a client.
pub fn check_tosca(body: &str) -> Result<(), ServeError> {
    for (i, line) in body.lines().enumerate() {
        if line.contains("file://") {
            return Err(ServeError::BadRequest(format!(
                "body:{}: a `file://` reference is not accepted over the API (the server would read its own files)",
                i + 1
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_git_are_refused_names_are_not() {
        assert!(check("include x (template = 'slurm nfs')\n").is_ok());
        assert!(check("configure c (\n@begin\n- include: hosts\n@end\n)\n").is_ok());
        let e = check("include x (template = '/etc/passwd')\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("by name only"), "{e}");
        assert!(check("include x (template = '../secret')\n").is_err());
        let e = check("configure c (\n@begin\n- include: ../../etc/x\n@end\n)\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("body:3:"), "{e}");
        assert!(
            check("configure c (\n@begin\n- include: {git: https://x/y, path: a}\n@end\n)\n")
                .is_err()
        );
        assert!(
            check("configure c (\n@begin\n- include:\n    git: https://x/y\n@end\n)\n").is_err()
        );
    }

    #[test]
    fn tosca_bodies_read_no_server_file() {
        assert!(
            check_tosca("tosca_definitions_version: x\nimports:\n  - https://a/b.yaml\n").is_ok()
        );
        let e = check_tosca("tosca_definitions_version: x\nimports:\n  - file:///etc/x.yaml\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("body:3:"), "{e}");
    }
}
