//! Starting a node's init with system calls: no shell, `nsenter`,
//! `unshare`, `mount`, `hostname` or `date` process, only sshd.
//!
//! nubo forks a child that enters the node's network namespace, starts a
//! session of its own, unshares the mount, UTS, IPC, PID, cgroup and time
//! namespaces (mounts private, as `unshare --mount` makes them), sets the
//! time namespace's clock offsets so that the node's uptime starts at zero,
//! forks the node's PID 1, reports its pid through a pipe and exits; PID 1
//! is re-parented away from nubo, so it outlives nubo and leaves no zombie.
//! PID 1 mounts a fresh `/proc`, then sets up the node's file system
//! ([`plan`]) and execs sshd. Messages and errors go to the node's console
//! log; a failing mount makes PID 1 exit, which `create_node` reports with
//! the end of that log.
//!
//! Between fork and exec both children make only system calls, on memory
//! prepared before the fork: in a child of a multi-threaded process
//! nothing else is safe (no allocation, no lock).

use std::ffi::{CString, c_char};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use super::naming::{NodePaths, OVERLAID};

/// What PID 1 does, in order, before it execs sshd.
enum Op {
    Mount {
        src: CString,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
        /// Written to the log, and PID 1 exits, if it fails; `None`: best effort.
        fatal: Option<&'static str>,
        /// Written to the log if a best-effort mount fails.
        note: Option<&'static [u8]>,
    },
    /// A lazy unmount; errors are ignored (nothing mounted there).
    Umount(CString),
    Mkdir(CString, libc::mode_t),
}

/// Everything the children need, made before the fork.
pub struct Prepared {
    netns: OwnedFd,
    log: OwnedFd,
    devnull: OwnedFd,
    offsets: Vec<u8>,
    ops: Vec<Op>,
    hostname: CString,
    booting: Vec<u8>,
    starting: Vec<u8>,
    sshd: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

fn cstr(s: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
}

fn open(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: open(2) with a valid C string; the descriptor is owned below.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mount_op(
    src: &str,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
    fatal: Option<&'static str>,
) -> io::Result<Op> {
    Ok(Op::Mount {
        src: cstr(src)?,
        target: cstr(target)?,
        fstype: fstype.map(cstr).transpose()?,
        flags,
        data: data.map(cstr).transpose()?,
        fatal,
        note: None,
    })
}

/// Mount points of namespace files (`nsfs`) on the host outside
/// `/run/netns`: the node's copy of them would keep those namespaces alive.
fn nsfs_mounts() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            if right.split(' ').next()? != "nsfs" {
                return None;
            }
            Some(unescape(left.split(' ').nth(4)?))
        })
        .filter(|m| !m.starts_with("/run/netns/"))
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The node's file system, as PID 1 sets it up: the host's mounts of
/// network namespaces dropped (so the node keeps no other node's network
/// alive), a fresh `/sys` with the node's interfaces and cgroup2 on
/// `/sys/fs/cgroup`, overlays of the host's trees with the node's upper
/// directories, its own `/root`, tmpfs `/run` and `/tmp`, `/run/sshd`.
fn plan(node: &NodePaths) -> io::Result<Vec<Op>> {
    let ro = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let mut ops = vec![Op::Umount(cstr("/run/netns")?)];
    for m in nsfs_mounts() {
        ops.push(Op::Umount(cstr(m)?));
    }
    ops.push(Op::Umount(cstr("/sys")?));
    ops.push(mount_op(
        "sysfs",
        "/sys",
        Some("sysfs"),
        ro,
        None,
        Some("mounting"),
    )?);
    ops.push(Op::Mount {
        src: cstr("cgroup2")?,
        target: cstr("/sys/fs/cgroup")?,
        fstype: Some(cstr("cgroup2")?),
        flags: ro,
        data: None,
        fatal: None,
        note: Some(b"nubo: no cgroup2 in this node\n"),
    });
    for d in OVERLAID {
        let at = format!("/{d}");
        if !Path::new(&at).is_dir() {
            continue;
        }
        let data = format!(
            "lowerdir={at},upperdir={},workdir={}",
            node.upper(d).display(),
            node.work(d).display()
        );
        ops.push(mount_op(
            &format!("nubo-{d}"),
            &at,
            Some("overlay"),
            0,
            Some(&data),
            Some("mounting an overlay on"),
        )?);
    }
    ops.push(mount_op(
        &node.root_home().display().to_string(),
        "/root",
        None,
        libc::MS_BIND,
        None,
        Some("mounting"),
    )?);
    let tmp = libc::MS_NOSUID | libc::MS_NODEV;
    ops.push(mount_op(
        "tmpfs",
        "/run",
        Some("tmpfs"),
        tmp,
        Some("mode=0755"),
        Some("mounting"),
    )?);
    ops.push(mount_op(
        "tmpfs",
        "/tmp",
        Some("tmpfs"),
        tmp,
        Some("mode=1777"),
        Some("mounting"),
    )?);
    ops.push(Op::Mkdir(cstr("/run/sshd")?, 0o755));
    ops.push(Op::Mkdir(cstr("/run/lock")?, 0o755));
    Ok(ops)
}

/// Now as `YYYY-MM-DDTHH:MM:SSZ`, for the boot message.
fn utc_now() -> String {
    utc(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64))
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Prepares the start of a node: opens its network namespace and console
/// log, plans its mounts, and the sshd command line.
#[allow(clippy::too_many_arguments)]
pub fn prepare(
    netns: &Path,
    node: &NodePaths,
    name: &str,
    cluster: &str,
    (boottime, monotonic): (i64, i64),
    sshd: &Path,
    sshd_args: &[&str],
) -> io::Result<Prepared> {
    let sshd = cstr(sshd.as_os_str().as_encoded_bytes())?;
    let mut argv = vec![sshd.clone()];
    for a in sshd_args {
        argv.push(cstr(*a)?);
    }
    Ok(Prepared {
        netns: open(netns, libc::O_RDONLY)?,
        log: open(
            &node.console_log(),
            libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT,
        )?,
        devnull: open(Path::new("/dev/null"), libc::O_RDWR)?,
        offsets: format!("monotonic -{monotonic} 0\nboottime -{boottime} 0\n").into_bytes(),
        ops: plan(node)?,
        hostname: cstr(name)?,
        booting: format!(
            "nubo: booting node {name} of cluster `{}` ({})\n",
            cluster.replace('\n', " "),
            utc_now()
        )
        .into_bytes(),
        starting: format!("nubo: node {name} up, starting sshd\n").into_bytes(),
        sshd,
        argv,
        env: vec![cstr(
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )?],
    })
}

/// Writes all of `b` to `fd`, as far as it goes. Async-signal-safe.
fn put(fd: RawFd, b: &[u8]) {
    let mut at = 0;
    while at < b.len() {
        // SAFETY: writes from a live buffer of the given length.
        let n = unsafe { libc::write(fd, b[at..].as_ptr().cast(), b.len() - at) };
        if n <= 0 {
            return;
        }
        at += n as usize;
    }
}

/// Writes `nubo: WHAT failed: errno N` to standard error (the console log)
/// and exits with status 1. Async-signal-safe: no allocation.
fn die(what: &str, errno: i32) -> ! {
    die_at(what, b"", errno)
}

/// [`die`] naming a path: `nubo: WHAT PATH failed: errno N`.
fn die_at(what: &str, path: &[u8], errno: i32) -> ! {
    put(2, b"nubo: ");
    put(2, what.as_bytes());
    if !path.is_empty() {
        put(2, b" ");
        put(2, path);
    }
    put(2, b" failed: errno ");
    let mut digits = [0u8; 12];
    let mut i = digits.len();
    let mut n = errno.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put(2, &digits[i..]);
    put(2, b"\n");
    // SAFETY: ends the child without running anything of the parent's.
    unsafe { libc::_exit(1) }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn ptr(c: &Option<CString>) -> *const c_char {
    c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr())
}

/// The first child: into the namespaces, fork PID 1, report its pid.
/// Never returns.
fn first_child(p: &Prepared, argv: &[*const c_char], env: &[*const c_char], report: RawFd) -> ! {
    // SAFETY (whole function): system calls on memory prepared before the
    // fork, as a child of a multi-threaded process may make.
    unsafe {
        libc::dup2(p.devnull.as_raw_fd(), 0);
        libc::dup2(p.log.as_raw_fd(), 1);
        libc::dup2(p.log.as_raw_fd(), 2);
        if libc::setsid() < 0 {
            die("setsid", errno());
        }
        if libc::setns(p.netns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
            die("entering the network namespace", errno());
        }
        let flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWTIME;
        if libc::unshare(flags) != 0 {
            die("unsharing the namespaces", errno());
        }
        // Nothing mounted in the node reaches the host.
        if libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            die("making the mounts private", errno());
        }
        let fd = libc::open(c"/proc/self/timens_offsets".as_ptr(), libc::O_WRONLY);
        if fd < 0 || libc::write(fd, p.offsets.as_ptr().cast(), p.offsets.len()) < 0 {
            die("setting the clock offsets", errno());
        }
        libc::close(fd);
        let pid = libc::fork();
        if pid == 0 {
            libc::close(report);
            pid1(p, argv, env);
        }
        if pid < 0 {
            die("forking the node's init", errno());
        }
        put(report, &pid.to_ne_bytes());
        libc::_exit(0)
    }
}

/// PID 1 of the node: mounts, host name, then sshd. Never returns.
fn pid1(p: &Prepared, argv: &[*const c_char], env: &[*const c_char]) -> ! {
    // SAFETY (whole function): as in `first_child`.
    unsafe {
        // `unshare --mount-proc`: this PID namespace's /proc.
        libc::mount(
            c"none".as_ptr(),
            c"/proc".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        );
        if libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            die("mounting /proc", errno());
        }
        put(1, &p.booting);
        for op in &p.ops {
            match op {
                Op::Umount(at) => {
                    libc::umount2(at.as_ptr(), libc::MNT_DETACH);
                }
                Op::Mkdir(at, mode) => {
                    if libc::mkdir(at.as_ptr(), *mode) != 0 && errno() != libc::EEXIST {
                        die("making a directory in /run", errno());
                    }
                    libc::chmod(at.as_ptr(), *mode);
                }
                Op::Mount {
                    src,
                    target,
                    fstype,
                    flags,
                    data,
                    fatal,
                    note,
                } => {
                    let data_ptr = data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr());
                    if libc::mount(
                        src.as_ptr(),
                        target.as_ptr(),
                        ptr(fstype),
                        *flags,
                        data_ptr.cast(),
                    ) != 0
                    {
                        match fatal {
                            Some(what) => die_at(what, target.as_bytes(), errno()),
                            None => put(2, note.unwrap_or(b"")),
                        }
                    }
                }
            }
        }
        let name = p.hostname.as_bytes();
        if libc::sethostname(name.as_ptr().cast(), name.len()) != 0 {
            die("setting the host name", errno());
        }
        put(1, &p.starting);
        // What exec keeps: no blocked signal, SIGPIPE not ignored (Rust
        // ignores it in nubo), no descriptor but 0, 1 and 2.
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        libc::execve(p.sshd.as_ptr(), argv.as_ptr(), env.as_ptr());
        die("starting sshd", errno())
    }
}

/// Starts the node's init as prepared; returns its pid as seen on the
/// host. An error here means the first child failed (the console log says
/// where); PID 1 failing later shows as its death.
pub fn start(p: &Prepared) -> io::Result<u32> {
    let argv: Vec<*const c_char> = p
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let env: Vec<*const c_char> = p
        .env
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the array with two fresh descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the two descriptors were just made and are owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child makes only system calls on memory prepared above
    // (see the module documentation) and ends with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        first_child(p, &argv, &env, write.as_raw_fd());
    }
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    drop(write);
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the rest of a live buffer.
        let n = unsafe {
            libc::read(
                read.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n < 0 && errno() == libc::EINTR {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    let mut status = 0;
    // SAFETY: reaps the child just forked.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    if got == buf.len() {
        Ok(i32::from_ne_bytes(buf) as u32)
    } else {
        Err(io::Error::other(format!(
            "the node's first process ended without starting its init (wait status {status})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/run/a\040b"), "/run/a b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(utc(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(utc_now().len(), 20);
    }
}
