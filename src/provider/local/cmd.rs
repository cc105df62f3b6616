//! Running the host's tools (`ip`, `ssh-keygen`, ...) and small file helpers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::LocalError;
use super::netlink;
use crate::process::Program;

/// Where tools are looked for besides `$PATH` (`ip` and `sshd` live in sbin,
/// which a non-login root shell may not have on its path).
const FALLBACK_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/// The absolute path of a tool, or `None`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if name.starts_with('/') {
        return is_executable(Path::new(name)).then(|| PathBuf::from(name));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(FALLBACK_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The host tools the provider runs, with the Debian package of each: `ip`
/// for the cluster's bridge, `ssh-keygen` for its keys. Nodes start
/// without any (see `init`), and their network is made with netlink.
pub const TOOLS: [(&str, &str); 2] = [("ip", "iproute2"), ("ssh-keygen", "openssh-client")];

/// A tool's path, or the error that says which package to install.
pub fn tool(name: &'static str) -> Result<PathBuf, LocalError> {
    find_tool(name).ok_or_else(|| LocalError::ToolMissing {
        tool: name,
        package: TOOLS
            .iter()
            .find(|(t, _)| *t == name)
            .map_or("the package that provides it", |(_, p)| p),
    })
}

/// How long a host tool may take (`ssh-keygen` takes milliseconds).
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `program args` (with `stdin` fed in if given) through the process
/// runner, blocking, for at most [`TOOL_TIMEOUT`], and returns its
/// standard output; a non-zero exit becomes [`LocalError::Tool`] with its
/// standard error.
pub fn run(
    what: &str,
    program: &'static str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, LocalError> {
    let path = tool(program)?;
    let mut p = Program::new(&path, TOOL_TIMEOUT).args(args);
    if let Some(input) = stdin {
        p = p.stdin(input);
    }
    match p.run_blocking() {
        Ok(out) => Ok(out.stdout_text()),
        Err(source) => Err(LocalError::Tool {
            what: what.to_string(),
            source,
        }),
    }
}

/// Writes a file (creating or truncating it) with the given mode.
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), LocalError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| LocalError::io("cannot write", path, e))?;
    f.write_all(contents)
        .map_err(|e| LocalError::io("cannot write", path, e))?;
    // An existing file keeps its mode on open: set it.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| LocalError::io("cannot set the mode of", path, e))
}

/// Reads a small file; `Ok(None)` when it does not exist.
pub fn read_opt(path: &Path) -> Result<Option<String>, LocalError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LocalError::io("cannot read", path, e)),
    }
}

pub fn create_dir_all(path: &Path) -> Result<(), LocalError> {
    std::fs::create_dir_all(path).map_err(|e| LocalError::io("cannot create directory", path, e))
}

/// Removes a directory tree; a missing one is not an error.
pub fn remove_dir_all(path: &Path) -> Result<(), LocalError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LocalError::io("cannot remove", path, e)),
    }
}

/// Whether a network interface exists in the root network namespace.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Whether a named network namespace (`/run/netns/NAME`) exists.
pub fn netns_exists(name: &str) -> bool {
    netns_path(name).exists()
}

pub fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// Names in `/run/netns` (what `ip netns list` shows) with the prefix.
pub fn netns_with_prefix(prefix: &str) -> Vec<String> {
    names_with_prefix(Path::new("/run/netns"), prefix)
}

/// Interfaces of the root network namespace with the prefix.
pub fn links_with_prefix(prefix: &str) -> Vec<String> {
    names_with_prefix(Path::new("/sys/class/net"), prefix)
}

fn names_with_prefix(dir: &Path, prefix: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    out.sort();
    out
}

/// Deletes an interface if it exists (deleting one end of a veth pair
/// deletes both).
pub fn delete_link(name: &str) -> Result<(), LocalError> {
    if !link_exists(name) {
        return Ok(());
    }
    netlink::Socket::open()
        .and_then(|mut s| s.delete_link(name))
        .map_err(|source| LocalError::System {
            what: format!("deleting interface {name}"),
            source,
        })
}

/// Deletes a named network namespace if it exists.
pub fn delete_netns(name: &str) -> Result<(), LocalError> {
    netlink::delete_netns(name).map_err(|source| LocalError::System {
        what: format!("deleting network namespace {name}"),
        source,
    })
}
