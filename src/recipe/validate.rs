//! Rules for values: checked at parse time when a value is written out,
//! and again on the rendered value when it is a template.

use super::template::is_templated;

/// Runs `check` on a value unless it is a template (checked after
/// rendering instead).
pub fn literal(value: &str, check: fn(&str) -> Result<(), String>) -> Result<(), String> {
    if is_templated(value) {
        Ok(())
    } else {
        check(value)
    }
}

/// An absolute path on one line.
pub fn path(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err(format!(
            "a path must be absolute (start with `/`); found `{p}`"
        ));
    }
    if p.contains(['\n', '\0']) {
        return Err("a path is one line".into());
    }
    Ok(())
}

/// An octal mode (`644`, `0644`, `'4755'`), normalised as `stat -c %a`
/// prints it (`644`, `4755`).
pub fn normal_mode(m: &str) -> Result<String, String> {
    let m = m.trim();
    let ok = !m.is_empty() && m.len() <= 5 && m.chars().all(|c| ('0'..='7').contains(&c));
    match u32::from_str_radix(m, 8) {
        Ok(v) if ok && v <= 0o7777 => Ok(format!("{v:o}")),
        _ => Err(format!(
            "`mode` is an octal mode like 0644 or '0644'; found `{m}`"
        )),
    }
}

pub fn mode(m: &str) -> Result<(), String> {
    normal_mode(m).map(|_| ())
}

/// Package names, separated by spaces.
pub fn package_names(s: &str) -> Result<(), String> {
    let mut any = false;
    for name in s.split_whitespace() {
        any = true;
        let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-_:@~".contains(c));
        if !ok {
            return Err(format!(
                "`{name}` is not a package name (letters, digits and . + - _ : @ ~)"
            ));
        }
    }
    if any {
        Ok(())
    } else {
        Err("`package` needs a package name; this one is empty".into())
    }
}

/// A daemon name: it names the pidfile and the log file.
pub fn daemon_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a daemon name is letters, digits, `.`, `_` and `-` (it names /run/nubo/daemons/NAME.pid); found `{s}`"
        ))
    }
}

/// An environment variable name.
pub fn env_name(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a variable name (letters, digits and `_`, not starting with a digit)"
        ))
    }
}

/// A user, group or service name: one word, no `:` or `,`.
pub fn account_name(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && !s.starts_with('-')
        && !s.contains(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == '\0');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a user, group or service name (one word, without `:` or `,`, not starting with `-`)"
        ))
    }
}

/// A single line (an authorized key, a `line` step's line).
pub fn one_line(s: &str) -> Result<(), String> {
    if s.contains(['\n', '\r', '\0']) {
        Err("this value must be one line; it holds a line break".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(normal_mode("0644").unwrap(), "644");
        assert_eq!(normal_mode("644").unwrap(), "644");
        assert_eq!(normal_mode("04755").unwrap(), "4755");
        assert_eq!(normal_mode("0").unwrap(), "0");
        assert!(normal_mode("0o644").is_err());
        assert!(normal_mode("u+x").is_err());
        assert!(normal_mode("17777").is_err());
    }

    #[test]
    fn names() {
        assert!(package_names("curl vim libc6:amd64 g++").is_ok());
        assert!(package_names("curl;rm").is_err());
        assert!(package_names(" ").is_err());
        assert!(daemon_name("web-1.x").is_ok());
        assert!(daemon_name("../x").is_err());
        assert!(env_name("PORT_1").is_ok());
        assert!(env_name("1X").is_err());
        assert!(literal("{{vars.p}}", path).is_ok());
    }
}
