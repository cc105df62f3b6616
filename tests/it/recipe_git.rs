//! Recipes pinned from git: `include: {git: URL, rev: REV, path: PATH}`
//! against local bare repositories made here, through `file://` and
//! through `git daemon` on 127.0.0.1. Resolving and caching (no root),
//! the errors a launch stops with before it makes anything, and, as root
//! on the local provider, a cluster whose recipe stays on its pinned
//! commit after the branch moves, until `reconfigure --update-recipes`,
//! and is reconfigured from the cache once the repository is gone.

use crate::support::{local, nubo_in, skip_or_fail};
use nubo::ops::git::{GitCache, GitError, GitRecipes};
use nubo::state::GitPin;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn has_git() -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skip_or_fail("no git: apt-get install git");
    }
    ok
}

/// Runs git with a fixed identity and no user or system configuration;
/// returns its standard output.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository `BASE/NAME.git` and a clone to commit from.
struct Repo {
    bare: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new(base: &Path, name: &str) -> Repo {
        let bare = base.join(format!("{name}.git"));
        let work = base.join(format!("{name}-work"));
        git(
            base,
            &["init", "-q", "--bare", "-b", "main", bare.to_str().unwrap()],
        );
        git(base, &["init", "-q", "-b", "main", work.to_str().unwrap()]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Repo { bare, work }
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Writes `files`, commits them on `branch` and pushes; the commit.
    fn commit(&self, branch: &str, files: &[(&str, &str)]) -> String {
        // (A fresh clone has no branch yet: its first commit makes `main`.)
        if !git(&self.work, &["branch", "--list"]).is_empty() {
            if git(&self.work, &["branch", "--list", branch]).is_empty() {
                git(&self.work, &["checkout", "-q", "-b", branch]);
            } else {
                git(&self.work, &["checkout", "-q", branch]);
            }
        }
        for (path, text) in files {
            let p = self.work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", "change"]);
        git(
            &self.work,
            &["push", "-q", "origin", &format!("HEAD:{branch}")],
        );
        git(&self.work, &["rev-parse", "HEAD"])
    }

    fn tag(&self, name: &str) {
        git(&self.work, &["tag", "-a", name, "-m", name]);
        git(&self.work, &["push", "-q", "origin", name]);
    }
}

#[test]
fn resolves_branches_tags_and_commits_and_reads_from_the_cache() {
    if !has_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path(), "recipes");
    let c1 = repo.commit(
        "main",
        &[
            ("web/main.yaml", "- include: common\n"),
            ("web/common.yaml", "- shell: echo one\n"),
            ("single.yaml", "- shell: echo single\n"),
        ],
    );
    repo.tag("v1");
    let dev = repo.commit("dev", &[("single.yaml", "- shell: echo dev\n")]);
    let url = repo.url();
    let cache = GitCache::new(tmp.path().join("cache"));

    assert_eq!(cache.resolve(&url, Some("main")).unwrap(), c1);
    assert_eq!(cache.resolve(&url, None).unwrap(), c1, "default branch");
    assert_eq!(
        cache.resolve(&url, Some("v1")).unwrap(),
        c1,
        "annotated tag"
    );
    assert_eq!(cache.resolve(&url, Some("refs/heads/dev")).unwrap(), dev);
    assert_eq!(
        cache.resolve(&url, Some(&dev[..10])).unwrap(),
        dev,
        "abbreviated commit"
    );

    // Files of a commit, found as a recipe is found.
    let git = GitRecipes::new(cache.clone(), &[], false);
    let (name, text) = git.load_git(&url, Some("main"), Some("single")).unwrap();
    assert_eq!(text, "- shell: echo single\n");
    assert!(
        name.ends_with(&format!("@{}/single.yaml", &c1[..12])),
        "{name}"
    );
    let (name, text) = git.load_git(&url, Some("main"), Some("web")).unwrap();
    assert!(name.ends_with("/web/main.yaml"), "{name}");
    assert_eq!(text, "- include: common\n");
    // A name written in that file is found beside it, at its commit.
    let (beside, text) = git.load_beside(&name, "common").unwrap().unwrap();
    assert!(beside.ends_with("/web/common.yaml"), "{beside}");
    assert_eq!(text, "- shell: echo one\n");
    assert!(git.load_beside(&name, "hosts").is_none(), "not in the repo");
    assert!(git.load_beside("recipes/x.yaml", "common").is_none());
    let (_, text) = git.load_git(&url, Some(&dev), Some("single")).unwrap();
    assert_eq!(text, "- shell: echo dev\n", "a full commit id");
    assert_eq!(
        git.pins(),
        [
            GitPin {
                url: url.clone(),
                rev: Some(dev.clone()),
                commit: dev.clone()
            },
            GitPin {
                url: url.clone(),
                rev: Some("main".into()),
                commit: c1.clone()
            },
        ]
    );

    // The branch moves: the recorded commit is kept, unless updating.
    let c2 = repo.commit("main", &[("single.yaml", "- shell: echo two\n")]);
    let pins = git.pins();
    let pinned = GitRecipes::new(cache.clone(), &pins, false);
    let (_, text) = pinned.load_git(&url, Some("main"), Some("single")).unwrap();
    assert_eq!(text, "- shell: echo single\n");
    let updated = GitRecipes::new(cache.clone(), &pins, true);
    let (_, text) = updated
        .load_git(&url, Some("main"), Some("single"))
        .unwrap();
    assert_eq!(text, "- shell: echo two\n");
    assert_eq!(updated.pins()[0].commit, c2);

    // The repository gone: recorded commits still load, from the cache,
    // without git at all.
    std::fs::remove_dir_all(&repo.bare).unwrap();
    let offline = GitCache {
        program: "/nonexistent/git".into(),
        ..cache.clone()
    };
    let pinned = GitRecipes::new(offline.clone(), &pins, false);
    let (_, text) = pinned.load_git(&url, Some("main"), Some("single")).unwrap();
    assert_eq!(text, "- shell: echo single\n");
    // A branch to resolve needs the repository, and says so.
    let e = GitRecipes::new(cache.clone(), &pins, true)
        .load_git(&url, Some("main"), Some("single"))
        .unwrap_err();
    assert!(
        matches!(e, GitError::Repository { .. })
            && e.to_string()
                .contains("does not appear to be a git repository"),
        "{e}"
    );
    // No half-written checkout is left in the cache.
    let leftovers: Vec<_> = walk(&tmp.path().join("cache"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn the_three_errors_and_a_missing_git() {
    if !has_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = Repo::new(tmp.path(), "recipes");
    let c1 = repo.commit("main", &[("a.yaml", "- shell: a\n")]);
    repo.tag("v1");
    let cache = GitCache::new(tmp.path().join("cache"));
    let url = repo.url();
    let load = |url: &str, rev: Option<&str>, path: Option<&str>| {
        GitRecipes::new(cache.clone(), &[], false)
            .load_git(url, rev, path)
            .unwrap_err()
            .to_string()
    };
    let missing = format!("file://{}/nope.git", tmp.path().display());
    assert_eq!(
        load(&missing, Some("main"), None),
        format!(
            "cannot read the git repository `{missing}`: '{}/nope.git' does not appear to be a git repository",
            tmp.path().display()
        )
    );
    assert_eq!(
        load(&url, Some("v9"), None),
        format!(
            "revision `v9` is not a branch, tag or commit of `{url}` (branches: main; tags: v1)"
        )
    );
    let absent = "0123456789012345678901234567890123456789";
    let e = load(&url, Some(absent), None);
    assert!(
        e.starts_with(&format!(
            "commit {absent} of `{url}` is not in the cache and cannot be fetched"
        )),
        "{e}"
    );
    let cached: Vec<_> = std::fs::read_dir(tmp.path().join("cache"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        cached.is_empty(),
        "a repository nothing was had from leaves no trace: {cached:?}"
    );
    assert_eq!(
        load(&url, Some("main"), Some("b")),
        format!(
            "`b` is not in `{url}` at commit {c1} (looked for b, b.yaml, b.yml, b/main.yaml, b/main.yml)"
        )
    );
    assert_eq!(
        load(&url, Some("main"), Some("../x")),
        "`path: ../x` must be relative and stay inside the repository"
    );
    let no_git = GitCache {
        program: "/nonexistent/git".into(),
        ..cache.clone()
    };
    let e = GitRecipes::new(no_git, &[], false)
        .load_git(&url, Some("main"), None)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "the `git` program was not found (/nonexistent/git): install git (`apt-get install git`) to use recipes from git"
    );

    // A symbolic link out of the repository is not followed.
    std::os::unix::fs::symlink("/etc/passwd", repo.work.join("evil.yaml")).unwrap();
    repo.commit("main", &[]);
    let e = load(&url, Some("main"), Some("evil"));
    assert_eq!(
        e,
        "`evil.yaml` is a symbolic link that leads out of the repository"
    );
}

/// A launch whose recipe cannot be had stops before it makes anything,
/// with the error at the include's place in the RADL file.
#[test]
fn a_launch_with_a_bad_git_include_stops_before_making_anything() {
    if !has_git() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let repo = Repo::new(d, "recipes");
    repo.commit("main", &[("a.yaml", "- shell: a\n")]);
    let url = repo.url();
    let cases = [
        (
            format!("{{git: 'file://{}/nope.git', rev: main}}", d.display()),
            "cannot read the git repository".to_string(),
        ),
        (
            format!("{{git: '{url}', rev: v9}}"),
            "revision `v9` is not a branch, tag or commit".to_string(),
        ),
        (
            format!("{{git: '{url}', rev: main, path: missing}}"),
            "`missing` is not in".to_string(),
        ),
    ];
    for (reference, expected) in cases {
        let radl = format!(
            "system front (disk.0.image.url = 'local://')\n\
             configure front (\n@begin\n- shell: echo hi\n- include: {reference}\n@end\n)\n\
             deploy front 1\n"
        );
        std::fs::write(d.join("c.radl"), radl).unwrap();
        let out = nubo_in(d)
            .env("XDG_CACHE_HOME", d.join("cache"))
            .args(["launch", "c1", "c.radl", "-y"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("c.radl:5:12: error: cannot load recipe `git ") && err.contains(&expected),
            "{err}"
        );
        assert!(!d.join("local").exists(), "nothing was made: {err}");
        let list = nubo_in(d).args(["list"]).output().unwrap();
        assert!(
            !String::from_utf8_lossy(&list.stdout).contains("c1"),
            "no cluster was recorded"
        );
    }
    // Without git on PATH.
    let empty = d.join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let out = nubo_in(d)
        .env("XDG_CACHE_HOME", d.join("cache"))
        .env("PATH", &empty)
        .args(["plan", "c1", "c.radl"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("c.radl:5:12: error: cannot load recipe")
            && err.contains("the `git` program was not found"),
        "{err}"
    );
}

/// `git daemon` serving `base` on a free port of 127.0.0.1, in a process
/// group of its own (it forks a process per connection); the group is
/// killed when dropped.
struct Daemon {
    child: Option<Child>,
    port: u16,
}

impl Daemon {
    fn start(base: &Path) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `git daemon` would run `git-daemon` as a child of its own: run
        // that directly, so the pid is the daemon's.
        let exec_path = git(base, &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .arg(format!("--base-path={}", base.display()))
            .args(["--export-all", "--reuseaddr", "--informative-errors"])
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={port}"))
            .arg(format!("--pid-file={}", base.join("daemon.pid").display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start git daemon");
        let d = Daemon {
            child: Some(child),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn url(&self, name: &str) -> String {
        format!("git://127.0.0.1:{}/{name}.git", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on the process group this test started.
            unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
            let _ = c.wait();
        }
    }

    fn stop(&mut self) {
        self.kill();
        // No process of it is left (it forks one per connection).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = daemon_processes(self.port);
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "git daemon left: {left:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Processes whose command line names `--port=PORT`.
fn daemon_processes(port: u16) -> Vec<String> {
    let needle = format!("--port={port}");
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            out.push(cmdline);
        }
    }
    out
}

/// A directory of its own under /tmp for the local provider (sweepable by
/// `local::sweep_stale`), a cluster name, and cleanup when dropped.
struct Cluster {
    dir: PathBuf,
    name: String,
}

impl Cluster {
    fn new() -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let unique = format!("git-{}-{nanos:x}", std::process::id());
        let dir = PathBuf::from(format!("/tmp/nubo-it-{unique}"));
        std::fs::create_dir_all(&dir).unwrap();
        Cluster {
            dir,
            name: format!("it-{unique}"),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        nubo_in(&self.dir)
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("NUBO_LOG", "warn")
            .args(args)
            .output()
            .expect("run nubo")
    }

    fn ok(&self, args: &[&str]) -> String {
        crate::support::stdout_of(&format!("nubo {args:?}"), self.run(args))
    }

    fn on_node(&self, cmd: &str) -> String {
        self.ok(&["ssh", &self.name, "front", "--", cmd])
    }

    fn pins(&self) -> Vec<(String, String, String)> {
        let shown: serde_json::Value =
            serde_json::from_str(&self.ok(&["show", &self.name, "--json"])).unwrap();
        shown["git_pins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["url"].as_str().unwrap().to_string(),
                    p["rev"].as_str().unwrap_or("").to_string(),
                    p["commit"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn traces(&self) -> Vec<String> {
        let root = self.dir.join("local");
        local::traces(&self.name, &root, &local::netns_inodes(&self.name))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.run(&["destroy", &self.name, "-y", "--force"]);
        let provider = nubo::provider::local::LocalProvider::new(self.dir.join("local"));
        if let Err(e) = provider.destroy_cluster(&self.name) {
            eprintln!("cleanup of {}: {e}", self.name);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Issue 7, must-show 2: a cluster launched with a recipe pinned to a
/// branch; the branch moves; `reconfigure` keeps the pinned commit until
/// `--update-recipes`; with the repository gone, reconfiguring still works
/// from the cache.
#[test]
fn a_pinned_branch_holds_until_update_and_works_offline() {
    if !has_git() {
        return;
    }
    if let Err(e) = nubo::provider::local::LocalProvider::check_host() {
        skip_or_fail(&format!("the local provider cannot run here: {e}"));
        return;
    }
    local::sweep_stale();
    let c = Cluster::new();
    let repos = c.dir.join("repos");
    std::fs::create_dir_all(&repos).unwrap();
    // Served by git daemon: a recipe directory whose main.yaml includes a
    // recipe and a template beside it.
    let site = Repo::new(&repos, "site");
    let c1 = site.commit(
        "main",
        &[
            (
                "web/main.yaml",
                "- include: write\n- shell: echo ran >> /var/tmp/site-runs\n",
            ),
            (
                "web/write.yaml",
                "- file: {path: /etc/pinned.txt, template: pinned.hbs}\n",
            ),
            ("web/pinned.hbs", "one on {{node.name}}\n"),
        ],
    );
    // Through file://, pinned to a tag.
    let extra = Repo::new(&repos, "extra");
    let e1 = extra.commit(
        "main",
        &[(
            "motd.yaml",
            "- file: {path: /etc/motd-extra, content: tagged}\n",
        )],
    );
    extra.tag("v1");
    let mut daemon = Daemon::start(&repos);
    let site_url = daemon.url("site");
    let radl = format!(
        "network private ()\n\
         system front (\n  cpu.count >= 1 and\n  memory.size >= 256m and\n  \
         net_interface.0.connection = 'private' and\n  net_interface.0.dns_name = 'front' and\n  \
         disk.0.image.url = 'local://' and\n  disk.0.os.name = 'linux'\n)\n\
         configure front (\n@begin\n\
         - include: {{git: '{site_url}', rev: main, path: web}}\n\
         - include: {{git: '{}', rev: v1, path: motd}}\n\
         @end\n)\n\
         deploy front 1\n",
        extra.url()
    );
    std::fs::write(c.dir.join("cluster.radl"), &radl).unwrap();

    c.ok(&["launch", &c.name, "cluster.radl", "-y"]);
    assert_eq!(c.on_node("cat /etc/pinned.txt"), "one on front\n");
    assert_eq!(c.on_node("cat /etc/motd-extra"), "tagged");
    let pinned = vec![
        (extra.url(), "v1".to_string(), e1.clone()),
        (site_url.clone(), "main".to_string(), c1.clone()),
    ];
    let mut got = c.pins();
    got.sort();
    let mut want = pinned.clone();
    want.sort();
    assert_eq!(got, want);
    assert!(
        c.ok(&["show", &c.name]).contains(&c1),
        "show lists the pinned commit"
    );

    // The branch moves to a commit that changes the recipe's output.
    let c2 = site.commit("main", &[("web/pinned.hbs", "two on {{node.name}}\n")]);
    assert_ne!(c1, c2);
    c.ok(&["reconfigure", &c.name]);
    assert_eq!(
        c.on_node("cat /etc/pinned.txt"),
        "one on front\n",
        "reconfigure keeps the pinned commit"
    );
    assert_eq!(c.on_node("wc -l < /var/tmp/site-runs").trim(), "1");
    let mut got = c.pins();
    got.sort();
    assert_eq!(got, want, "the pins are unchanged");

    c.ok(&["reconfigure", &c.name, "--update-recipes"]);
    assert_eq!(
        c.on_node("cat /etc/pinned.txt"),
        "two on front\n",
        "--update-recipes moves to the branch's new commit"
    );
    let mut want2 = vec![
        (extra.url(), "v1".to_string(), e1.clone()),
        (site_url.clone(), "main".to_string(), c2.clone()),
    ];
    want2.sort();
    let mut got = c.pins();
    got.sort();
    assert_eq!(got, want2);

    // The repository gone: reconfigure runs from the cache.
    daemon.stop();
    c.on_node("rm /etc/pinned.txt");
    c.ok(&["reconfigure", &c.name, "--force"]);
    assert_eq!(c.on_node("cat /etc/pinned.txt"), "two on front\n");
    assert_eq!(c.on_node("wc -l < /var/tmp/site-runs").trim(), "3");
    // Updating needs the repository: a clear error at the include, the
    // pins and the nodes as they were.
    let out = c.run(&["reconfigure", &c.name, "--update-recipes"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cluster.radl:12:12: error: cannot load recipe `git ")
            && err.contains(&format!("cannot read the git repository `{site_url}`")),
        "{err}"
    );
    let mut got = c.pins();
    got.sort();
    assert_eq!(got, want2);
    assert_eq!(c.on_node("wc -l < /var/tmp/site-runs").trim(), "3");

    c.ok(&["destroy", &c.name, "-y"]);
    let left = c.traces();
    assert!(left.is_empty(), "left behind: {left:#?}");
}
