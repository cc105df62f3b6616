//! What a RADL system asks of a cloud's sizes (an OpenStack flavor, an
//! EC2 instance type): bounds on `cpu.count`, `memory.size`, the disk
//! size and `gpu.count`, and the `instance_type` it names, with the
//! request as written for messages.

use crate::radl::ast::{Feature, Op};
use crate::radl::features::{Entry, FeatureSet, describe_value, number_of};

/// An interval a flavor's or instance type's value must fall in; bounds with their
/// strictness.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bound {
    lo: Option<(f64, bool)>,
    hi: Option<(f64, bool)>,
    /// How it was written, for messages.
    written: Vec<String>,
}

impl Bound {
    fn of(features: &FeatureSet, name: &str) -> Bound {
        let Some(Entry::Interval(lo, hi)) = features.entries.get(name) else {
            return Bound::default();
        };
        let bound = |f: &Option<Feature>| {
            f.as_ref().and_then(|f| {
                let strict = matches!(f.op, Op::Gt | Op::Lt);
                number_of(f).map(|n| (n.as_f64(), strict))
            })
        };
        let mut written = Vec::new();
        let mut say = |f: &Feature| {
            let s = format!(
                "{} {} {}",
                f.name.text,
                f.op.as_str(),
                describe_value(&f.value)
            );
            if !written.contains(&s) {
                written.push(s);
            }
        };
        lo.iter().chain(hi.iter()).for_each(&mut say);
        Bound {
            lo: bound(lo),
            hi: bound(hi),
            written,
        }
    }

    pub fn is_set(&self) -> bool {
        self.lo.is_some() || self.hi.is_some()
    }

    pub fn admits(&self, x: f64) -> bool {
        let lo_ok = match self.lo {
            Some((l, true)) => x > l,
            Some((l, false)) => x >= l,
            None => true,
        };
        let hi_ok = match self.hi {
            Some((h, true)) => x < h,
            Some((h, false)) => x <= h,
            None => true,
        };
        lo_ok && hi_ok
    }
}

/// What a system asks of its flavor or instance type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Requirements {
    pub cpus: Bound,
    /// Bytes.
    pub memory: Bound,
    /// Bytes.
    pub disk: Bound,
    pub gpus: Bound,
    pub instance_type: Option<String>,
}

/// Bytes in a MiB and a GiB, the units clouds size memory and disks in.
pub const MIB: f64 = 1_048_576.0;
pub const GIB: f64 = 1_073_741_824.0;

impl Requirements {
    pub fn of(features: &FeatureSet) -> Requirements {
        let disk = ["disks.free_size", "disk.0.free_size", "disk.0.size"]
            .iter()
            .map(|n| Bound::of(features, n))
            .find(Bound::is_set)
            .unwrap_or_default();
        Requirements {
            cpus: Bound::of(features, "cpu.count"),
            memory: Bound::of(features, "memory.size"),
            disk,
            gpus: Bound::of(features, "gpu.count"),
            instance_type: features
                .get_str("instance_type")
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        }
    }

    /// Whether GPUs are asked for (a lower bound above zero).
    pub fn wants_gpus(&self) -> bool {
        self.gpus.is_set() && !self.gpus.admits(0.0)
    }

    /// The request as written: `cpu.count >= 2, memory.size >= 2g`.
    pub fn describe(&self) -> String {
        let parts: Vec<&str> = [&self.cpus, &self.memory, &self.disk, &self.gpus]
            .iter()
            .flat_map(|b| b.written.iter().map(String::as_str))
            .collect();
        if parts.is_empty() {
            "no size".to_string()
        } else {
            parts.join(", ")
        }
    }
}
