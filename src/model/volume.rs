//! A system's extra disks, `disk.N` for N ≥ 1, read as IM reads them:
//! `disk.N.size` (with its unit; IM asks the cloud for whole GB, rounded
//! up), `disk.N.type` (the cloud's volume type), `disk.N.device` (the
//! device the node sees, `vdb` for disk 1 unless given), `disk.N.fstype`
//! (default `ext4`) and `disk.N.mount_path` (where the built-in step
//! mounts it; none: attached, not formatted). A disk without a size is
//! not a volume nubo makes.

use super::SystemSpec;
use crate::radl::features::{Entry, number_of};

/// The highest N looked at.
const MAX_DISKS: u32 = 24;

/// One volume a node of the system gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeSpec {
    /// N of `disk.N`.
    pub index: u32,
    /// GiB, at least 1.
    pub size_gib: u32,
    /// `disk.N.type`.
    pub kind: Option<String>,
    /// `vdb`, `vdc`, ...: the device's name under `/dev`.
    pub device: String,
    pub fstype: String,
    pub mount_path: Option<String>,
}

impl SystemSpec {
    /// The system's volumes, in `disk.N` order.
    pub fn volumes(&self) -> Vec<VolumeSpec> {
        let text = |k: String| {
            self.features
                .get_str(&k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut out = Vec::new();
        for n in 1..=MAX_DISKS {
            let Some(Entry::Interval(lo, hi)) =
                self.features.entries.get(&format!("disk.{n}.size"))
            else {
                continue;
            };
            let Some(bytes) = lo
                .as_ref()
                .or(hi.as_ref())
                .and_then(number_of)
                .map(|b| b.as_f64())
                .filter(|b| b.is_finite() && *b > 0.0)
            else {
                continue;
            };
            let size_gib = (bytes / 1_073_741_824.0)
                .ceil()
                .clamp(1.0, f64::from(u32::MAX)) as u32;
            let letter = char::from(b'a' + (n as u8).min(25));
            out.push(VolumeSpec {
                index: n,
                size_gib,
                kind: text(format!("disk.{n}.type")),
                device: text(format!("disk.{n}.device"))
                    .map(|d| d.trim_start_matches("/dev/").to_string())
                    .unwrap_or_else(|| format!("vd{letter}")),
                fstype: text(format!("disk.{n}.fstype")).unwrap_or_else(|| "ext4".into()),
                mount_path: text(format!("disk.{n}.mount_path")),
            });
        }
        out
    }
}

/// The letter X of a disk device named `vdX`, `xvdX`, `sdX` or `hdX`
/// (with or without `/dev/`): the same disk under each bus's name.
pub fn volume_letter(device: &str) -> Option<char> {
    let d = device.trim_start_matches("/dev/");
    let rest = ["xvd", "vd", "sd", "hd"]
        .iter()
        .find_map(|p| d.strip_prefix(p))?;
    let mut chars = rest.chars();
    match (chars.next(), chars.next()) {
        (Some(c @ 'a'..='z'), None) => Some(c),
        _ => None,
    }
}

/// The names a node may see a volume under: its device first, then, for
/// `vdX`, `xvdX` and `sdX`, the other two (a cloud asked for `/dev/sdf`
/// may show `/dev/xvdf`, as EC2's Xen instances do).
fn device_candidates(device: &str) -> Vec<String> {
    let mut out = vec![format!("/dev/{device}")];
    if let Some(x) = volume_letter(device) {
        for p in ["vd", "xvd", "sd"] {
            let d = format!("/dev/{p}{x}");
            if !out.contains(&d) {
                out.push(d);
            }
        }
    }
    out
}

/// The script that formats (once) and mounts a node's volumes, run as
/// root: waits for each device (under any of its names), makes its
/// filesystem if it has none, mounts it. Values are single-quoted for the
/// shell.
pub fn mount_script(volumes: &[VolumeSpec]) -> Option<String> {
    let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut out = String::from("set -e\n");
    let mut any = false;
    for v in volumes {
        let Some(path) = &v.mount_path else { continue };
        any = true;
        let names: Vec<String> = device_candidates(&v.device).iter().map(|d| q(d)).collect();
        let names = names.join(" ");
        let (fstype, path) = (q(&v.fstype), q(path));
        out.push_str(&format!(
            "i=0; dev=\n\
             while :; do\n\
             for d in {names}; do if [ -b \"$d\" ]; then dev=$d; break; fi; done\n\
             if [ -n \"$dev\" ]; then break; fi\n\
             i=$((i+1)); if [ $i -gt 300 ]; then echo \"no device {names} after 30 s\" >&2; exit 1; fi\n\
             sleep 0.1\n\
             done\n\
             blkid \"$dev\" >/dev/null 2>&1 || mkfs -t {fstype} -q \"$dev\"\n\
             mkdir -p {path}\n\
             mountpoint -q {path} || mount -t {fstype} \"$dev\" {path}\n"
        ));
    }
    any.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec_of_radl;

    #[test]
    fn disks_become_volumes_as_im_reads_them() {
        let spec = spec_of_radl(
            "system wn (disk.0.image.url = 'x' and disk.1.size = 1GB and disk.1.mount_path = '/data' and \
             disk.2.size >= 20Gi and disk.2.type = 'ssd' and disk.2.device = '/dev/vdz' and disk.2.fstype = 'xfs' and \
             disk.3.mount_path = '/nosize')\ndeploy wn 1\n",
        );
        let v = spec.system("wn").unwrap().volumes();
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!(
            v[0],
            VolumeSpec {
                index: 1,
                size_gib: 1,
                kind: None,
                device: "vdb".into(),
                fstype: "ext4".into(),
                mount_path: Some("/data".into()),
            }
        );
        assert_eq!(v[1].size_gib, 20);
        assert_eq!(v[1].kind.as_deref(), Some("ssd"));
        assert_eq!(v[1].device, "vdz");
        assert_eq!(v[1].fstype, "xfs");
        assert_eq!(v[1].mount_path, None);
        let script = mount_script(&v).unwrap();
        assert!(
            script.contains("for d in '/dev/vdb' '/dev/xvdb' '/dev/sdb'"),
            "{script}"
        );
        assert!(script.contains("mkfs -t 'ext4' -q \"$dev\""), "{script}");
        assert!(
            script.contains("mount -t 'ext4' \"$dev\" '/data'"),
            "{script}"
        );
        assert!(
            !script.contains("vdz"),
            "a disk without mount_path is not mounted"
        );
        assert_eq!(mount_script(&v[1..]), None);
    }

    #[test]
    fn volume_letters_and_names() {
        assert_eq!(volume_letter("vdb"), Some('b'));
        assert_eq!(volume_letter("/dev/xvdf"), Some('f'));
        assert_eq!(volume_letter("sdz"), Some('z'));
        assert_eq!(volume_letter("nvme1n1"), None);
        assert_eq!(volume_letter("vdaa"), None);
        assert_eq!(
            device_candidates("xvdc"),
            ["/dev/xvdc", "/dev/vdc", "/dev/sdc"]
        );
        assert_eq!(device_candidates("nvme1n1"), ["/dev/nvme1n1"]);
    }
}
