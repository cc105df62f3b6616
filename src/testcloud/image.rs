//! The image a test-cloud host boots: the files a Debian cloud image would
//! have, written into the host's overlay upper directories at its first
//! boot, and its init.
//!
//! - cloud-init (Debian's package, the machine's own through the overlay
//!   of `/usr`) reads only the NoCloud seed in
//!   `/var/lib/cloud/seed/nocloud/` (`user-data`: exactly what the cloud's
//!   API received; `meta-data`: `instance-id` and, if the cloud gives
//!   one, `local-hostname`); network configuration is off (the host's
//!   interfaces are made by the test cloud, as a hypervisor's DHCP would
//!   give them); the locale is `C.UTF-8`, already in `/etc/default/locale`,
//!   as in Debian's images, so cloud-init does not try to generate one.
//! - `/etc/ssh/sshd_config`: Debian's settings (`PermitRootLogin
//!   prohibit-password`, no password login), and cloud-init's
//!   `disable_root`, as in Debian's cloud images: root has no key, so
//!   cannot log in, until a recipe gives it one (nubo's
//!   `ssh-between-nodes` does, for the cluster's own key); no host key: cloud-init's `ssh` module deletes
//!   whatever keys `/etc/ssh` shows (the machine's, through the overlay)
//!   and makes the host's own.
//! - `/etc/hostname` `localhost`, a plain `/etc/hosts`, a machine id of
//!   the host's own; no key of any cluster anywhere.
//! - the init, `/etc/nubo-testcloud/init`, PID 1 ([`INIT`]): the host's own
//!   `/dev` (the machine's is not the VM's), with its volumes' device nodes
//!   from `/etc/nubo-testcloud/devices`; the host name from `/etc/hostname`
//!   (cloud-init sets it only when it changes); the four cloud-init stages in the
//!   order systemd runs them on a Debian image; then `exec sshd`, which
//!   reaps orphans as PID 1. It writes `EPOCH EVENT [STATUS]` lines to
//!   `/run/nubo-testcloud/timeline` ([`TIMELINE`]) as it goes.

use std::path::Path;

use super::TestCloudError;
use crate::provider::local::naming::NodePaths;

/// The init's path inside the host.
pub const INIT_PATH: &str = "/etc/nubo-testcloud/init";

/// The timeline's path inside the host (a tmpfs: one boot's).
pub const TIMELINE: &str = "/run/nubo-testcloud/timeline";

/// sshd's pid file inside the host: it appears once sshd listens.
pub const SSHD_PID: &str = "/run/sshd.pid";

/// cloud-init's summary of the boot inside the host (`errors`).
pub const RESULT_JSON: &str = "/run/cloud-init/result.json";

/// The host's PID 1.
pub const INIT: &str = r#"#!/bin/sh
# PID 1 of a nubo test-cloud host: what systemd does on a Debian cloud
# image, in order: devices, cloud-init's four stages, then sshd.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
T=/run/nubo-testcloud/timeline
mkdir -p /run/nubo-testcloud
stamp() { echo "$(date +%s.%N) $*" >>"$T"; }
stamp init
# The host's own /dev: the usual character devices (FUSE among them, as
# on a Debian cloud image), a private devpts, and
# the block devices of its volumes.
mount -t tmpfs -o mode=0755,nosuid,size=1m dev /dev || exit 1
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
mknod -m 666 /dev/fuse c 10 229
mkdir -m 755 /dev/pts
mkdir -m 1777 /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts || exit 1
mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm || exit 1
ln -s pts/ptmx /dev/ptmx
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
if [ -f /etc/nubo-testcloud/devices ]; then
  while read -r dev major minor; do
    mknod -m 660 "/dev/$dev" b "$major" "$minor" && chgrp disk "/dev/$dev"
  done </etc/nubo-testcloud/devices
fi
stamp devices
# As systemd does first: the host name from /etc/hostname (the image's
# `localhost` at the first boot, what cloud-init wrote at later ones).
if read -r name </etc/hostname && [ -n "$name" ]; then hostname "$name"; fi
# cloud-init-local.service, cloud-init.service, cloud-config.service,
# cloud-final.service.
cloud-init init --local; stamp cloud-init-local $?
cloud-init init; stamp cloud-init-network $?
cloud-init modules --mode=config; stamp cloud-init-config $?
cloud-init modules --mode=final; stamp cloud-init-final $?
stamp sshd-start
exec /usr/sbin/sshd -D -e
"#;

/// cloud-init's configuration in the image.
const CLOUD_CFG: &str = "\
# nubo test cloud image: the NoCloud seed is the only datasource; the
# network is made by the test cloud, as a hypervisor's DHCP would give it.
datasource_list: [ NoCloud ]
network: {config: disabled}
locale: C.UTF-8
disable_root: true
";

/// sshd's configuration in the image.
const SSHD_CONFIG: &str = "\
# nubo test cloud image: Debian's sshd settings: root only with a key,
# and cloud-init's disable_root leaves it none.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
X11Forwarding no
PrintMotd no
PidFile /run/sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
";

fn write(path: &Path, contents: &[u8], mode: u32) -> Result<(), TestCloudError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| TestCloudError::io("cannot create directory", dir, e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| TestCloudError::io("cannot write", path, e))?;
    f.write_all(contents)
        .and_then(|()| f.set_permissions(std::fs::Permissions::from_mode(mode)))
        .map_err(|e| TestCloudError::io("cannot write", path, e))
}

/// Whether the image's files are in place (the host booted before).
pub fn installed(node: &NodePaths) -> bool {
    node.upper("etc").join(&INIT_PATH["/etc/".len()..]).exists()
}

/// YAML's reading of a JSON string is the string itself.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The NoCloud `meta-data` document.
pub fn meta_data(instance_id: &str, local_hostname: Option<&str>) -> String {
    let mut out = format!("instance-id: {}\n", quoted(instance_id));
    if let Some(h) = local_hostname {
        out.push_str(&format!("local-hostname: {}\n", quoted(h)));
    }
    out
}

/// Writes the image's files and the seed into the upper directories.
pub fn install(
    node: &NodePaths,
    machine_id: &str,
    user_data: &str,
    meta_data: &str,
) -> Result<(), TestCloudError> {
    let etc = node.upper("etc");
    let var = node.upper("var");
    let seed = var.join("lib/cloud/seed/nocloud");
    // The seed first, the init last: `installed` is true only when whole.
    write(&seed.join("user-data"), user_data.as_bytes(), 0o600)?;
    write(&seed.join("meta-data"), meta_data.as_bytes(), 0o600)?;
    write(
        &etc.join("cloud/cloud.cfg.d/90_nubo_testcloud.cfg"),
        CLOUD_CFG.as_bytes(),
        0o644,
    )?;
    write(&etc.join("default/locale"), b"LANG=C.UTF-8\n", 0o644)?;
    write(&etc.join("ssh/sshd_config"), SSHD_CONFIG.as_bytes(), 0o644)?;
    write(&etc.join("hostname"), b"localhost\n", 0o644)?;
    write(
        &etc.join("hosts"),
        b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        0o644,
    )?;
    write(
        &etc.join("machine-id"),
        format!("{machine_id}\n").as_bytes(),
        0o444,
    )?;
    write(
        &etc.join(&INIT_PATH["/etc/".len()..]),
        INIT.as_bytes(),
        0o755,
    )
}

/// Writes the device list the init makes nodes for: `DEV MAJOR MINOR`.
pub fn write_devices(
    node: &NodePaths,
    devices: &[(String, u32, u32)],
) -> Result<(), TestCloudError> {
    let text: String = devices
        .iter()
        .map(|(dev, major, minor)| format!("{dev} {major} {minor}\n"))
        .collect();
    write(
        &node.upper("etc").join("nubo-testcloud/devices"),
        text.as_bytes(),
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_data_is_quoted_yaml() {
        assert_eq!(meta_data("i-1", None), "instance-id: \"i-1\"\n");
        assert_eq!(
            meta_data("i-1", Some("front")),
            "instance-id: \"i-1\"\nlocal-hostname: \"front\"\n"
        );
        let parsed: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&meta_data("a: \"b\"\n#c", Some("x"))).unwrap();
        assert_eq!(parsed["instance-id"].as_str(), Some("a: \"b\"\n#c"));
    }
}
