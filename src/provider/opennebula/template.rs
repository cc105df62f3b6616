//! The VM template nubo hands `one.vm.allocate`, built from the RADL
//! system, in the XML syntax the reference allows for templates (root
//! `TEMPLATE`), so no value needs OpenNebula's own quoting rules.
//!
//! | RADL | template |
//! |---|---|
//! | `cpu.count` (default 1) | `CPU`, `VCPU` |
//! | `memory.size` (default 512M) | `MEMORY`, in MB (10^6 bytes, as IM converts) rounded up |
//! | `disk.0.image.url = 'one://HOST/ID'` | `DISK/IMAGE_ID` (`DISK/IMAGE` for a name) |
//! | `disk.N.size` (N >= 1), `disk.N.device` | a volatile `DISK` each: `TYPE = fs`, `SIZE` in MB (GiB × 1024), `FORMAT = raw`, `TARGET` the device (`vdb` for disk 1), deleted with the VM |
//! | each interface's network `provider_id` | `NIC/NETWORK_ID` (`NIC/NETWORK` for a name) |
//! | the cluster key, the node name | `CONTEXT/SSH_PUBLIC_KEY`, `CONTEXT/SET_HOSTNAME`, `CONTEXT/NETWORK=YES` |
//! | `disk.0.os.credentials.username` other than root | `CONTEXT/USERNAME` |
//! | the same, for cloud-init images | `CONTEXT/USER_DATA` (nubo's `#cloud-config`, base64, `USERDATA_ENCODING = base64`), which cloud-init's OpenNebula datasource reads, as IM sends it |
//!
//! plus the name and attributes of [`super::label`].

use std::fmt::Write as _;

use super::error::OneError;
use super::label::{ATTR_CLUSTER, ATTR_NODE, ATTR_SSH_USER, ATTR_TOKEN, Label};
use super::xml::escape;
use crate::provider::VmRequest;
use crate::provider::cloud;
use crate::radl::ast::Number;

/// An image reference: `one://HOST[:PORT]/ID` or `one://HOST/NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageRef {
    Id(i64),
    Name(String),
}

/// Reads `disk.0.image.url`; the host must be this OpenNebula's (as IM
/// requires).
pub fn image_ref(url: &str, endpoint_host: &str) -> Result<ImageRef, OneError> {
    let rest = url.strip_prefix("one://").ok_or_else(|| {
        OneError::Request(format!(
            "image `{url}` is not an OpenNebula image: OpenNebula takes `disk.0.image.url = 'one://HOST/IMAGE_ID'`"
        ))
    })?;
    let (host_port, image) = rest
        .split_once('/')
        .filter(|(_, i)| !i.is_empty())
        .ok_or_else(|| OneError::Request(format!("image `{url}` names no image after the host")))?;
    let host = host_port.split(':').next().unwrap_or_default();
    if !host.eq_ignore_ascii_case(endpoint_host) {
        return Err(OneError::Request(format!(
            "image `{url}` is on `{host}`, not on this OpenNebula (`{endpoint_host}`)"
        )));
    }
    Ok(match image.parse::<i64>() {
        Ok(id) if id >= 0 => ImageRef::Id(id),
        _ => ImageRef::Name(image.to_string()),
    })
}

fn positive_int(n: Number) -> u64 {
    let f = n.as_f64().ceil();
    if f.is_finite() && f >= 1.0 {
        f as u64
    } else {
        1
    }
}

fn element(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(value));
}

/// The template for `req`.
pub fn vm_template(req: &VmRequest, endpoint_host: &str) -> Result<String, OneError> {
    let features = &req.system.features;
    let cpus = features.get_number("cpu.count").map_or(1, positive_int);
    let memory_mb = features.get_number("memory.size").map_or(512, |bytes| {
        positive_int(Number::Float(bytes.as_f64() / 1e6))
    });
    let url = cloud::image_url(&req.system, "OpenNebula", "one://HOST/IMAGE_ID")
        .map_err(OneError::Request)?;
    let image = image_ref(url, endpoint_host)?;
    let user = cloud::login_user(features, "root");
    let label = Label {
        cluster: req.cluster.clone(),
        node: req.node.clone(),
        token: req.token.clone(),
    };

    let mut t = String::from("<TEMPLATE>");
    element(&mut t, "NAME", &label.vm_name());
    element(&mut t, "CPU", &cpus.to_string());
    element(&mut t, "VCPU", &cpus.to_string());
    element(&mut t, "MEMORY", &memory_mb.to_string());
    t.push_str("<DISK>");
    match &image {
        ImageRef::Id(id) => element(&mut t, "IMAGE_ID", &id.to_string()),
        ImageRef::Name(name) => element(&mut t, "IMAGE", name),
    }
    t.push_str("</DISK>");
    for v in req.system.volumes() {
        t.push_str("<DISK>");
        element(&mut t, "TYPE", "fs");
        element(&mut t, "SIZE", &(u64::from(v.size_gib) * 1024).to_string());
        element(&mut t, "FORMAT", "raw");
        element(&mut t, "TARGET", &v.device);
        t.push_str("</DISK>");
    }
    for net in &req.networks {
        let id = net.provider_id.as_deref().filter(|p| !p.is_empty()).ok_or_else(|| {
            OneError::Request(format!(
                "network `{}` has no `provider_id`: give the OpenNebula virtual network's name or ID",
                net.name
            ))
        })?;
        t.push_str("<NIC>");
        match id.parse::<i64>() {
            Ok(n) if n >= 0 => element(&mut t, "NETWORK_ID", &n.to_string()),
            _ => element(&mut t, "NETWORK", id),
        }
        t.push_str("</NIC>");
    }
    t.push_str("<CONTEXT>");
    element(&mut t, "NETWORK", "YES");
    element(&mut t, "SET_HOSTNAME", &req.node);
    element(&mut t, "SSH_PUBLIC_KEY", req.public_key.trim());
    if user != "root" {
        element(&mut t, "USERNAME", &user);
    }
    element(&mut t, "USERDATA_ENCODING", "base64");
    element(
        &mut t,
        "USER_DATA",
        &cloud::userdata::encoded(&req.node, &user, &req.public_key),
    );
    t.push_str("</CONTEXT>");
    element(&mut t, ATTR_CLUSTER, &req.cluster);
    element(&mut t, ATTR_NODE, &req.node);
    element(&mut t, ATTR_TOKEN, &req.token);
    element(&mut t, ATTR_SSH_USER, &user);
    t.push_str("</TEMPLATE>");
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::opennebula::xml;
    use crate::radl;
    use crate::source::FileId;

    fn request(radl_text: &str) -> VmRequest {
        let v = radl::validate(FileId(0), radl_text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        let (spec, _) = crate::model::lower(&v.document);
        let system = spec.systems[0].clone();
        let networks = spec.networks_of(&system);
        VmRequest {
            cluster: "web".into(),
            node: "front".into(),
            number: 0,
            token: "01J9ZQ4X8M3N5P7R9T1V3X5Z7B".into(),
            system,
            networks,
            public_key: "ssh-ed25519 AAAAC3 nubo@web\n".into(),
        }
    }

    #[test]
    fn template_from_a_system() {
        let req = request(
            "network pub (outbound = 'yes' and provider_id = '3')\n\
             network priv (provider_id = 'private-net')\n\
             system front (cpu.count >= 2 and memory.size >= 1536m and \
             net_interface.0.connection = 'pub' and net_interface.1.connection = 'priv' and \
             disk.0.image.url = 'one://one.example.org:2633/42' and \
             disk.0.os.credentials.username = 'ubuntu')\n\
             deploy front 1\n",
        );
        let t = vm_template(&req, "one.example.org").unwrap();
        let doc = xml::parse(&t).unwrap();
        assert_eq!(doc.name, "TEMPLATE");
        assert_eq!(
            doc.child_text("NAME").unwrap(),
            "nubo.web.front.01J9ZQ4X8M3N5P7R9T1V3X5Z7B"
        );
        assert_eq!(doc.child_text("CPU").unwrap(), "2");
        assert_eq!(doc.child_text("VCPU").unwrap(), "2");
        assert_eq!(doc.child_text("MEMORY").unwrap(), "1536");
        assert_eq!(
            doc.child("DISK").unwrap().child_text("IMAGE_ID").unwrap(),
            "42"
        );
        let nics: Vec<_> = doc.children_named("NIC").collect();
        assert_eq!(nics[0].child_text("NETWORK_ID").unwrap(), "3");
        assert_eq!(nics[1].child_text("NETWORK").unwrap(), "private-net");
        let ctx = doc.child("CONTEXT").unwrap();
        assert_eq!(
            ctx.child_text("SSH_PUBLIC_KEY").unwrap(),
            "ssh-ed25519 AAAAC3 nubo@web"
        );
        assert_eq!(ctx.child_text("NETWORK").unwrap(), "YES");
        assert_eq!(ctx.child_text("SET_HOSTNAME").unwrap(), "front");
        assert_eq!(ctx.child_text("USERNAME").unwrap(), "ubuntu");
        assert_eq!(ctx.child_text("USERDATA_ENCODING").unwrap(), "base64");
        let data = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            ctx.child_text("USER_DATA").unwrap(),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(data).unwrap(),
            cloud::userdata::cloud_config("front", "ubuntu", "ssh-ed25519 AAAAC3 nubo@web\n")
        );
        assert_eq!(doc.child_text("NUBO_CLUSTER").unwrap(), "web");
        assert_eq!(
            doc.child_text("NUBO_TOKEN").unwrap(),
            "01J9ZQ4X8M3N5P7R9T1V3X5Z7B"
        );
        assert_eq!(doc.child_text("NUBO_SSH_USER").unwrap(), "ubuntu");
    }

    #[test]
    fn defaults_and_root() {
        let req = request("system s (disk.0.image.url = 'one://h/ubuntu-22.04')\ndeploy s 1\n");
        let doc = xml::parse(&vm_template(&req, "H").unwrap()).unwrap();
        assert_eq!(doc.child_text("CPU").unwrap(), "1");
        assert_eq!(doc.child_text("MEMORY").unwrap(), "512");
        assert_eq!(
            doc.child("DISK").unwrap().child_text("IMAGE").unwrap(),
            "ubuntu-22.04"
        );
        assert!(doc.child("NIC").is_none());
        assert!(doc.child("CONTEXT").unwrap().child("USERNAME").is_none());
        assert_eq!(doc.child_text("NUBO_SSH_USER").unwrap(), "root");
    }

    #[test]
    fn refusals_say_what_is_expected() {
        let volume = request(
            "system s (disk.0.image.url = 'one://h/3' and disk.1.size = 10GB)\ndeploy s 1\n",
        );
        let doc = xml::parse(&vm_template(&volume, "h").unwrap()).unwrap();
        let disks: Vec<_> = doc.children_named("DISK").collect();
        assert_eq!(disks.len(), 2);
        assert_eq!(disks[1].child_text("TYPE").unwrap(), "fs");
        assert_eq!(disks[1].child_text("SIZE").unwrap(), "10240");
        assert_eq!(disks[1].child_text("TARGET").unwrap(), "vdb");
        let no_image = request("system s (cpu.count = 1)\ndeploy s 1\n");
        let e = vm_template(&no_image, "h").unwrap_err().to_string();
        assert!(e.contains("no `disk.0.image.url`"), "{e}");
        let other = request("system s (disk.0.image.url = 'one://other/3')\ndeploy s 1\n");
        let e = vm_template(&other, "h").unwrap_err().to_string();
        assert!(e.contains("not on this OpenNebula"), "{e}");
        let ost = request("system s (disk.0.image.url = 'ost://h/3')\ndeploy s 1\n");
        assert!(
            vm_template(&ost, "h")
                .unwrap_err()
                .to_string()
                .contains("one://HOST/IMAGE_ID")
        );
        let no_net = request(
            "network n ()\nsystem s (disk.0.image.url = 'one://h/3' and net_interface.0.connection = 'n')\ndeploy s 1\n",
        );
        let e = vm_template(&no_net, "h").unwrap_err().to_string();
        assert!(e.contains("network `n` has no `provider_id`"), "{e}");
    }
}
