//! Every EC3 template and IM example of the corpus, whose configures are
//! all Ansible, passes `nubo plan` with an auth file on disk: no "written
//! for Ansible" refusal, and their configure steps are planned. Nothing
//! is fetched (`NUBO_OFFLINE=1`): Galaxy roles are installed at launch,
//! not by plan.
//!
//! EC3's templates are planned as EC3 users compose them, from
//! `./templates`: each with `local` (the built-in local image template),
//! and `slurm` with each of EC3's image templates. `munge` includes EC3's
//! `sudo-copy` template, which is not in the corpus; the test writes an
//! empty component of that name beside the corpus files.

use crate::support::{corpus_dir, corpus_files, nubo_in};
use std::path::Path;
use std::process::Output;

/// Local and one line per cloud kind (nothing is contacted by plan).
const AUTH: &str = "id = local; type = Local\n\
    id = one; type = OpenNebula; host = ramses.i3m.upv.es:2633; username = u; password = p\n\
    id = ost; type = OpenStack; host = https://ost.example.org:5000; username = u; password = p; tenant = t; auth_version = 3.x_password\n\
    id = ec2; type = EC2; username = AKIAEXAMPLE; password = s\n";

/// Two IM examples that IM's own checks refuse too, for reasons that have
/// nothing to do with Ansible (tests/it/cli_validate.rs knows the first).
const INVALID: &[(&str, &str)] = &[
    (
        "examples_glusterfs.radl",
        "`net_interface.0.dns_name` is already set",
    ),
    ("examples_oscar.radl", "deploy names system `test`"),
];

fn plan(dir: &Path, args: &[&str]) -> Output {
    nubo_in(dir)
        .arg("plan")
        .arg("c1")
        .args(args)
        .args(["-a", "auth.dat"])
        .env("NUBO_OFFLINE", "1")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .expect("run nubo")
}

fn setup() -> Option<tempfile::TempDir> {
    let corpus = corpus_dir()?;
    let tmp = tempfile::tempdir().unwrap();
    let auth = tmp.path().join("auth.dat");
    std::fs::write(&auth, AUTH).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    let templates = tmp.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    for f in std::fs::read_dir(corpus.join("radl/ec3")).unwrap() {
        let p = f.unwrap().path();
        std::os::unix::fs::symlink(&p, templates.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        templates.join("sudo-copy.radl"),
        "description sudo-copy (kind = 'component')\n",
    )
    .unwrap();
    Some(tmp)
}

fn check(what: &str, out: &Output) -> String {
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!text.contains("written for Ansible"), "{what}: {text}");
    assert!(out.status.success(), "{what}: {text}");
    text
}

#[test]
fn every_ec3_template_plans() {
    let Some(tmp) = setup() else { return };
    let files = corpus_files("radl/ec3", &["radl"]);
    assert!(files.len() >= 10, "the EC3 corpus is there");
    let mut ansible_steps = 0;
    for f in &files {
        let name = f.file_stem().unwrap().to_str().unwrap();
        let out = if name.starts_with("ubuntu-") {
            plan(tmp.path(), &["slurm", name])
        } else {
            plan(tmp.path(), &[name, "local"])
        };
        let text = check(name, &out);
        ansible_steps += text.matches("+ configure ").count();
    }
    assert!(
        ansible_steps >= 8,
        "the Ansible configures are planned ({ansible_steps} steps)"
    );
}

#[test]
fn every_im_example_plans() {
    let Some(tmp) = setup() else { return };
    let files = corpus_files("radl/im", &["radl"]);
    assert!(files.len() >= 15, "the IM corpus is there");
    let mut planned = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let out = plan(tmp.path(), &[f.to_str().unwrap()]);
        if let Some((_, why)) = INVALID.iter().find(|(n, _)| *n == name) {
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                !out.status.success() && text.contains(why),
                "{name}: {text}"
            );
            assert!(!text.contains("written for Ansible"), "{name}: {text}");
            continue;
        }
        let text = check(name, &out);
        planned += text.matches("+ configure ").count();
    }
    assert!(
        planned >= 20,
        "the Ansible configures are planned ({planned} steps)"
    );
}
