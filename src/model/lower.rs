//! Lowering a RADL document into the cluster model.

use super::cluster::*;
use crate::diagnostic::Diagnostic;
use crate::radl::ast::{ConfigureBody, Number};
use crate::radl::document::Document;
use crate::radl::features::FeatureSet;
use crate::radl::outports;

/// Builds the model of a checked document. Problems that the RADL checks
/// do not cover but a launch cannot live with (a system deployed that has
/// no definition here, a deploy count that is not a whole number) are
/// returned as diagnostics.
pub fn lower(doc: &Document) -> (ClusterSpec, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let networks = doc
        .networks
        .iter()
        .map(|n| NetworkSpec {
            name: n.name.clone(),
            public: n
                .features
                .get_str("outbound")
                .is_some_and(|v| v.eq_ignore_ascii_case("yes")),
            outports: outports_of(&n.features),
            provider_id: n.features.get_str("provider_id").map(str::to_string),
        })
        .collect();
    let mut systems: Vec<SystemSpec> = doc
        .systems
        .iter()
        .map(|s| SystemSpec {
            name: s.name.clone(),
            count: 0,
            min: 0,
            max: 0,
            cloud: None,
            interfaces: interfaces_of(&s.features),
            image_url: s.features.get_str("disk.0.image.url").map(str::to_string),
            features: s.features.clone(),
        })
        .collect();
    for d in &doc.deploys {
        let Some(sys) = systems.iter_mut().find(|s| s.name == d.system.text) else {
            continue; // reported by the RADL checks
        };
        match d.count.0 {
            Number::Int(n) if (0..=100_000).contains(&n) => sys.count += n as u32,
            _ => diags.push(Diagnostic::error(
                d.count.1,
                "the number of VMs must be a whole number from 0 to 100000",
            )),
        }
        if let Some(cloud) = &d.cloud {
            sys.cloud = Some(cloud.text.clone());
        }
        if doc.system(&d.system.text).is_some_and(|s| s.reference) {
            diags.push(
                Diagnostic::error(
                    d.system.span,
                    format!(
                        "system `{}` is deployed but only referenced here, never defined",
                        d.system.text
                    ),
                )
                .with_note(
                    "help: add its definition (for example with another template) before launching",
                ),
            );
        }
    }
    for sys in &mut systems {
        let bound = |name: &str, diags: &mut Vec<Diagnostic>| -> Option<u32> {
            let f = sys.features.feature(name)?;
            match sys.features.get_number(name) {
                Some(Number::Int(n)) if (0..=100_000).contains(&n) => Some(n as u32),
                _ => {
                    diags.push(Diagnostic::error(
                        f.value_span,
                        format!("`{name}` must be a whole number from 0 to 100000"),
                    ));
                    None
                }
            }
        };
        let max = bound("ec3_max_instances", &mut diags);
        let min = bound("ec3_min_instances", &mut diags);
        sys.max = max.unwrap_or(sys.count).max(sys.count);
        sys.min = min.unwrap_or(0);
        if let (Some(min), Some(f)) = (min, sys.features.feature("ec3_min_instances"))
            && min > sys.max
        {
            diags.push(Diagnostic::error(
                f.value_span,
                format!(
                    "`ec3_min_instances` ({min}) is more than system `{}` may have ({})",
                    sys.name, sys.max
                ),
            ));
        }
    }
    let recipes = doc
        .configures
        .iter()
        .map(|c| {
            let parts: Vec<RecipePart> = std::iter::once(&c.body)
                .chain(&c.appended)
                .filter_map(|b| match b {
                    ConfigureBody::Recipe { text, span } => Some(RecipePart {
                        text: text.clone(),
                        span: *span,
                    }),
                    ConfigureBody::Empty | ConfigureBody::Reference => None,
                })
                .collect();
            let body = (!parts.is_empty()).then_some(RecipeText { parts });
            (c.name.clone(), body)
        })
        .collect();
    let contextualization = match &doc.contextualize {
        None => Contextualization::Default,
        Some(c) if c.items.is_empty() => Contextualization::Disabled,
        Some(c) => Contextualization::Steps(
            c.items
                .values()
                .map(|i| ContextStep {
                    system: i.system.text.clone(),
                    configure: i.configure.text.clone(),
                    step: match i.step {
                        Some((Number::Int(n), _)) => n.clamp(0, u32::MAX as i64) as u32,
                        _ => 0,
                    },
                    tool: i.tool.as_ref().map(|t| t.text.clone()),
                })
                .collect(),
        ),
    };
    systems.retain(|s| !(s.count == 0 && doc.system(&s.name).is_some_and(|d| d.reference)));
    (
        ClusterSpec {
            networks,
            systems,
            recipes,
            contextualization,
            scaled: Default::default(),
        },
        diags,
    )
}

fn outports_of(f: &FeatureSet) -> Vec<outports::OutPort> {
    use crate::radl::features::Entry;
    match f.entries.get("outports") {
        Some(Entry::Texts(texts)) => texts
            .iter()
            .flat_map(|(t, _)| outports::parse(t).unwrap_or_default())
            .collect(),
        _ => f
            .get_str("outports")
            .and_then(|s| outports::parse(s).ok())
            .unwrap_or_default(),
    }
}

fn interfaces_of(f: &FeatureSet) -> Vec<InterfaceSpec> {
    (0..)
        .map_while(|i| {
            let network = f.get_str(&format!("net_interface.{i}.connection"))?;
            Some(InterfaceSpec {
                network: network.to_string(),
                dns_name: f
                    .get_str(&format!("net_interface.{i}.dns_name"))
                    .map(str::to_string),
            })
        })
        .collect()
}

/// A valid RADL text lowered, for unit tests here and in `ops/`; panics
/// on any diagnostic.
#[cfg(test)]
pub(crate) fn spec_of_radl(text: &str) -> ClusterSpec {
    let v = crate::radl::validate(crate::source::FileId(0), text);
    assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
    let (spec, diags) = lower(&v.document);
    assert!(diags.is_empty(), "{diags:?}");
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radl;
    use crate::source::FileId;

    fn spec(text: &str) -> ClusterSpec {
        spec_of_radl(text)
    }

    #[test]
    fn instances_are_numbered_in_deploy_order_and_named_from_dns_name() {
        let s = spec(
            "network p ()\n\
             system front (net_interface.0.connection = 'p' and net_interface.0.dns_name = 'front.example.org')\n\
             system wn (net_interface.0.connection = 'p' and net_interface.0.dns_name = 'wn-#N#')\n\
             system db (net_interface.0.connection = 'p')\n\
             deploy front 1\ndeploy wn 2\ndeploy db 2\n",
        );
        let names: Vec<_> = s
            .instances()
            .into_iter()
            .map(|i| (i.number, i.name))
            .collect();
        assert_eq!(
            names,
            [
                (0, "front".into()),
                (1, "wn-1".into()),
                (2, "wn-2".into()),
                (3, "db-3".into()),
                (4, "db-4".into())
            ]
        );
    }

    #[test]
    fn elastic_slots_are_numbered_after_every_deploy_and_never_rename() {
        let mut s = spec(
            "network p ()\n\
             system front (net_interface.0.connection = 'p' and net_interface.0.dns_name = 'front')\n\
             system wn (ec3_max_instances = 3 and net_interface.0.connection = 'p' and net_interface.0.dns_name = 'wn-#N#')\n\
             system db (net_interface.0.connection = 'p')\n\
             deploy front 1\ndeploy wn 1\ndeploy db 1\n",
        );
        let wn = s.system("wn").unwrap();
        assert_eq!((wn.min, wn.count, wn.max), (0, 1, 3));
        assert!(wn.is_elastic());
        let names = |v: Vec<Instance>| v.into_iter().map(|i| i.name).collect::<Vec<_>>();
        assert_eq!(names(s.instances()), ["front", "wn-1", "db"]);
        assert_eq!(names(s.slots_of("wn")), ["wn-1", "wn-3", "wn-4"]);
        s.scaled.insert("wn".into(), vec![3, 4]);
        assert_eq!(names(s.instances()), ["front", "db", "wn-3", "wn-4"]);
        s.scaled.insert("wn".into(), vec![]);
        assert_eq!(names(s.instances()), ["front", "db"]);
    }

    #[test]
    fn elastic_bounds_must_be_whole_numbers_within_reach() {
        let v = radl::validate(
            FileId(0),
            "system wn (ec3_max_instances = 2 and ec3_min_instances = 5)\ndeploy wn 1\n",
        );
        let (_, diags) = lower(&v.document);
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0]
                .message
                .contains("more than system `wn` may have (2)")
        );
    }

    #[test]
    fn default_contextualization_runs_same_named_configures() {
        let s = spec(
            "system front ()\nsystem wn ()\nconfigure front (\n@begin\n- shell: true\n@end\n)\ndeploy front 1\ndeploy wn 1\n",
        );
        assert_eq!(
            s.steps(),
            [ContextStep {
                system: "front".into(),
                configure: "front".into(),
                step: 0,
                tool: None
            }]
        );
        let s = spec("system front ()\nconfigure front ()\ncontextualize ()\ndeploy front 1\n");
        assert!(s.steps().is_empty());
    }

    #[test]
    fn public_network_and_outports() {
        let s = spec(
            "network pub (outbound = 'yes' and outports contains '22/tcp' and outports contains '80:90/udp')\n",
        );
        assert!(s.networks[0].public);
        assert_eq!(s.networks[0].outports.len(), 2);
        assert!(s.networks[0].outports[1].range);
    }
}
