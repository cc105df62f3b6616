//! Choosing a flavor for a RADL system: the cheapest one that satisfies
//! `cpu.count`, `memory.size`, the disk size and `gpu.count`, where the
//! cheapest has the fewest vCPUs, then the least RAM, then the least disk
//! (IM sorts Nova's sizes the same way, price first, which Nova does not
//! report). `instance_type` names a flavor (by name or id) to take
//! instead; it must still satisfy the system.
//!
//! | RADL | flavor |
//! |---|---|
//! | `cpu.count` | `vcpus` |
//! | `memory.size` (bytes) | `ram` (MiB) |
//! | `disks.free_size`, else `disk.0.free_size`, else `disk.0.size` (bytes) | `disk` (GiB; 0 satisfies no disk request) |
//! | `gpu.count` | extra specs `resources:VGPU`, `pci_passthrough:alias` (`ALIAS:N,...`) |

use std::collections::BTreeMap;

use super::api::Flavor;
use crate::provider::cloud::{GIB, MIB, Requirements};

/// Whether a flavor satisfies CPU, memory and disk (GPUs are checked
/// apart: they need the flavor's extra specs).
pub fn fits(req: &Requirements, f: &Flavor) -> bool {
    req.cpus.admits(f.vcpus as f64)
        && req.memory.admits(f.ram as f64 * MIB)
        && (!req.disk.is_set() || (f.disk > 0 && req.disk.admits(f.disk as f64 * GIB)))
}

/// The flavors that satisfy CPU, memory and disk, cheapest first; only
/// the one `instance_type` names when it is given. Disabled flavors are
/// left out.
pub fn candidates<'a>(flavors: &'a [Flavor], req: &Requirements) -> Vec<&'a Flavor> {
    let mut out: Vec<&Flavor> = flavors
        .iter()
        .filter(|f| !f.disabled)
        .filter(|f| {
            req.instance_type
                .as_deref()
                .is_none_or(|t| f.name == t || f.id == t)
        })
        .filter(|f| fits(req, f))
        .collect();
    out.sort_by(|a, b| {
        (a.vcpus, a.ram, a.disk, &a.name, &a.id).cmp(&(b.vcpus, b.ram, b.disk, &b.name, &b.id))
    });
    out
}

/// The GPUs a flavor's extra specs give: `resources:VGPU` (and other
/// `resources:*GPU*` classes) plus the counts of `pci_passthrough:alias`.
pub fn gpu_count(extra_specs: &BTreeMap<String, String>) -> u64 {
    let mut n = 0;
    for (k, v) in extra_specs {
        let key = k.to_ascii_uppercase();
        if key.starts_with("RESOURCES:") && key.contains("GPU") {
            n += v.trim().parse::<u64>().unwrap_or(0);
        } else if k == "pci_passthrough:alias" {
            for alias in v.split(',') {
                n += alias
                    .rsplit_once(':')
                    .and_then(|(_, c)| c.trim().parse::<u64>().ok())
                    .unwrap_or(1);
            }
        }
    }
    n
}

/// Why no flavor fits: the request and what the largest flavors offer.
pub fn explain_none(flavors: &[Flavor], req: &Requirements) -> String {
    if let Some(t) = &req.instance_type {
        return match flavors.iter().find(|f| &f.name == t || &f.id == t) {
            None => format!("no flavor is named `{t}` (instance_type)"),
            Some(f) if f.disabled => format!("flavor `{t}` (instance_type) is disabled"),
            Some(f) => format!(
                "flavor `{t}` (instance_type: {} vCPUs, {} MiB RAM, {} GiB disk) does not satisfy {}",
                f.vcpus,
                f.ram,
                f.disk,
                req.describe()
            ),
        };
    }
    let max_cpu = flavors.iter().map(|f| f.vcpus).max().unwrap_or(0);
    let max_ram = flavors.iter().map(|f| f.ram).max().unwrap_or(0);
    format!(
        "no flavor satisfies {} (of {} flavors, the largest have {max_cpu} vCPUs and {max_ram} MiB RAM)",
        req.describe(),
        flavors.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radl;
    use crate::radl::features::FeatureSet;
    use crate::source::FileId;

    fn features(radl_text: &str) -> FeatureSet {
        let v = radl::validate(FileId(0), radl_text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        v.document.systems[0].features.clone()
    }

    fn flavor(id: &str, name: &str, vcpus: u64, ram: u64, disk: u64) -> Flavor {
        Flavor {
            id: id.into(),
            name: name.into(),
            vcpus,
            ram,
            disk,
            disabled: false,
            extra_specs: None,
        }
    }

    fn flavors() -> Vec<Flavor> {
        vec![
            flavor("5", "m1.xlarge", 8, 16384, 160),
            flavor("1", "m1.tiny", 1, 512, 1),
            flavor("3", "m1.medium", 2, 4096, 40),
            flavor("2", "m1.small", 1, 2048, 20),
            flavor("6", "c1.medium", 2, 2048, 20),
            flavor("4", "m1.large", 4, 8192, 80),
        ]
    }

    fn pick(radl_text: &str) -> Option<String> {
        let all = flavors();
        let req = Requirements::of(&features(radl_text));
        candidates(&all, &req).first().map(|f| f.name.clone())
    }

    #[test]
    fn the_cheapest_that_fits() {
        assert_eq!(pick("system s ()\n").as_deref(), Some("m1.tiny"));
        assert_eq!(
            pick("system s (cpu.count >= 2)\n").as_deref(),
            Some("c1.medium")
        );
        assert_eq!(
            pick("system s (cpu.count >= 2 and memory.size >= 3g)\n").as_deref(),
            Some("m1.medium")
        );
        // 2g = 2e9 bytes fits 2048 MiB; 2Gi fits it too.
        assert_eq!(
            pick("system s (memory.size >= 2g)\n").as_deref(),
            Some("m1.small")
        );
        assert_eq!(
            pick("system s (memory.size >= 2Gi)\n").as_deref(),
            Some("m1.small")
        );
        assert_eq!(
            pick("system s (cpu.count = 4)\n").as_deref(),
            Some("m1.large")
        );
        assert_eq!(
            pick("system s (cpu.count > 4)\n").as_deref(),
            Some("m1.xlarge")
        );
        assert_eq!(
            pick("system s (cpu.count >= 2 and cpu.count <= 3 and memory.size >= 5g)\n"),
            None
        );
        assert_eq!(
            pick("system s (disks.free_size >= 30g)\n").as_deref(),
            Some("m1.medium")
        );
        assert_eq!(
            pick("system s (instance_type = 'm1.large' and cpu.count >= 2)\n").as_deref(),
            Some("m1.large")
        );
        assert_eq!(
            pick("system s (instance_type = '4')\n").as_deref(),
            Some("m1.large")
        );
        assert_eq!(
            pick("system s (instance_type = 'm1.tiny' and cpu.count >= 2)\n"),
            None
        );
    }

    #[test]
    fn disabled_and_diskless_flavors() {
        let mut all = flavors();
        all[1].disabled = true; // m1.tiny
        all.push(flavor("7", "boot-from-volume", 1, 512, 0));
        let req = Requirements::of(&features("system s ()\n"));
        assert_eq!(candidates(&all, &req)[0].name, "boot-from-volume");
        let req = Requirements::of(&features("system s (disk.0.size >= 1g)\n"));
        assert_eq!(candidates(&all, &req)[0].name, "m1.small");
    }

    #[test]
    fn explanations_name_the_request() {
        let all = flavors();
        let req = Requirements::of(&features(
            "system s (cpu.count >= 64 and memory.size >= 2g)\n",
        ));
        let e = explain_none(&all, &req);
        assert!(e.contains("cpu.count >= 64, memory.size >= 2g"), "{e}");
        assert!(e.contains("8 vCPUs and 16384 MiB"), "{e}");
        let req = Requirements::of(&features("system s (instance_type = 'x9.huge')\n"));
        assert!(explain_none(&all, &req).contains("no flavor is named `x9.huge`"));
        let req = Requirements::of(&features(
            "system s (instance_type = 'm1.tiny' and cpu.count >= 2)\n",
        ));
        let e = explain_none(&all, &req);
        assert!(e.contains("does not satisfy cpu.count >= 2"), "{e}");
    }

    #[test]
    fn gpus_from_extra_specs() {
        let specs = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(gpu_count(&specs(&[])), 0);
        assert_eq!(gpu_count(&specs(&[("resources:VGPU", "2")])), 2);
        assert_eq!(
            gpu_count(&specs(&[("pci_passthrough:alias", "a100:2,t4:1")])),
            3
        );
        assert_eq!(gpu_count(&specs(&[("hw:cpu_policy", "dedicated")])), 0);
        let req = Requirements::of(&features("system s (gpu.count >= 1)\n"));
        assert!(req.wants_gpus());
        assert!(!Requirements::of(&features("system s ()\n")).wants_gpus());
    }
}
