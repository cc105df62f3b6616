//! Volumes: a sparse file behind a loop device, handed to a host as a block
//! device node (`/dev/vdb`, ...) in its own `/dev`.
//!
//! Loop devices are found from what exists (`/sys/block/loop*/loop/
//! backing_file`), never from memory, so a crash leaves nothing that a
//! later detach cannot find. A host's volumes are attached while it runs
//! and detached when it stops (the file, its disk, stays); `losetup -d` on
//! a device still in use only marks it to be cleared once free, so a
//! detach waits until the device has really let go of its file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::TestCloudError;
use crate::provider::local::{LocalError, cmd};

/// How long a detach waits for the kernel to let go of a loop device.
const DETACH_TIMEOUT: Duration = Duration::from_secs(10);

/// A loop device: its name (`loop3`) and device number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loop {
    pub name: String,
    pub major: u32,
    pub minor: u32,
}

/// Makes the volume's file (sparse, `size_mib`) unless it exists.
pub fn ensure_file(path: &Path, size_mib: u32) -> Result<(), TestCloudError> {
    if path.exists() {
        return Ok(());
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| TestCloudError::io("cannot create volume", path, e))?;
    f.set_len(u64::from(size_mib) << 20)
        .map_err(|e| TestCloudError::io("cannot size volume", path, e))
}

/// The loop devices whose backing file is `file`.
pub fn loops_of(file: &Path) -> Vec<Loop> {
    loops_where(|back| back == file)
}

/// The loop devices whose backing file lies under `dir`.
pub fn loops_under(dir: &Path) -> Vec<Loop> {
    loops_where(|back| back.starts_with(dir))
}

fn loops_where(want: impl Fn(&Path) -> bool) -> Vec<Loop> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(back) = std::fs::read_to_string(e.path().join("loop/backing_file")) else {
            continue;
        };
        let back = back.trim_end_matches('\n');
        let back = back.strip_suffix(" (deleted)").unwrap_or(back);
        if !want(Path::new(back)) {
            continue;
        }
        let dev = std::fs::read_to_string(e.path().join("dev")).unwrap_or_default();
        if let Some((major, minor)) = dev.trim().split_once(':')
            && let (Ok(major), Ok(minor)) = (major.parse(), minor.parse())
        {
            out.push(Loop { name, major, minor });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The file's loop device, attached if it has none.
pub fn attach(file: &Path) -> Result<Loop, TestCloudError> {
    if let Some(l) = loops_of(file).into_iter().next() {
        return Ok(l);
    }
    let path = file.to_str().ok_or_else(|| TestCloudError::Invalid {
        what: "volume path",
        value: file.display().to_string(),
        why: "it is not UTF-8".into(),
    })?;
    cmd::run(
        "attaching a volume to a loop device",
        "losetup",
        &["--find", "--show", path],
        None,
    )?;
    loops_of(file).into_iter().next().ok_or_else(|| {
        TestCloudError::Local(LocalError::Command {
            what: "attaching a volume to a loop device".into(),
            command: format!("losetup --find --show {path}"),
            detail: "no loop device shows the file afterwards".into(),
        })
    })
}

/// Detaches every loop device of the files under `dir` and waits until the
/// kernel has let them go.
pub fn detach_under(dir: &Path) -> Result<(), TestCloudError> {
    let deadline = Instant::now() + DETACH_TIMEOUT;
    loop {
        let loops = loops_under(dir);
        if loops.is_empty() {
            return Ok(());
        }
        for l in &loops {
            let dev = format!("/dev/{}", l.name);
            // A busy device is only marked to go: the loop waits for it.
            let _ = cmd::run("detaching a loop device", "losetup", &["-d", &dev], None);
        }
        if Instant::now() >= deadline {
            return Err(TestCloudError::Leftovers {
                what: format!("the volumes under {}", dir.display()),
                leftovers: loops
                    .iter()
                    .map(|l| format!("/dev/{}", l.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A volume's file in the host's directory.
pub fn file(host_dir: &Path, dev: &str) -> PathBuf {
    host_dir.join("volumes").join(format!("{dev}.img"))
}
