//! A launched cluster's TOSCA outputs (`nubo show`): each TOSCA template
//! of the recorded description, checked again from its recorded text with
//! the input values of the launch, its `outputs` evaluated over the VMs
//! the state records.

use super::templates::{Found, TemplateSearch};
use crate::source::SourceMap;
use crate::state::{ClusterDetail, VmState};
use crate::tosca::{self, outputs::Evaluated, outputs::LiveVm};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error(
        "the recorded description of cluster `{cluster}` cannot be read ({reason}); was the state written by another nubo version?"
    )]
    Recorded { cluster: String, reason: String },
    #[error(
        "the recorded TOSCA template `{template}` of cluster `{cluster}` no longer checks (an import changed?): {first}"
    )]
    Invalid {
        cluster: String,
        template: String,
        first: String,
    },
}

/// The outputs of every TOSCA template the cluster was launched from, in
/// composition order (none for a RADL-only cluster).
pub fn outputs(detail: &ClusterDetail) -> Result<Vec<Evaluated>, OutputsError> {
    let cluster = &detail.cluster.name;
    let pieces: Vec<Found> =
        serde_json::from_str(&detail.cluster.description).map_err(|e| OutputsError::Recorded {
            cluster: cluster.clone(),
            reason: e.to_string(),
        })?;
    let vms: Vec<LiveVm> = detail
        .vms
        .iter()
        .filter(|v| v.state != VmState::Destroyed)
        .map(|v| LiveVm {
            system: v.system.clone(),
            node: v.node.clone(),
            id: v.provider_vm_id.clone(),
            addresses: v.addresses.clone(),
        })
        .collect();
    let imports = TemplateSearch::default().imports;
    let mut out = Vec::new();
    for p in pieces.iter().filter(|p| p.tosca) {
        let mut sources = SourceMap::new();
        let origin = if p.text_only() {
            tosca::Origin::Text
        } else {
            tosca::Origin::File(PathBuf::from(&p.origin))
        };
        let file = sources.add(p.origin.clone(), p.text.clone());
        let checked = tosca::validate(&mut sources, file, &origin, &imports);
        if let Some(d) = checked.diagnostics.iter().find(|d| d.is_error()) {
            return Err(OutputsError::Invalid {
                cluster: cluster.clone(),
                template: p.name.clone(),
                first: d.render(&sources),
            });
        }
        let given: Vec<_> = p
            .inputs
            .iter()
            .map(|(n, v)| tosca::inputs::from_recorded(&mut sources, n, v))
            .collect();
        let mut ignored = Vec::new();
        let values = tosca::inputs::resolve(&checked, &given, false, &mut ignored);
        out.extend(tosca::outputs::evaluate(&checked, &values, &vms));
    }
    Ok(out)
}
