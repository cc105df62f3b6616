//! Every TOSCA file of the corpus either passes `nubo plan` with an auth
//! file on disk, or is refused with a reason naming the node (file:line:
//! column, name and type) and why nubo does not lower it; none is planned
//! with a node silently dropped. Files that are not valid templates on
//! their own (grycap's dashboard fragments naming nodes of other
//! fragments, IM tests using types IM ships) are rejected by `nubo tosca
//! check` as well, and are listed. Nothing is fetched (`NUBO_OFFLINE=1`):
//! the URL imports are the corpus copy of the grycap custom types, placed
//! in the download cache, and each operation implementation (a URL into
//! grycap's artifacts, which the corpus does not hold) is a one-task
//! stand-in in the cache. Plan checks the lowering and the composition,
//! not what the artifacts do.

use crate::support::{corpus_dir, corpus_files, nubo_in};
use std::path::Path;

const AUTH: &str = "id = local; type = Local\n\
    id = one; type = OpenNebula; host = ramses.i3m.upv.es:2633; username = u; password = p\n\
    id = ost; type = OpenStack; host = https://ost.example.org:5000; username = u; password = p; tenant = t; auth_version = 3.x_password\n\
    id = ec2; type = EC2; username = AKIAEXAMPLE; password = s\n";

/// The files refused, and the refusal each must give (after the
/// file:line:column).
const REFUSED: &[(&str, &str)] = &[
    (
        "grycap/faas_function.yaml",
        "node `faas_service` of type `tosca.nodes.aisprint.FaaS.Function`: OSCAR functions are not supported by nubo",
    ),
    (
        "im/examples_faas.yml",
        "node `plants` of type `tosca.nodes.aisprint.FaaS.Function`: OSCAR functions are not supported by nubo",
    ),
    (
        "im/test_files_tosca_oscar.yml",
        "node `plants` of type `tosca.nodes.aisprint.FaaS.Function`: OSCAR functions are not supported by nubo",
    ),
    (
        "im/test_files_tosca_oscar_host.yml",
        "node `plants` of type `tosca.nodes.aisprint.FaaS.Function`: OSCAR functions are not supported by nubo",
    ),
    (
        "im/test_files_tosca_k8s.yml",
        "node `im_container` of type `tosca.nodes.Container.Application.Docker`: container applications are not supported by nubo",
    ),
    (
        "im/test_files_tosca_ansible_host.yaml",
        "node `ansible_host` of type `tosca.nodes.im.AnsibleHost`: an Ansible master host (IM's `ansible` aspect) is not supported",
    ),
];

/// Every URL written in the corpus files, as found.
fn urls(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r#"https?://[^\s'"]+\.ya?ml"#).unwrap();
    re.find_iter(text).map(|m| m.as_str().to_string()).collect()
}

fn cache_path(cache: &Path, url: &str) -> std::path::PathBuf {
    let rest = url.split_once("://").unwrap().1;
    cache.join("nubo/tosca").join(rest)
}

#[test]
fn every_corpus_tosca_file_plans_or_is_refused_with_a_named_reason() {
    let files = corpus_files("tosca", &["yaml", "yml"]);
    if files.is_empty() {
        return;
    }
    let corpus = corpus_dir().unwrap().join("tosca");
    let types = std::fs::read_to_string(corpus.join("grycap/custom_types.yaml")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("auth.dat");
    std::fs::write(&auth, AUTH).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cache = tmp.path().join("cache");
    for f in &files {
        for url in urls(&std::fs::read_to_string(f).unwrap()) {
            let p = cache_path(&cache, &url);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let text = if url.ends_with("/custom_types.yaml") {
                types.clone()
            } else {
                format!("- name: stand-in for {url}\n  debug:\n    msg: stand-in\n")
            };
            std::fs::write(&p, text).unwrap();
        }
    }
    let (mut planned, mut refused, mut invalid, mut wrong) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for f in &files {
        let rel = f.strip_prefix(&corpus).unwrap().display().to_string();
        let out = nubo_in(tmp.path())
            .args(["plan", "c1", f.to_str().unwrap(), "-a", "auth.dat"])
            .env("NUBO_OFFLINE", "1")
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .expect("run nubo");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let expected = REFUSED.iter().find(|(n, _)| *n == rel);
        match (out.status.success(), expected) {
            (true, None) => planned.push(rel),
            (false, Some((_, why))) => {
                let at = format!("{}:", f.display());
                if text.contains(&at) && text.contains(why) {
                    refused.push(rel);
                } else {
                    wrong.push(format!("{rel}: not refused with `{why}`:\n{text}"));
                }
            }
            (true, Some((_, why))) => wrong.push(format!(
                "{rel}: planned, but should be refused with `{why}`"
            )),
            (false, None) => {
                // Not a valid template on its own (a fragment IM's dashboard
                // composes with others, or a test of IM's using types IM
                // ships): `nubo tosca check` rejects the file itself.
                let check = nubo_in(tmp.path())
                    .args(["tosca", "check", f.to_str().unwrap()])
                    .env("NUBO_OFFLINE", "1")
                    .env("XDG_CACHE_HOME", &cache)
                    .output()
                    .expect("run nubo");
                if !check.status.success() && !text.contains("` of type `") {
                    invalid.push(rel);
                } else {
                    wrong.push(format!("{rel}: refused:\n{text}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    eprintln!(
        "{} corpus TOSCA files planned, {} refused with a named reason, {} not valid \
         on their own (`nubo tosca check` rejects them): {}",
        planned.len(),
        refused.len(),
        invalid.len(),
        invalid.join(", ")
    );
    assert_eq!(refused.len(), REFUSED.len());
    assert!(planned.len() >= 18, "only {} planned", planned.len());
}
