//! Reading `ansible-playbook`'s output (its default callback): which task
//! failed on which host and what Ansible said, and how many tasks changed
//! something.

use serde_json::Value as Json;

/// A failed task, as the output says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnsibleFailure {
    /// The task's name (`TASK [NAME]`), or `None` when Ansible failed
    /// before any task (a syntax error).
    pub task: Option<String>,
    pub host: Option<String>,
    pub message: String,
}

/// The first failure in `output` (of `host`, when given): a `fatal:
/// [HOST]: FAILED! => {...}` (or `UNREACHABLE!`) line under its
/// `TASK [...]` header, else Ansible's own `ERROR` line.
pub fn failure(output: &str, host: Option<&str>) -> Option<AnsibleFailure> {
    let want = host;
    let mut task: Option<String> = None;
    let mut error: Option<String> = None;
    let lines: Vec<&str> = output.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let l = line.trim_start();
        if let Some(rest) = l.strip_prefix("TASK [") {
            task = rest.rfind(']').map(|e| rest[..e].to_string());
            continue;
        }
        if let Some(rest) = l.strip_prefix("fatal: [") {
            let host = rest.find(']').map(|e| rest[..e].to_string());
            if want.is_some() && host.as_deref() != want {
                continue;
            }
            let json_text = match rest.find("=> ") {
                Some(at) => {
                    // The result may go on over the next lines.
                    let mut t = rest[at + 3..].to_string();
                    for more in &lines[i + 1..] {
                        if serde_json::from_str::<Json>(&t).is_ok() {
                            break;
                        }
                        t.push('\n');
                        t.push_str(more);
                    }
                    t
                }
                None => String::new(),
            };
            let message = serde_json::from_str::<Json>(&json_text)
                .ok()
                .map(|v| result_message(&v))
                .unwrap_or_else(|| rest.to_string());
            return Some(AnsibleFailure {
                task,
                host,
                message,
            });
        }
        if error.is_none() && (l.starts_with("ERROR!") || l.starts_with("[ERROR]:")) {
            let msg = l
                .trim_start_matches("ERROR!")
                .trim_start_matches("[ERROR]:")
                .trim();
            error = Some(msg.to_string());
        }
    }
    error.map(|message| AnsibleFailure {
        task: None,
        host: None,
        message,
    })
}

/// What a task's result says went wrong: its `msg`, and for a command its
/// standard error (or output) and return code.
fn result_message(v: &Json) -> String {
    let msg = v["msg"].as_str().unwrap_or("").trim().to_string();
    let stderr = v["stderr"].as_str().unwrap_or("").trim();
    let stdout = v["stdout"].as_str().unwrap_or("").trim();
    let mut out = msg;
    let extra = if !stderr.is_empty() { stderr } else { stdout };
    if !extra.is_empty() {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(extra);
    }
    if let Some(rc) = v["rc"].as_i64() {
        out.push_str(&format!(" (rc {rc})"));
    }
    if out.is_empty() { v.to_string() } else { out }
}

/// Whether `host` came through the run: in the `PLAY RECAP` with no
/// failed or unreachable task.
pub fn host_ok(output: &str, host: &str) -> bool {
    let mut seen = false;
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(host) && words.next() == Some(":") {
            seen = true;
            for w in words {
                for bad in ["failed=", "unreachable="] {
                    if let Some(n) = w.strip_prefix(bad)
                        && n != "0"
                    {
                        return false;
                    }
                }
            }
        }
    }
    seen
}

/// `changed=N` of `host` in the `PLAY RECAP`.
pub fn changed(output: &str, host: &str) -> usize {
    let mut n = 0;
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some(host) && words.next() == Some(":") {
            for w in words {
                if let Some(c) = w.strip_prefix("changed=") {
                    n += c.parse::<usize>().unwrap_or(0);
                }
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = r#"
PLAY [{{IM_HOST}}] *************************************************************

TASK [write the marker] ********************************************************
changed: [front]

TASK [break on purpose] ********************************************************
fatal: [front]: FAILED! => {"changed": true, "cmd": "exit 3", "msg": "non-zero return code", "rc": 3, "stderr": "no luck", "stdout": ""}

PLAY RECAP *********************************************************************
front                      : ok=1    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0
"#;

    #[test]
    fn the_failed_task_its_host_and_message() {
        let f = failure(OUT, None).unwrap();
        assert_eq!(failure(OUT, Some("front")), Some(f.clone()));
        assert_eq!(failure(OUT, Some("wn-1")), None);
        assert!(!host_ok(OUT, "front"));
        assert!(!host_ok(OUT, "wn-1"));
        assert!(host_ok(&OUT.replace("failed=1", "failed=0"), "front"));
        assert_eq!(f.task.as_deref(), Some("break on purpose"));
        assert_eq!(f.host.as_deref(), Some("front"));
        assert_eq!(f.message, "non-zero return code: no luck (rc 3)");
        assert_eq!(changed(OUT, "front"), 1);
        assert_eq!(changed(OUT, "wn-1"), 0);
    }

    #[test]
    fn ansible_errors_before_any_task() {
        let f = failure(
            "[ERROR]: couldn't resolve module/action 'nosuch'\n",
            Some("x"),
        )
        .unwrap();
        assert_eq!(f.task, None);
        assert!(f.message.contains("nosuch"));
        assert_eq!(failure("PLAY RECAP\n", None), None);
    }
}
