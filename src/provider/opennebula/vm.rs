//! OpenNebula's VM documents (`one.vm.info`, `one.vmpool.info`) and image
//! documents (`one.image.info`), read into what the provider needs.

use std::net::IpAddr;

use indexmap::IndexMap;

use super::error::OneError;
use super::label::{ATTR_CLUSTER, ATTR_NODE, ATTR_TOKEN, Label};
use super::xml::{self, Element};
use crate::provider::{VmInfo, VmStatus};

/// VM `STATE` values (the XML-RPC reference's VM states).
pub mod state {
    pub const INIT: i64 = 0;
    pub const PENDING: i64 = 1;
    pub const HOLD: i64 = 2;
    pub const ACTIVE: i64 = 3;
    pub const STOPPED: i64 = 4;
    pub const SUSPENDED: i64 = 5;
    pub const DONE: i64 = 6;
    pub const FAILED: i64 = 7;
    pub const POWEROFF: i64 = 8;
    pub const UNDEPLOYED: i64 = 9;
    pub const CLONING: i64 = 10;
    pub const CLONING_FAILURE: i64 = 11;
}

/// `LCM_STATE` values, meaningful while `STATE` is ACTIVE.
pub mod lcm {
    pub const LCM_INIT: i64 = 0;
    pub const PROLOG: i64 = 1;
    pub const BOOT: i64 = 2;
    pub const RUNNING: i64 = 3;
    pub const SAVE_STOP: i64 = 5;
    pub const SAVE_SUSPEND: i64 = 6;
    pub const EPILOG_STOP: i64 = 10;
    pub const EPILOG: i64 = 11;
    pub const SHUTDOWN: i64 = 12;
    pub const CANCEL: i64 = 13;
    pub const FAILURE: i64 = 14;
    pub const CLEANUP_RESUBMIT: i64 = 15;
    pub const UNKNOWN: i64 = 16;
    pub const SHUTDOWN_POWEROFF: i64 = 18;
    pub const BOOT_UNKNOWN: i64 = 19;
    pub const BOOT_POWEROFF: i64 = 20;
    pub const BOOT_SUSPENDED: i64 = 21;
    pub const BOOT_STOPPED: i64 = 22;
    pub const CLEANUP_DELETE: i64 = 23;
    pub const SHUTDOWN_UNDEPLOY: i64 = 29;
    pub const EPILOG_UNDEPLOY: i64 = 30;
    pub const PROLOG_UNDEPLOY: i64 = 31;
    pub const BOOT_UNDEPLOY: i64 = 32;
    pub const BOOT_MIGRATE: i64 = 35;
    /// 36 to 50 are the `*_FAILURE` states (BOOT_FAILURE ...
    /// PROLOG_UNDEPLOY_FAILURE), all but 43 and 45 (migrations in progress).
    pub const FAILURES: std::ops::RangeInclusive<i64> = 36..=50;
}

/// The status nubo reports for a (STATE, LCM_STATE) pair.
pub fn status(state: i64, lcm_state: i64) -> VmStatus {
    use VmStatus::*;
    match state {
        state::INIT | state::PENDING | state::HOLD | state::CLONING => Pending,
        state::ACTIVE => match lcm_state {
            lcm::LCM_INIT
            | lcm::PROLOG
            | lcm::BOOT
            | lcm::BOOT_UNKNOWN
            | lcm::BOOT_POWEROFF
            | lcm::BOOT_SUSPENDED
            | lcm::BOOT_STOPPED
            | lcm::BOOT_UNDEPLOY
            | lcm::BOOT_MIGRATE
            | lcm::CLEANUP_RESUBMIT => Pending,
            lcm::SAVE_STOP
            | lcm::SAVE_SUSPEND
            | lcm::EPILOG_STOP
            | lcm::SHUTDOWN_POWEROFF
            | lcm::SHUTDOWN_UNDEPLOY
            | lcm::EPILOG_UNDEPLOY
            | lcm::PROLOG_UNDEPLOY => Stopped,
            lcm::EPILOG | lcm::SHUTDOWN | lcm::CANCEL | lcm::CLEANUP_DELETE => Terminated,
            lcm::FAILURE => Failed,
            43 | 45 => Running,
            l if lcm::FAILURES.contains(&l) => Failed,
            lcm::UNKNOWN => Unknown,
            // RUNNING, and the states of a running VM being migrated,
            // hot-plugged or snapshotted.
            _ => Running,
        },
        state::STOPPED | state::SUSPENDED | state::POWEROFF | state::UNDEPLOYED => Stopped,
        state::DONE => Terminated,
        state::FAILED | state::CLONING_FAILURE => Failed,
        _ => Unknown,
    }
}

/// A VM as OpenNebula describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneVm {
    pub id: i64,
    pub name: String,
    pub state: i64,
    pub lcm_state: i64,
    /// Addresses of its NICs, public ones first.
    pub addresses: Vec<String>,
    /// The user template's single-valued attributes.
    pub user_template: IndexMap<String, String>,
}

impl OneVm {
    pub fn status(&self) -> VmStatus {
        status(self.state, self.lcm_state)
    }

    pub fn is_done(&self) -> bool {
        self.state == state::DONE
    }

    /// nubo's marks: the user-template attributes when present, else the
    /// name.
    pub fn label(&self) -> Option<Label> {
        let attr = |k: &str| self.user_template.get(k).filter(|v| !v.is_empty());
        match (attr(ATTR_CLUSTER), attr(ATTR_NODE), attr(ATTR_TOKEN)) {
            (Some(cluster), Some(node), Some(token)) => Some(Label {
                cluster: cluster.clone(),
                node: node.clone(),
                token: token.clone(),
            }),
            _ => Label::from_name(&self.name),
        }
    }

    /// Whether the name says nubo made it, even when it is cut short.
    pub fn looks_like_nubos(&self) -> bool {
        self.name.starts_with(super::label::PREFIX)
    }

    pub fn to_info(&self) -> VmInfo {
        let label = self.label();
        VmInfo {
            id: self.id.to_string(),
            node: label.as_ref().map(|l| l.node.clone()),
            token: label.map(|l| l.token),
            addresses: self.addresses.clone(),
            status: self.status(),
        }
    }
}

fn number(e: &Element, name: &str, what: &str) -> Result<i64, OneError> {
    let text = e
        .child_text(name)
        .ok_or_else(|| OneError::malformed(what, format!("<{}> without <{name}>", e.name)))?;
    text.parse()
        .map_err(|_| OneError::malformed(what, format!("<{name}> is `{text}`, not a number")))
}

/// Reads a `<VM>` element.
pub fn read_vm(e: &Element, what: &str) -> Result<OneVm, OneError> {
    let mut addresses: Vec<(bool, String)> = Vec::new();
    if let Some(t) = e.child("TEMPLATE") {
        for nic in t.children_named("NIC").chain(t.children_named("NIC_ALIAS")) {
            for key in ["EXTERNAL_IP", "IP", "IP6_GLOBAL", "IP6"] {
                if let Some(ip) = nic.child_text(key).filter(|s| !s.is_empty())
                    && !addresses.iter().any(|(_, a)| *a == ip)
                {
                    addresses.push((is_public(&ip), ip));
                }
            }
        }
    }
    // Public before private, in NIC order otherwise.
    addresses.sort_by_key(|(public, _)| !public);
    let user_template = e
        .child("USER_TEMPLATE")
        .map(|u| {
            u.elements()
                .filter(|a| a.elements().next().is_none())
                .map(|a| (a.name.clone(), a.text().trim().to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok(OneVm {
        id: number(e, "ID", what)?,
        name: e.child_text("NAME").unwrap_or_default(),
        state: number(e, "STATE", what)?,
        lcm_state: number(e, "LCM_STATE", what)?,
        addresses: addresses.into_iter().map(|(_, a)| a).collect(),
        user_template,
    })
}

fn document(doc: &str, root: &str, what: &str) -> Result<Element, OneError> {
    let e = xml::parse(doc).map_err(|m| OneError::malformed(what, format!("not XML: {m}")))?;
    if e.name != root {
        return Err(OneError::malformed(
            what,
            format!("expected <{root}>, found <{}>", e.name),
        ));
    }
    Ok(e)
}

/// Reads `one.vm.info`'s document.
pub fn parse_vm(doc: &str) -> Result<OneVm, OneError> {
    read_vm(&document(doc, "VM", "one.vm.info")?, "one.vm.info")
}

/// Reads `one.vmpool.info`'s document.
pub fn parse_vm_pool(doc: &str) -> Result<Vec<OneVm>, OneError> {
    let pool = document(doc, "VM_POOL", "one.vmpool.info")?;
    pool.children_named("VM")
        .map(|v| read_vm(v, "one.vmpool.info"))
        .collect()
}

/// An image, from `one.image.info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneImage {
    pub id: i64,
    pub name: String,
    pub state: i64,
}

/// Image `STATE` values.
pub mod image_state {
    pub const READY: i64 = 1;
    pub const ERROR: i64 = 5;
}

pub fn parse_image(doc: &str) -> Result<OneImage, OneError> {
    let what = "one.image.info";
    let e = document(doc, "IMAGE", what)?;
    Ok(OneImage {
        id: number(&e, "ID", what)?,
        name: e.child_text("NAME").unwrap_or_default(),
        state: number(&e, "STATE", what)?,
    })
}

/// Whether an address is reachable from outside its site: not private,
/// loopback, link-local or (IPv6) unique-local.
fn is_public(addr: &str) -> bool {
    match addr.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            !(a.is_private() || a.is_loopback() || a.is_link_local() || a.is_unspecified())
        }
        Ok(IpAddr::V6(a)) => {
            let first = a.segments()[0];
            !(a.is_loopback()
                || a.is_unspecified()
                || first & 0xfe00 == 0xfc00
                || first & 0xffc0 == 0xfe80)
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VM: &str = r#"<VM><ID>12</ID><UID>3</UID><GID>1</GID><UNAME>alice</UNAME><GNAME>users</GNAME>
<NAME>nubo.web.front.01J9ZQ4X8M3N5P7R9T1V3X5Z7B</NAME><LAST_POLL>0</LAST_POLL>
<STATE>3</STATE><LCM_STATE>3</LCM_STATE><RESCHED>0</RESCHED><STIME>1700000000</STIME><ETIME>0</ETIME><DEPLOY_ID>one-12</DEPLOY_ID>
<TEMPLATE><CPU><![CDATA[1]]></CPU><MEMORY><![CDATA[512]]></MEMORY>
<NIC><IP><![CDATA[10.0.0.5]]></IP><NETWORK><![CDATA[private]]></NETWORK><NIC_ID>0</NIC_ID></NIC>
<NIC><IP><![CDATA[192.0.2.7]]></IP><IP6_GLOBAL>2001:db8::7</IP6_GLOBAL><NETWORK><![CDATA[public]]></NETWORK><NIC_ID>1</NIC_ID></NIC>
</TEMPLATE>
<USER_TEMPLATE><NUBO_CLUSTER><![CDATA[web]]></NUBO_CLUSTER><NUBO_NODE>front</NUBO_NODE><NUBO_TOKEN>01J9ZQ4X8M3N5P7R9T1V3X5Z7B</NUBO_TOKEN><NUBO_SSH_USER>ubuntu</NUBO_SSH_USER><SCHED_ACTION><ID>0</ID></SCHED_ACTION></USER_TEMPLATE>
<HISTORY_RECORDS/></VM>"#;

    #[test]
    fn reads_a_vm() {
        let vm = parse_vm(VM).unwrap();
        assert_eq!(vm.id, 12);
        assert_eq!(vm.status(), VmStatus::Running);
        assert_eq!(vm.addresses, ["192.0.2.7", "2001:db8::7", "10.0.0.5"]);
        assert_eq!(vm.user_template["NUBO_SSH_USER"], "ubuntu");
        assert!(!vm.user_template.contains_key("SCHED_ACTION"));
        let info = vm.to_info();
        assert_eq!(info.id, "12");
        assert_eq!(info.node.as_deref(), Some("front"));
        assert_eq!(info.token.as_deref(), Some("01J9ZQ4X8M3N5P7R9T1V3X5Z7B"));
    }

    #[test]
    fn a_pool_without_user_attributes_is_labelled_by_name() {
        let pool = format!(
            "<VM_POOL>{}<VM><ID>13</ID><NAME>other</NAME><STATE>1</STATE><LCM_STATE>0</LCM_STATE><TEMPLATE/><USER_TEMPLATE/></VM></VM_POOL>",
            VM.replace('\n', "").replace(
                "<USER_TEMPLATE><NUBO_CLUSTER><![CDATA[web]]></NUBO_CLUSTER>",
                "<USER_TEMPLATE><X>y</X><NUBO_C>web</NUBO_C>"
            )
        );
        let vms = parse_vm_pool(&pool).unwrap();
        assert_eq!(vms.len(), 2);
        assert_eq!(vms[0].label().unwrap().cluster, "web");
        assert_eq!(vms[1].label(), None);
        assert_eq!(vms[1].status(), VmStatus::Pending);
        assert!(parse_vm_pool("<VM_POOL/>").unwrap().is_empty());
    }

    #[test]
    fn states() {
        use VmStatus::*;
        for (s, l, want) in [
            (state::PENDING, 0, Pending),
            (state::HOLD, 0, Pending),
            (state::ACTIVE, lcm::PROLOG, Pending),
            (state::ACTIVE, lcm::BOOT, Pending),
            (state::ACTIVE, lcm::RUNNING, Running),
            (state::ACTIVE, 17, Running),
            (state::ACTIVE, lcm::SHUTDOWN_POWEROFF, Stopped),
            (state::ACTIVE, lcm::SHUTDOWN, Terminated),
            (state::ACTIVE, lcm::CLEANUP_DELETE, Terminated),
            (state::ACTIVE, 36, Failed),
            (state::ACTIVE, 50, Failed),
            (state::ACTIVE, lcm::UNKNOWN, Unknown),
            (state::POWEROFF, 0, Stopped),
            (state::SUSPENDED, 0, Stopped),
            (state::UNDEPLOYED, 0, Stopped),
            (state::DONE, 0, Terminated),
            (state::FAILED, 0, Failed),
            (state::CLONING_FAILURE, 0, Failed),
            (99, 0, Unknown),
        ] {
            assert_eq!(status(s, l), want, "STATE {s} LCM_STATE {l}");
        }
    }

    #[test]
    fn malformed_documents() {
        assert!(parse_vm("<VM><ID>x</ID></VM>").is_err());
        assert!(parse_vm("<IMAGE/>").is_err());
        assert!(parse_vm_pool("<VM_POOL><VM><ID>1</ID></VM></VM_POOL>").is_err());
        let img =
            parse_image("<IMAGE><ID>4</ID><NAME>ubuntu</NAME><STATE>1</STATE></IMAGE>").unwrap();
        assert_eq!((img.id, img.state), (4, image_state::READY));
    }

    #[test]
    fn public_addresses() {
        assert!(is_public("192.0.2.1"));
        assert!(is_public("2001:db8::1"));
        for a in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "x",
        ] {
            assert!(!is_public(a), "{a}");
        }
    }
}
