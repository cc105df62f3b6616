//! Recipes from git: `include: {git: URL, rev: REV, path: PATH}`.
//!
//! A reference is resolved to a commit once (a branch or tag with `git
//! ls-remote`; a full commit id as it is); the caller records that commit
//! for the cluster, and every later compile of the cluster uses it (see
//! [`GitRecipes`]). A commit's files are fetched once into the cache and
//! never change there, so a recorded commit is read without the network.
//!
//! The cache (`$XDG_CACHE_HOME/nubo/git`, else `~/.cache/nubo/git`), one
//! directory per repository, named from its URL:
//!
//! ```text
//! git/<tail>-<hash of URL>/url         the URL, for people
//! git/<tail>-<hash of URL>/lock        held while fetching or checking out
//! git/<tail>-<hash of URL>/repo.git    a bare repository the commits are fetched into
//!                                      (each kept by a ref refs/nubo/<commit>)
//! git/<tail>-<hash of URL>/<commit>/   that commit's files, written once, renamed into place
//! ```
//!
//! nubo runs the `git` program with arguments as argv, never through a
//! shell; URLs and revisions that start with `-` are refused (git would
//! read them as options), and the `ext::` transport is off.
//!
//! Everything here is synchronous: `git` runs through the process runner's
//! blocking call ([`Program::output_blocking`]), up to 300 s a
//! command. [`GitCache::resolve`], [`GitCache::checkout`],
//! [`GitRecipes::load_git`] and [`GitRecipes::load_beside`] (and so
//! `recipes::compile` and `launch::prepare`) block the calling thread:
//! async code calls them inside `tokio::task::spawn_blocking`.

use crate::process::{ProcessError, Program};
use crate::state::GitPin;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How long one `git` command may take (a fetch of a large repository
/// over a slow link) before nubo stops it.
const GIT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "the `git` program was not found ({program}): install git (`apt-get install git`) to use recipes from git"
    )]
    GitMissing {
        program: String,
        #[source]
        source: ProcessError,
    },
    #[error("cannot tell where to cache recipes from git: set XDG_CACHE_HOME (or HOME)")]
    NoCacheDir,
    #[error("{0}")]
    BadReference(String),
    #[error("cannot read the git repository `{url}`: {detail}")]
    Repository { url: String, detail: String },
    #[error("revision `{rev}` is not a branch, tag or commit of `{url}`{known}")]
    UnknownRevision {
        url: String,
        rev: String,
        known: String,
    },
    #[error("commit {commit} of `{url}` is not in the cache and cannot be fetched: {detail}")]
    CommitMissing {
        url: String,
        commit: String,
        detail: String,
    },
    #[error("`{path}` is not in `{url}` at commit {commit} (looked for {looked})")]
    PathNotFound {
        url: String,
        commit: String,
        path: String,
        looked: String,
    },
    #[error("`git {what}` failed: {detail}")]
    Git { what: String, detail: String },
    /// `git` could not be run to its end (it was killed at
    /// its time limit, 300 s, or could not be started or waited for).
    #[error(transparent)]
    Process(ProcessError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GitError + '_ {
    move |source| GitError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The cache of fetched commits and the `git` program that fills it.
#[derive(Clone, Debug)]
pub struct GitCache {
    /// The cache directory (its `git/` part); `None` when no home is known.
    pub dir: Option<PathBuf>,
    /// The `git` program (default: `git`, found on `PATH`).
    pub program: PathBuf,
}

impl Default for GitCache {
    fn default() -> Self {
        GitCache {
            dir: GitCache::default_dir(),
            program: PathBuf::from("git"),
        }
    }
}

impl GitCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        GitCache {
            dir: Some(dir.into()),
            program: PathBuf::from("git"),
        }
    }

    /// `$XDG_CACHE_HOME/nubo/git`, else `~/.cache/nubo/git`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        var("XDG_CACHE_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| h.join(".cache")))
            .map(|d| d.join("nubo/git"))
    }

    /// The commit `rev` names in the repository at `url` (`None`: its
    /// default branch). A full commit id is taken as it is (checked when
    /// fetched); anything else asks the repository (the network).
    pub fn resolve(&self, url: &str, rev: Option<&str>) -> Result<String, GitError> {
        check_url(url)?;
        if let Some(r) = rev {
            check_rev(r)?;
            if is_full_commit(r) {
                return Ok(r.to_ascii_lowercase());
            }
        }
        let out = self.git(None, &["ls-remote", url]).and_then(|o| {
            if o.ok {
                Ok(o.stdout)
            } else {
                Err(GitError::Repository {
                    url: url.to_string(),
                    detail: o.message(),
                })
            }
        })?;
        let refs: HashMap<&str, &str> = out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(sha, name)| (name, sha))
            .collect();
        let candidates = match rev {
            None | Some("HEAD") => vec!["HEAD".to_string()],
            Some(r) if r.starts_with("refs/") => vec![format!("{r}^{{}}"), r.to_string()],
            Some(r) => vec![
                format!("refs/tags/{r}^{{}}"),
                format!("refs/tags/{r}"),
                format!("refs/heads/{r}"),
            ],
        };
        if let Some(sha) = candidates.iter().find_map(|c| refs.get(c.as_str())) {
            return Ok(sha.to_string());
        }
        // An abbreviated commit id: fetch the branches and tags and ask
        // the local copy.
        if let Some(r) = rev
            && r.len() >= 4
            && r.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let repo = self.repo_dir(url)?;
            let _lock = lock(&repo)?;
            let bare = self.bare(&repo)?;
            self.fetch_all(&bare, url)?;
            let o = self.git(
                Some(&bare),
                &[
                    "rev-parse",
                    "--verify",
                    "--quiet",
                    "--end-of-options",
                    &format!("{r}^{{commit}}"),
                ],
            )?;
            if o.ok {
                return Ok(o.stdout.trim().to_string());
            }
        }
        let names = |prefix: &str| -> Vec<&str> {
            let mut v: Vec<&str> = refs
                .keys()
                .filter_map(|k| k.strip_prefix(prefix))
                .filter(|k| !k.ends_with("^{}"))
                .collect();
            v.sort();
            v
        };
        let (branches, tags) = (names("refs/heads/"), names("refs/tags/"));
        let list = |v: &[&str]| {
            let mut s = v.iter().take(10).copied().collect::<Vec<_>>().join(", ");
            if v.len() > 10 {
                s.push_str(", ...");
            }
            s
        };
        let known = match (branches.is_empty(), tags.is_empty()) {
            (true, true) => " (it has no branches or tags)".to_string(),
            (false, true) => format!(" (branches: {})", list(&branches)),
            (true, false) => format!(" (tags: {})", list(&tags)),
            (false, false) => format!(" (branches: {}; tags: {})", list(&branches), list(&tags)),
        };
        Err(GitError::UnknownRevision {
            url: url.to_string(),
            rev: rev.unwrap_or("HEAD").to_string(),
            known,
        })
    }

    /// The directory holding the files of `commit` of `url`, fetching and
    /// checking it out when it is not cached yet. A cached commit needs
    /// neither the network nor `git`.
    pub fn checkout(&self, url: &str, commit: &str) -> Result<PathBuf, GitError> {
        check_url(url)?;
        if !is_full_commit(commit) {
            return Err(GitError::BadReference(format!(
                "`{commit}` is not a full commit id"
            )));
        }
        let commit = commit.to_ascii_lowercase();
        let repo = self.repo_dir(url)?;
        let tree = repo.join(&commit);
        if tree.is_dir() {
            return Ok(tree);
        }
        let lock = lock(&repo)?;
        if tree.is_dir() {
            return Ok(tree); // another nubo checked it out meanwhile
        }
        sweep_temporaries(&repo);
        let result = self.fill(url, &commit, &repo, &tree);
        if result.is_err() && !holds_a_checkout(&repo) {
            // Nothing of this repository was ever had: leave no trace.
            let _ = fs::remove_dir_all(&repo);
        }
        drop(lock);
        result
    }

    /// Fetches `commit` into the bare repository of `repo` (when missing)
    /// and writes its files to `tree`. Called with the lock held.
    fn fill(&self, url: &str, commit: &str, repo: &Path, tree: &Path) -> Result<PathBuf, GitError> {
        let commit = commit.to_string();
        let bare = self.bare(repo)?;
        let pin = format!("refs/nubo/{commit}");
        if !self.has_commit(&bare, &commit)? {
            // Fetch just that commit; a server that refuses a commit that
            // is no branch tip gets every branch and tag fetched instead.
            let by_id = self.git(
                Some(&bare),
                &[
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    url,
                    &format!("+{commit}:{pin}"),
                ],
            )?;
            if !by_id.ok {
                if let Err(e) = self.fetch_all(&bare, url) {
                    return Err(GitError::CommitMissing {
                        url: url.to_string(),
                        commit,
                        detail: match e {
                            GitError::Repository { detail, .. } => detail,
                            e => e.to_string(),
                        },
                    });
                }
                if !self.has_commit(&bare, &commit)? {
                    return Err(GitError::CommitMissing {
                        url: url.to_string(),
                        commit,
                        detail: "the repository does not have it".into(),
                    });
                }
            }
        }
        // Keep the commit reachable, so git's garbage collection keeps it.
        self.git_ok(&bare, &["update-ref", &pin, &commit], "update-ref")?;
        let tmp = repo.join(format!(".tmp-{}-{commit}", std::process::id()));
        let result = self.extract(&bare, &commit, &tmp).and_then(|()| {
            fs::rename(&tmp, tree).map_err(io(tree))?;
            Ok(tree.to_path_buf())
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Writes the files of `commit` into `dest` (a new directory), through
    /// an index file of its own beside it.
    fn extract(&self, bare: &Path, commit: &str, dest: &Path) -> Result<(), GitError> {
        fs::create_dir_all(dest).map_err(io(dest))?;
        let index = dest.with_extension("index");
        let dest_arg = dest.to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", index.as_os_str())];
        let result = self
            .git_env(Some(bare), &["read-tree", commit], &env)
            .and_then(|o| o.check("read-tree"))
            .and_then(|()| {
                self.git_env(
                    Some(bare),
                    &[
                        "--work-tree",
                        &dest_arg,
                        "checkout-index",
                        "--all",
                        "--force",
                    ],
                    &env,
                )
            })
            .and_then(|o| o.check("checkout-index"));
        let _ = fs::remove_file(&index);
        result
    }

    fn has_commit(&self, bare: &Path, commit: &str) -> Result<bool, GitError> {
        Ok(self
            .git(
                Some(bare),
                &["cat-file", "-e", &format!("{commit}^{{commit}}")],
            )?
            .ok)
    }

    fn fetch_all(&self, bare: &Path, url: &str) -> Result<(), GitError> {
        let o = self.git(
            Some(bare),
            &[
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                url,
                "+refs/heads/*:refs/heads/*",
                "+refs/tags/*:refs/tags/*",
            ],
        )?;
        if o.ok {
            Ok(())
        } else {
            Err(GitError::Repository {
                url: url.to_string(),
                detail: o.message(),
            })
        }
    }

    /// The cache directory of the repository at `url`, created (0700).
    fn repo_dir(&self, url: &str) -> Result<PathBuf, GitError> {
        let base = self.dir.as_ref().ok_or(GitError::NoCacheDir)?;
        let dir = base.join(repo_key(url));
        if !dir.is_dir() {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(io(&dir))?;
            fs::write(dir.join("url"), format!("{url}\n")).map_err(io(&dir))?;
        }
        Ok(dir)
    }

    /// The bare repository of a cache directory, made on first use.
    fn bare(&self, repo: &Path) -> Result<PathBuf, GitError> {
        let bare = repo.join("repo.git");
        if !bare.join("HEAD").is_file() {
            let arg = bare.to_string_lossy().into_owned();
            self.git(None, &["init", "--quiet", "--bare", &arg])?
                .check("init")?;
        }
        Ok(bare)
    }

    fn git_ok(&self, bare: &Path, args: &[&str], what: &str) -> Result<(), GitError> {
        self.git(Some(bare), args)?.check(what)
    }

    fn git(&self, git_dir: Option<&Path>, args: &[&str]) -> Result<GitOutput, GitError> {
        self.git_env(git_dir, args, &[])
    }

    /// Runs `git ARGS` (in the bare repository `git_dir`), with no
    /// terminal prompts, the `ext::` transport off, stdin closed, and at
    /// most [`GIT_TIMEOUT`]. Blocks the calling thread (see the module's
    /// documentation).
    fn git_env(
        &self,
        git_dir: Option<&Path>,
        args: &[&str],
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Result<GitOutput, GitError> {
        let mut p = Program::new(&self.program, GIT_TIMEOUT)
            .args([
                "-c",
                "protocol.ext.allow=never",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .package("git");
        if let Some(d) = git_dir {
            p = p.arg("--git-dir").arg(d);
        }
        p = p
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env("LC_ALL", "C");
        for (k, v) in env {
            p = p.env(k, v);
        }
        tracing::debug!(?args, "git");
        match p.output_blocking() {
            Ok(out) => Ok(GitOutput {
                ok: out.success(),
                stdout: out.stdout_text(),
                stderr: out.stderr_text(),
            }),
            Err(source @ ProcessError::NotFound { .. }) => Err(GitError::GitMissing {
                program: self.program.display().to_string(),
                source,
            }),
            Err(e) => Err(GitError::Process(e)),
        }
    }
}

struct GitOutput {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl GitOutput {
    fn check(self, what: &str) -> Result<(), GitError> {
        if self.ok {
            Ok(())
        } else {
            Err(GitError::Git {
                what: what.into(),
                detail: self.message(),
            })
        }
    }

    /// git's complaint, in one line, without its boilerplate.
    fn message(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .filter(|l| {
                !matches!(
                    *l,
                    "fatal: Could not read from remote repository."
                        | "Please make sure you have the correct access rights"
                        | "and the repository exists."
                )
            })
            .map(|l| {
                l.strip_prefix("fatal: ")
                    .or_else(|| l.strip_prefix("error: "))
                    .unwrap_or(l)
            })
            .collect();
        if lines.is_empty() {
            "git failed without saying why".into()
        } else {
            lines.join("; ")
        }
    }
}

/// Holds the cache directory's lock (released when dropped).
fn lock(repo: &Path) -> Result<fs::File, GitError> {
    let path = repo.join("lock");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    f.lock().map_err(io(&path))?;
    Ok(f)
}

/// Whether a repository's cache directory holds a checked-out commit.
fn holds_a_checkout(repo: &Path) -> bool {
    fs::read_dir(repo)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_str().is_some_and(is_full_commit))
}

/// Removes checkouts a killed nubo left half-written (`.tmp-PID-...` of
/// a process that is gone). Called with the lock held.
fn sweep_temporaries(repo: &Path) {
    for e in fs::read_dir(repo).into_iter().flatten().flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(".tmp-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
    }
}

/// A readable, collision-free directory name for a URL: its last
/// component and a hash of the whole.
fn repo_key(url: &str) -> String {
    let tail: String = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    let tail = tail.trim_start_matches('.');
    // FNV-1a, 64 bits: stable across runs and versions.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    if tail.is_empty() {
        format!("{h:016x}")
    } else {
        format!("{tail}-{h:016x}")
    }
}

fn is_full_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn check_url(url: &str) -> Result<(), GitError> {
    if url.trim().is_empty() {
        return Err(GitError::BadReference(
            "`git` needs a repository URL".into(),
        ));
    }
    if url.starts_with('-') || url.chars().any(char::is_control) {
        return Err(GitError::BadReference(format!(
            "`{}` is not a repository URL",
            url.escape_debug()
        )));
    }
    Ok(())
}

fn check_rev(rev: &str) -> Result<(), GitError> {
    if rev.trim().is_empty() {
        return Err(GitError::BadReference(
            "`rev` is empty: name a branch, tag or commit, or leave `rev` out for the default branch"
                .into(),
        ));
    }
    if rev.starts_with('-') || rev.chars().any(|c| c.is_control() || c == ' ') {
        return Err(GitError::BadReference(format!(
            "`{}` is not a branch, tag or commit name",
            rev.escape_debug()
        )));
    }
    Ok(())
}

/// `dir/name` within a checkout, `.` and `..` applied; `None` when it
/// would leave the checkout or is absolute.
fn join_inside(dir: &str, name: &str) -> Option<String> {
    if name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(dir).join(name).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

/// Finds `path` in the checkout `tree` as a recipe is found: `path`,
/// `path.yaml`, `path.yml`, or (a directory, or the top when `path` is
/// empty) its `main.yaml` or `main.yml`. Returns the path within the
/// checkout and the text. A symbolic link that leads out of the checkout
/// is not followed.
fn find_in_tree(tree: &Path, path: &str) -> Result<Option<(String, String)>, String> {
    let mut candidates = Vec::new();
    if !path.is_empty() {
        candidates.extend([
            path.to_string(),
            format!("{path}.yaml"),
            format!("{path}.yml"),
        ]);
    }
    let sub = |f: &str| {
        if path.is_empty() {
            f.to_string()
        } else {
            format!("{path}/{f}")
        }
    };
    candidates.extend([sub("main.yaml"), sub("main.yml")]);
    let root = tree
        .canonicalize()
        .map_err(|e| format!("{}: {e}", tree.display()))?;
    for c in candidates {
        let p = tree.join(&c);
        let Ok(real) = p.canonicalize() else {
            continue;
        };
        if !real.is_file() {
            continue;
        }
        if !real.starts_with(&root) {
            return Err(format!(
                "`{c}` is a symbolic link that leads out of the repository"
            ));
        }
        let text = fs::read_to_string(&real).map_err(|e| format!("{c}: {e}"))?;
        return Ok(Some((c, text)));
    }
    Ok(None)
}

/// What `path` was looked for as, for a "not found" message.
fn looked_for(path: &str) -> String {
    if path.is_empty() {
        "main.yaml, main.yml".into()
    } else {
        format!("{path}, {path}.yaml, {path}.yml, {path}/main.yaml, {path}/main.yml")
    }
}

/// Where a file served from git is: its repository, commit and path.
#[derive(Clone, Debug)]
struct Served {
    url: String,
    commit: String,
    path: String,
}

/// Git references for one compile of one cluster: the commits recorded
/// for it (used as they are), the commits resolved now (to be recorded),
/// and where each file served from git came from (so a recipe's own
/// `include: NAME` and `template:` are found next to it, at its commit).
#[derive(Debug)]
pub struct GitRecipes {
    cache: GitCache,
    recorded: BTreeMap<(String, String), String>,
    /// Resolve every reference again, ignoring the recorded commits.
    update: bool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// (url, rev or "") → commit, for every git reference compiled.
    used: BTreeMap<(String, String), String>,
    /// Display name → where it is.
    served: HashMap<String, Served>,
}

impl GitRecipes {
    /// `recorded`: the pins of the cluster; `update`: resolve branches and
    /// tags again instead of using them.
    pub fn new(cache: GitCache, recorded: &[GitPin], update: bool) -> Self {
        GitRecipes {
            cache,
            recorded: recorded
                .iter()
                .map(|p| {
                    (
                        (p.url.clone(), p.rev.clone().unwrap_or_default()),
                        p.commit.clone(),
                    )
                })
                .collect(),
            update,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The pins this compile used: what the cluster should record.
    pub fn pins(&self) -> Vec<GitPin> {
        self.inner()
            .used
            .iter()
            .map(|((url, rev), commit)| GitPin {
                url: url.clone(),
                rev: (!rev.is_empty()).then(|| rev.clone()),
                commit: commit.clone(),
            })
            .collect()
    }

    /// The commit for (url, rev): resolved once per compile; the recorded
    /// one unless updating.
    fn commit_for(&self, url: &str, rev: Option<&str>) -> Result<String, GitError> {
        let key = (url.to_string(), rev.unwrap_or("").to_string());
        if let Some(c) = self.inner().used.get(&key) {
            return Ok(c.clone());
        }
        let commit = match self.recorded.get(&key) {
            Some(c) if !self.update => c.clone(),
            _ => self.cache.resolve(url, rev)?,
        };
        self.inner().used.insert(key, commit.clone());
        Ok(commit)
    }

    /// An Ansible role from git (IM's `ansible.modules.git+URL|NAME`): the
    /// commit (recorded like a recipe's) and the directory of its files in
    /// the cache.
    pub fn role_tree(&self, url: &str, rev: Option<&str>) -> Result<(String, PathBuf), GitError> {
        let commit = self.commit_for(url, rev)?;
        let tree = self.cache.checkout(url, &commit)?;
        Ok((commit, tree))
    }

    /// Loads `include: {git: URL, rev: REV, path: PATH}`: display name and
    /// text.
    pub fn load_git(
        &self,
        url: &str,
        rev: Option<&str>,
        path: Option<&str>,
    ) -> Result<(String, String), GitError> {
        let path = path.unwrap_or("");
        let Some(inside) = join_inside("", path) else {
            return Err(GitError::BadReference(format!(
                "`path: {path}` must be relative and stay inside the repository"
            )));
        };
        let commit = self.commit_for(url, rev)?;
        let tree = self.cache.checkout(url, &commit)?;
        match find_in_tree(&tree, &inside) {
            Ok(Some((found, text))) => Ok((self.serve(url, &commit, &found), text)),
            Ok(None) => Err(GitError::PathNotFound {
                url: url.to_string(),
                commit,
                path: if inside.is_empty() {
                    "a recipe at the top".into()
                } else {
                    inside.clone()
                },
                looked: looked_for(&inside),
            }),
            Err(e) => Err(GitError::BadReference(e)),
        }
    }

    /// A `include: NAME` or `template: NAME` written in a file served from
    /// git (`from`, its display name): the file next to it at the same
    /// commit, when there is one. `None`: not served from git, or not
    /// there (the caller looks in its directories).
    pub fn load_beside(&self, from: &str, name: &str) -> Option<Result<(String, String), String>> {
        let served = self.inner().served.get(from).cloned()?;
        let dir = Path::new(&served.path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let inside = join_inside(&dir, name)?;
        let tree = match self.cache.checkout(&served.url, &served.commit) {
            Ok(t) => t,
            Err(e) => return Some(Err(e.to_string())),
        };
        let candidates = find_in_tree(&tree, &inside);
        match candidates {
            Ok(Some((found, text))) => {
                Some(Ok((self.serve(&served.url, &served.commit, &found), text)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }

    fn serve(&self, url: &str, commit: &str, path: &str) -> String {
        let name = format!("{url}@{}/{path}", &commit[..commit.len().min(12)]);
        self.inner().served.insert(
            name.clone(),
            Served {
                url: url.to_string(),
                commit: commit.to_string(),
                path: path.to_string(),
            },
        );
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_readable_and_distinct() {
        let a = repo_key("https://example.org/team/recipes.git");
        assert!(a.starts_with("recipes.git-"), "{a}");
        assert_ne!(a, repo_key("https://example.org/other/recipes.git"));
        assert_eq!(a, repo_key("https://example.org/team/recipes.git"));
        let b = repo_key("/..");
        assert!(!b.starts_with('.'), "{b}");
    }

    #[test]
    fn paths_stay_inside() {
        assert_eq!(join_inside("", "a.yaml").as_deref(), Some("a.yaml"));
        assert_eq!(join_inside("x/y", "../z").as_deref(), Some("x/z"));
        assert_eq!(join_inside("x", "./b/c").as_deref(), Some("x/b/c"));
        assert_eq!(join_inside("", "").as_deref(), Some(""));
        assert_eq!(join_inside("", ".."), None);
        assert_eq!(join_inside("x", "../../a"), None);
        assert_eq!(join_inside("", "/etc/passwd"), None);
    }

    #[test]
    fn references_that_look_like_options_are_refused() {
        let c = GitCache::new("/nonexistent");
        let e = c.resolve("--upload-pack=touch /tmp/x", None).unwrap_err();
        assert!(matches!(e, GitError::BadReference(_)), "{e}");
        let e = c.resolve("file:///r.git", Some("--all")).unwrap_err();
        assert!(
            e.to_string().contains("not a branch, tag or commit name"),
            "{e}"
        );
        let e = c.resolve("file:///r.git", Some("")).unwrap_err();
        assert!(e.to_string().contains("`rev` is empty"), "{e}");
        let full = "0123456789abcdef0123456789ABCDEF01234567";
        assert_eq!(
            c.resolve("file:///r.git", Some(full)).unwrap(),
            full.to_ascii_lowercase(),
            "a full commit id needs no repository"
        );
    }

    #[test]
    fn messages_drop_boilerplate() {
        let o = GitOutput {
            ok: false,
            stdout: String::new(),
            stderr: "fatal: '/x' does not appear to be a git repository\nfatal: Could not read from remote repository.\n\nPlease make sure you have the correct access rights\nand the repository exists.\n".into(),
        };
        assert_eq!(o.message(), "'/x' does not appear to be a git repository");
    }
}
