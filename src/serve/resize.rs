//! Adding and removing VMs (`POST /infrastructures/ID`, `DELETE
//! .../vms/LIST`) as a change of the recorded description: one more
//! piece composed last whose `deploy` sentences give the new counts (a
//! later `deploy` replaces an earlier one), after which a reconfigure
//! makes the new VMs and destroys those no longer asked for.
//!
//! IM's `deploy wn 2` in an add means two more; here it becomes `deploy
//! wn CURRENT+2`. nubo numbers the VMs of a system in order and a lower
//! count drops the last ones, so a removal must name the highest-numbered
//! VMs of their systems; any other list is refused (409) rather than
//! removing other VMs than the ones named.

use std::collections::BTreeMap;

use super::error::ServeError;
use crate::model::ClusterSpec;
use crate::source::FileId;

/// The body of an add, its deploy counts raised by what `spec` has.
pub fn added_piece(spec: &ClusterSpec, body: &str) -> Result<String, ServeError> {
    let (tree, diags) = crate::radl::parse(FileId(0), body);
    if diags.iter().any(|d| d.is_error()) {
        let mut sources = crate::source::SourceMap::new();
        sources.add("body", body.to_string());
        let rendered: String = diags.iter().map(|d| d.render(&sources)).collect();
        return Err(ServeError::BadRequest(rendered));
    }
    let mut deploys: Vec<(usize, usize, String)> = Vec::new();
    for s in &tree.sentences {
        if let crate::radl::ast::Sentence::Deploy(d) = s {
            let more = match d.count.0 {
                crate::radl::ast::Number::Int(n) if n >= 0 => n as u64,
                _ => {
                    return Err(ServeError::BadRequest(format!(
                        "deploy {}: the count must be a whole number",
                        d.system.text
                    )));
                }
            };
            let now = spec
                .system(&d.system.text)
                .map(|s| u64::from(s.count))
                .unwrap_or(0);
            deploys.push((
                d.count.1.start as usize,
                d.count.1.end as usize,
                (now + more).to_string(),
            ));
        }
    }
    if deploys.is_empty() {
        return Err(ServeError::BadRequest(
            "nothing to add: the RADL has no `deploy SYSTEM N` sentence".into(),
        ));
    }
    let mut out = body.to_string();
    deploys.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (start, end, count) in deploys {
        out.replace_range(start..end, &count);
    }
    Ok(out)
}

/// The piece that removes the VMs numbered `ids` (each the last of its
/// system), and the nodes removed.
pub fn removal_piece(spec: &ClusterSpec, ids: &[u32]) -> Result<String, ServeError> {
    let instances = spec.instances();
    let mut by_system: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for id in ids {
        let inst = instances.iter().find(|i| i.number == *id).ok_or_else(|| {
            ServeError::NotFound(format!(
                "Invalid VM ID {id}: the infrastructure has no such VM"
            ))
        })?;
        by_system.entry(inst.system.as_str()).or_default().push(*id);
    }
    let mut out = String::new();
    for (system, mut gone) in by_system {
        gone.sort_unstable();
        gone.dedup();
        let mine: Vec<u32> = instances
            .iter()
            .filter(|i| i.system == system)
            .map(|i| i.number)
            .collect();
        let last = &mine[mine.len() - gone.len()..];
        if last != gone.as_slice() {
            return Err(ServeError::Conflict(format!(
                "nubo serve removes only the last VMs of a system: of system `{system}` ({}), remove {} instead",
                list(&mine),
                list(last)
            )));
        }
        let sys = spec.system(system).ok_or_else(|| {
            ServeError::Internal(format!("system `{system}` is not in the description"))
        })?;
        let count = mine.len() - gone.len();
        match &sys.cloud {
            Some(c) => out.push_str(&format!("deploy {system} {count} {c}\n")),
            None => out.push_str(&format!("deploy {system} {count}\n")),
        }
    }
    Ok(out)
}

fn list(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> ClusterSpec {
        let v = crate::radl::validate(FileId(0), text);
        crate::model::lower(&v.document).0
    }

    const RADL: &str = "network n ()\nsystem front (net_interface.0.connection = 'n')\nsystem wn (net_interface.0.connection = 'n')\ndeploy front 1\ndeploy wn 2\n";

    #[test]
    fn an_add_raises_the_counts() {
        let s = spec(RADL);
        let p = added_piece(&s, "system wn\ndeploy wn 3\ndeploy other 1\n").unwrap();
        assert_eq!(p, "system wn\ndeploy wn 5\ndeploy other 1\n");
        assert!(added_piece(&s, "system wn\n").is_err());
    }

    #[test]
    fn only_the_last_vms_of_a_system_are_removed() {
        let s = spec(RADL);
        assert_eq!(removal_piece(&s, &[2]).unwrap(), "deploy wn 1\n");
        assert_eq!(removal_piece(&s, &[1, 2]).unwrap(), "deploy wn 0\n");
        let e = removal_piece(&s, &[1]).unwrap_err().to_string();
        assert!(e.contains("remove 2 instead"), "{e}");
        assert!(matches!(
            removal_piece(&s, &[9]),
            Err(ServeError::NotFound(_))
        ));
    }
}
