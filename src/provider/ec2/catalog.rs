//! EC2 instance types: the catalog shipped in `providers/ec2.yaml`
//! (embedded in the binary) and the choice of a type for a RADL system,
//! the cheapest that satisfies `cpu.count`, `memory.size` and `gpu.count`,
//! unless `instance_type` names one (which must still satisfy them).
//!
//! | RADL | catalog |
//! |---|---|
//! | `cpu.count` | `vcpus` |
//! | `memory.size` (bytes) | `memory_mib` |
//! | `gpu.count` | `gpus` |
//!
//! EC2 instance types have no fixed disk (the root volume comes from the
//! AMI), so disk sizes play no part here.

use serde::Deserialize;

use crate::provider::cloud::{MIB, Requirements};

/// The catalog's text, as shipped.
pub const BUILTIN: &str = include_str!("../../../providers/ec2.yaml");

/// One instance type.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InstanceType {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    #[serde(default)]
    pub gpus: u32,
    /// On-demand USD per hour (us-east-1, Linux): the ranking.
    pub price: f64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub types: Vec<InstanceType>,
}

impl Catalog {
    /// Reads a catalog; every type must have a name, at least one vCPU,
    /// some memory and a price that is a finite number, and names are
    /// unique.
    pub fn parse(text: &str) -> Result<Catalog, String> {
        let c: Catalog = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        for (i, t) in c.types.iter().enumerate() {
            if t.name.trim().is_empty() {
                return Err(format!("type {} has no name", i + 1));
            }
            if t.vcpus == 0 || t.memory_mib == 0 {
                return Err(format!("type `{}` has no vCPUs or no memory", t.name));
            }
            if !t.price.is_finite() || t.price < 0.0 {
                return Err(format!("type `{}` has a bad price", t.name));
            }
            if c.types[..i].iter().any(|o| o.name == t.name) {
                return Err(format!("type `{}` is listed twice", t.name));
            }
        }
        Ok(c)
    }

    /// The catalog shipped with nubo.
    pub fn builtin() -> Catalog {
        Catalog::parse(BUILTIN).expect("providers/ec2.yaml is valid (unit-tested)")
    }

    /// The type for a system: the one `instance_type` names (any type EC2
    /// knows: one missing from the catalog is taken as named, unchecked),
    /// else the cheapest that fits. The error says why none fits.
    pub fn choose(&self, req: &Requirements) -> Result<String, String> {
        if let Some(name) = &req.instance_type {
            return match self.types.iter().find(|t| &t.name == name) {
                Some(t) if !fits(t, req) => Err(format!(
                    "instance type `{name}` (instance_type: {} vCPUs, {} MiB, {} GPUs) does not satisfy {}",
                    t.vcpus,
                    t.memory_mib,
                    t.gpus,
                    req.describe()
                )),
                _ => Ok(name.clone()),
            };
        }
        self.candidates(req)
            .first()
            .map(|t| t.name.clone())
            .ok_or_else(|| {
                let max_cpu = self.types.iter().map(|t| t.vcpus).max().unwrap_or(0);
                let max_mem = self.types.iter().map(|t| t.memory_mib).max().unwrap_or(0);
                format!(
                    "no EC2 instance type in nubo's catalog satisfies {} (the largest have {max_cpu} vCPUs and {max_mem} MiB); name one with `instance_type`",
                    req.describe()
                )
            })
    }

    /// The types that fit, cheapest first (then fewer vCPUs, less memory,
    /// by name).
    pub fn candidates(&self, req: &Requirements) -> Vec<&InstanceType> {
        let mut out: Vec<&InstanceType> = self.types.iter().filter(|t| fits(t, req)).collect();
        out.sort_by(|a, b| {
            a.price
                .total_cmp(&b.price)
                .then(a.vcpus.cmp(&b.vcpus))
                .then(a.memory_mib.cmp(&b.memory_mib))
                .then(a.name.cmp(&b.name))
        });
        out
    }
}

/// Whether a type satisfies the CPU, memory and GPU bounds.
pub fn fits(t: &InstanceType, req: &Requirements) -> bool {
    req.cpus.admits(f64::from(t.vcpus))
        && req.memory.admits(t.memory_mib as f64 * MIB)
        && req.gpus.admits(f64::from(t.gpus))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radl;
    use crate::source::FileId;

    fn req(radl_text: &str) -> Requirements {
        let v = radl::validate(FileId(0), radl_text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        Requirements::of(&v.document.systems[0].features)
    }

    fn pick(radl_text: &str) -> Result<String, String> {
        Catalog::builtin().choose(&req(radl_text))
    }

    #[test]
    fn the_shipped_catalog_reads() {
        let c = Catalog::builtin();
        assert!((20..=60).contains(&c.types.len()), "{}", c.types.len());
        assert!(c.types.iter().any(|t| t.gpus > 0));
    }

    #[test]
    fn the_cheapest_that_fits() {
        assert_eq!(pick("system s ()\n").unwrap(), "t3.nano");
        assert_eq!(pick("system s (cpu.count >= 1)\n").unwrap(), "t3.nano");
        assert_eq!(
            pick("system s (memory.size >= 1g)\n").unwrap(),
            "t3a.micro",
            "1g = 1e9 bytes fits 1024 MiB"
        );
        assert_eq!(
            pick("system s (memory.size >= 3g)\n").unwrap(),
            "t3a.medium"
        );
        assert_eq!(
            pick("system s (cpu.count >= 4 and memory.size >= 8g)\n").unwrap(),
            "t3.xlarge"
        );
        assert_eq!(
            pick("system s (cpu.count >= 4 and memory.size >= 20g)\n").unwrap(),
            "r5.xlarge"
        );
        assert_eq!(
            pick("system s (cpu.count = 1 and memory.size >= 2g)\n").unwrap(),
            "t2.small"
        );
        assert_eq!(pick("system s (gpu.count >= 1)\n").unwrap(), "g4dn.xlarge");
        assert_eq!(
            pick("system s (gpu.count >= 2 and memory.size >= 100g)\n").unwrap(),
            "g4dn.12xlarge"
        );
        // No GPU asked for: a GPU type is never the cheapest anyway, but a
        // `gpu.count = 0` bound excludes them outright.
        let c = Catalog::builtin();
        let r = req("system s (gpu.count = 0 and cpu.count >= 48)\n");
        assert!(c.candidates(&r).is_empty());
    }

    #[test]
    fn instance_type_names_one() {
        assert_eq!(
            pick("system s (instance_type = 'm5.large')\n").unwrap(),
            "m5.large"
        );
        // Not in the catalog: EC2 decides.
        assert_eq!(
            pick("system s (instance_type = 'x2idn.16xlarge' and cpu.count >= 2)\n").unwrap(),
            "x2idn.16xlarge"
        );
        let e = pick("system s (instance_type = 't3.micro' and cpu.count >= 4)\n").unwrap_err();
        assert!(
            e.contains("`t3.micro`") && e.contains("cpu.count >= 4"),
            "{e}"
        );
    }

    #[test]
    fn none_fits() {
        let e = pick("system s (cpu.count >= 500)\n").unwrap_err();
        assert!(e.contains("cpu.count >= 500"), "{e}");
        assert!(e.contains("48 vCPUs"), "{e}");
    }

    #[test]
    fn bad_catalogs_are_refused() {
        for (text, why) in [
            (
                "types:\n  - {name: a, vcpus: 0, memory_mib: 1, price: 1}\n",
                "no vCPUs",
            ),
            (
                "types:\n  - {name: '', vcpus: 1, memory_mib: 1, price: 1}\n",
                "no name",
            ),
            (
                "types:\n  - {name: a, vcpus: 1, memory_mib: 1, price: -1}\n",
                "bad price",
            ),
            (
                "types:\n  - {name: a, vcpus: 1, memory_mib: 1, price: 1}\n  - {name: a, vcpus: 2, memory_mib: 1, price: 1}\n",
                "twice",
            ),
            (
                "types:\n  - {name: a, vcpus: 1, memory_mib: 1, price: 1, cost: 2}\n",
                "unknown field",
            ),
            ("types: 3\n", "invalid type"),
        ] {
            let e = Catalog::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
