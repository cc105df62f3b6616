//! [`OpenStack`]: the OpenStack provider, a
//! [`Cloud`](crate::provider::cloud::Cloud) and so a
//! [`Provider`](crate::provider::Provider).
//!
//! A VM's provider id is Nova's server id. Nova has no client token, so a
//! create first looks for a server of the cluster carrying the request's
//! token in its metadata (left by an earlier try that crashed before
//! recording it) and returns that one instead of making a second. What
//! every cloud does alike (ownership by the `nubo_cluster` metadata,
//! waiting, sweeping) is [`crate::provider::cloud`]'s.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::api::{
    CreatedServer, ExtraSpecs, Flavor, FlavorList, FloatingIp, FloatingIpList, Image, NetworkList,
    PortList, SecurityGroup, SecurityGroupList, SecurityGroupOne, Server, ServerList, ServerOne,
    ServerStatus,
};
use super::client::{ClientConfig, OstClient, encode};
use super::error::{OstError, Service, mentions_quota};
use super::flavor;
use super::keystone::{self, AuthMethod, EndpointChoice, ProjectScope};
use super::label::{self, META_CLUSTER, META_FLOATING, META_NODE, META_SSH_USER, META_TOKEN};
use super::network::{self, NetPlan};
use crate::auth::Credential;
use crate::model::NetworkSpec;
use crate::provider::cloud::{
    self, CLOUDADM, Cloud, CloudVms, Fields, Pacing, Requirements, Sweep, userdata,
};
use crate::provider::{ProviderError, Result, VmInfo, VmRequest, VmStatus};
use crate::state::Secret;

/// Servers asked for per page of `GET /servers/detail`.
const PAGE: usize = 500;

/// Timings; the defaults suit a real cloud, tests shorten them.
#[derive(Clone, Debug)]
pub struct OpenStackOptions {
    /// Bound on one HTTP call.
    pub call_timeout: Duration,
    /// Pause between two looks at a server that is not there yet.
    pub poll_interval: Duration,
    /// How long a server may take to run, stop, or go away.
    pub boot_timeout: Duration,
    /// A token this close to its expiry is replaced before use.
    pub token_margin: Duration,
}

impl Default for OpenStackOptions {
    fn default() -> Self {
        OpenStackOptions {
            call_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            boot_timeout: Duration::from_secs(900),
            token_margin: Duration::from_secs(120),
        }
    }
}

/// One OpenStack project, as one user or application credential.
#[derive(Debug)]
pub struct OpenStack {
    id: String,
    client: OstClient,
    /// Keystone's host name, which `ost://HOST/IMAGE_ID` URLs must name.
    host: String,
    options: OpenStackOptions,
    /// Serialises finding-or-making security groups within this process.
    groups: tokio::sync::Mutex<()>,
    /// Serialises `POST /servers` within this process (the boots still
    /// overlap): Nova checks the instance quota in its API and again in
    /// its conductor, and creates that pass the API together can all fail
    /// the recheck (real Nova 26: 3 asked with room for 2, none ran).
    creates: tokio::sync::Mutex<()>,
}

/// The image id of `ost://HOST[:PORT]/IMAGE_ID`; the host must be this
/// cloud's Keystone host (as IM requires).
pub fn image_id(url: &str, keystone_host: &str) -> std::result::Result<String, OstError> {
    let rest = url.strip_prefix("ost://").ok_or_else(|| {
        OstError::Request(format!(
            "image `{url}` is not an OpenStack image: OpenStack takes `disk.0.image.url = 'ost://HOST/IMAGE_ID'`"
        ))
    })?;
    let (authority, image) = rest
        .split_once('/')
        .filter(|(_, i)| !i.is_empty() && !i.contains('/'))
        .ok_or_else(|| {
            OstError::Request(format!("image `{url}` names no image id after the host"))
        })?;
    let host = keystone::url_host(authority).unwrap_or_default();
    if host != keystone_host {
        return Err(OstError::Request(format!(
            "image `{url}` is on `{host}`, not on this OpenStack (`{keystone_host}`)"
        )));
    }
    Ok(image.to_string())
}

impl OpenStack {
    /// From an auth-file credential of type `OpenStack`.
    pub fn from_credential(c: &Credential) -> std::result::Result<Self, OstError> {
        Self::with_options(c, OpenStackOptions::default())
    }

    pub fn with_options(
        c: &Credential,
        options: OpenStackOptions,
    ) -> std::result::Result<Self, OstError> {
        let line = Fields::open(c, "OpenStack", |credential, message| OstError::Credential {
            credential,
            message,
        })?;
        let get = |key: &str| line.get(key);
        let bad = |message: String| line.bad(message);
        let host = line.need("host")?;
        let tokens_url = keystone::tokens_url(host).map_err(bad)?;
        let keystone_host =
            keystone::url_host(host).ok_or_else(|| bad(format!("`{host}` names no host")))?;
        let version = get("auth_version");
        let appcred = match version {
            None => get("application_credential_id").is_some(),
            Some("3.x_appcred") => true,
            Some("3.x_password") => false,
            Some(v) if v.starts_with("2.") => {
                return Err(bad(format!(
                    "auth_version `{v}` is Keystone v2.0, which nubo does not speak: use `3.x_password` or `3.x_appcred`"
                )));
            }
            Some(v) => {
                return Err(bad(format!(
                    "auth_version `{v}` is not supported: use `3.x_password` or `3.x_appcred`"
                )));
            }
        };
        let auth = if appcred {
            // IM's form (through libcloud) puts the credential's id and
            // secret in `username` and `password`.
            let id = get("application_credential_id")
                .or_else(|| get("username"))
                .ok_or_else(|| bad("needs `application_credential_id`".into()))?;
            let secret = get("application_credential_secret")
                .or_else(|| get("password"))
                .ok_or_else(|| bad("needs `application_credential_secret`".into()))?;
            AuthMethod::AppCred {
                id: id.to_string(),
                secret: Secret::new(secret),
            }
        } else {
            let domain = get("domain").unwrap_or("Default").to_string();
            let project = match (get("tenant_id"), get("tenant")) {
                (Some(id), _) => ProjectScope::Id(id.to_string()),
                (None, Some(name)) => ProjectScope::Name {
                    name: name.to_string(),
                    domain: get("tenant_domain").unwrap_or(&domain).to_string(),
                },
                (None, None) => return Err(bad("needs `tenant` (or `tenant_id`)".into())),
            };
            AuthMethod::Password {
                username: line.need("username")?.to_string(),
                user_domain: domain,
                password: Secret::new(line.need("password")?),
                project,
            }
        };
        let choice = EndpointChoice {
            region: get("service_region").map(str::to_string),
            // IM lets `service_name = None` mean "no name".
            compute_name: get("service_name")
                .filter(|n| *n != "None")
                .map(str::to_string),
            compute_url: get("base_url").map(str::to_string),
            network_url: get("network_url").map(str::to_string),
            image_url: get("image_url").map(str::to_string),
        };
        let client = OstClient::new(ClientConfig {
            tokens_url,
            auth,
            choice,
            timeout: options.call_timeout,
            token_margin: options.token_margin,
        })?;
        Ok(OpenStack {
            id: line.id("openstack"),
            client,
            host: keystone_host,
            options,
            groups: tokio::sync::Mutex::new(()),
            creates: tokio::sync::Mutex::new(()),
        })
    }

    pub fn client(&self) -> &OstClient {
        &self.client
    }

    // ---- Nova ----

    /// Every server of the project, page after page.
    async fn all_servers(&self) -> Result<Vec<Server>> {
        let mut out: Vec<Server> = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut path = format!("/servers/detail?limit={PAGE}");
            if let Some(m) = &marker {
                path.push_str(&format!("&marker={}", encode(m)));
            }
            let page: ServerList = self.client.get(Service::Compute, &path).await?;
            let next = page.servers_links.iter().any(|l| l.rel == "next");
            let last = page.servers.last().map(|s| s.id.clone());
            out.extend(page.servers);
            match (next, last) {
                (true, Some(last)) if marker.as_ref() != Some(&last) => marker = Some(last),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The cluster's servers as Nova holds them.
    async fn cluster_servers(&self, cluster: &str) -> Result<Vec<Server>> {
        Ok(self
            .all_servers()
            .await?
            .into_iter()
            .filter(|s| s.metadata.get(META_CLUSTER).map(String::as_str) == Some(cluster))
            .filter(|s| s.status != ServerStatus::Deleted)
            .collect())
    }

    async fn server_action(&self, id: &str, action: &str) -> Result<()> {
        let path = format!("/servers/{}/action", encode(id));
        self.client
            .call(
                Service::Compute,
                Method::POST,
                &path,
                Some(&json!({ action: null })),
            )
            .await?;
        Ok(())
    }

    /// The flavor for a system.
    async fn choose_flavor(&self, req: &VmRequest) -> Result<Flavor> {
        let list: FlavorList = self.client.get(Service::Compute, "/flavors/detail").await?;
        let want = Requirements::of(&req.system.features);
        let candidates = flavor::candidates(&list.flavors, &want);
        if !want.wants_gpus() {
            if let Some(f) = candidates.first() {
                return Ok((*f).clone());
            }
        } else {
            for f in &candidates {
                let specs = match &f.extra_specs {
                    Some(s) => s.clone(),
                    None => {
                        let path = format!("/flavors/{}/os-extra_specs", encode(&f.id));
                        self.client
                            .get::<ExtraSpecs>(Service::Compute, &path)
                            .await?
                            .extra_specs
                    }
                };
                if want.gpus.admits(flavor::gpu_count(&specs) as f64) {
                    return Ok((*f).clone());
                }
            }
        }
        let mut why = flavor::explain_none(&list.flavors, &want);
        if want.wants_gpus() && !candidates.is_empty() {
            why.push_str(" (the flavors that fit otherwise have too few GPUs)");
        }
        Err(ProviderError::Final(format!(
            "OpenStack `{}`: system `{}`: {why}",
            self.id, req.system.name
        )))
    }

    /// Checks the image exists and is active, so a wrong id fails before
    /// a server is made.
    async fn check_image(&self, url: &str, id: &str) -> Result<()> {
        if !self.client.has(Service::Image).await? {
            return Ok(());
        }
        let path = format!("/images/{}", encode(id));
        match self.client.get::<Image>(Service::Image, &path).await {
            Ok(image) if image.status == "active" => Ok(()),
            Ok(image) => Err(ProviderError::Final(format!(
                "image `{url}` (`{}`) is {}, not active",
                image.name.as_deref().unwrap_or(&image.id),
                image.status
            ))),
            Err(e) if e.is_not_found() => Err(ProviderError::Final(format!(
                "image `{url}` does not exist in this OpenStack (Glance has no image {id})"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    // ---- Neutron ----

    async fn has_network(&self) -> Result<bool> {
        Ok(self.client.has(Service::Network).await?)
    }

    async fn plan_networks(&self, nets: &[NetworkSpec]) -> Result<NetPlan> {
        let list: NetworkList = self.client.get(Service::Network, "/networks").await?;
        Ok(network::plan(nets, &list.networks)?)
    }

    /// The floating IPs nubo made for the cluster.
    async fn cluster_floating_ips(&self, cluster: &str) -> Result<Vec<FloatingIp>> {
        if !self.has_network().await? {
            return Ok(Vec::new());
        }
        let list: FloatingIpList = self.client.get(Service::Network, "/floatingips").await?;
        Ok(list
            .floatingips
            .into_iter()
            .filter(|f| label::marks_cluster(&f.description, cluster))
            .collect())
    }

    /// The floating IPs marked with a server's token.
    fn floating_of<'a>(server: &Server, fips: &'a [FloatingIp]) -> Vec<&'a FloatingIp> {
        let Some(token) = server.metadata.get(META_TOKEN) else {
            return Vec::new();
        };
        fips.iter()
            .filter(|f| {
                label::parse_description(&f.description)
                    .is_some_and(|m| m.get("token") == Some(token))
            })
            .collect()
    }

    fn to_info(server: &Server, fips: &[FloatingIp]) -> VmInfo {
        let mut addresses: Vec<String> = Self::floating_of(server, fips)
            .iter()
            .filter(|f| f.port_id.is_some())
            .map(|f| f.floating_ip_address.clone())
            .collect();
        for a in server.addresses() {
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        }
        VmInfo {
            id: server.id.clone(),
            node: server.metadata.get(META_NODE).cloned(),
            token: server.metadata.get(META_TOKEN).cloned(),
            addresses,
            status: server.vm_status(),
        }
    }

    async fn server_info(&self, cluster: &str, server: &Server) -> Result<VmInfo> {
        let fips = if server.metadata.contains_key(META_FLOATING) {
            self.cluster_floating_ips(cluster).await?
        } else {
            Vec::new()
        };
        Ok(Self::to_info(server, &fips))
    }

    /// Gives a running server its floating IP from `external` unless it
    /// has one. Returns false while the server has no port to attach it
    /// to yet.
    async fn ensure_floating_ip(
        &self,
        cluster: &str,
        server: &Server,
        external: &str,
    ) -> Result<bool> {
        let fips = self.cluster_floating_ips(cluster).await?;
        let mine = Self::floating_of(server, &fips);
        if mine.iter().any(|f| f.port_id.is_some()) {
            return Ok(true);
        }
        let path = format!("/ports?device_id={}", encode(&server.id));
        let ports: PortList = self.client.get(Service::Network, &path).await?;
        let Some(port) = ports
            .ports
            .iter()
            .find(|p| p.network_id != external && p.device_id == server.id)
        else {
            return Ok(false);
        };
        if let Some(free) = mine.first() {
            // Made by an earlier try, not attached: attach it.
            let path = format!("/floatingips/{}", encode(&free.id));
            self.client
                .call(
                    Service::Network,
                    Method::PUT,
                    &path,
                    Some(&json!({"floatingip": {"port_id": port.id}})),
                )
                .await
                .map_err(|e| no_router(e, external, &port.network_id))?;
            return Ok(true);
        }
        let node = server.metadata.get(META_NODE).cloned().unwrap_or_default();
        let token = server.metadata.get(META_TOKEN).cloned().unwrap_or_default();
        let made: super::api::FloatingIpOne = self
            .client
            .post(
                Service::Network,
                "/floatingips",
                &json!({"floatingip": {
                    "floating_network_id": external,
                    "port_id": port.id,
                    "description": label::floating_description(cluster, &node, &token),
                }}),
            )
            .await
            .map_err(|e| no_router(e, external, &port.network_id))?;
        tracing::info!(
            cluster,
            server = server.id,
            address = made.floatingip.floating_ip_address,
            "OpenStack floating IP attached"
        );
        Ok(true)
    }

    /// The group nubo made for a network of the cluster, made now if it
    /// is missing, with every rule it should have.
    async fn ensure_group(&self, cluster: &str, net: &NetworkSpec) -> Result<String> {
        let _one_at_a_time = self.groups.lock().await;
        let name = label::group_name(cluster, &net.name);
        let description = label::group_description(cluster, &net.name);
        let path = format!("/security-groups?name={}", encode(&name));
        let list: SecurityGroupList = self.client.get(Service::Network, &path).await?;
        let group: SecurityGroup = match list
            .security_groups
            .into_iter()
            .find(|g| g.description == description)
        {
            Some(g) => g,
            None => {
                let made: SecurityGroupOne = self
                    .client
                    .post(
                        Service::Network,
                        "/security-groups",
                        &json!({"security_group": {"name": name, "description": description}}),
                    )
                    .await?;
                tracing::info!(
                    cluster,
                    group = name,
                    id = made.security_group.id,
                    "OpenStack security group made"
                );
                made.security_group
            }
        };
        for rule in network::rules_for(net) {
            if rule.is_in(&group.id, &group.security_group_rules) {
                continue;
            }
            match self
                .client
                .call(
                    Service::Network,
                    Method::POST,
                    "/security-group-rules",
                    Some(&rule.body(&group.id)),
                )
                .await
            {
                Ok(_) => {}
                // SecurityGroupRuleExists: someone made it meanwhile.
                Err(e) if e.is_conflict() && !e.is_quota() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(group.id)
    }

    /// Deletes a server and the floating IPs nubo made for it.
    async fn delete_server(&self, server: &Server, fips: &[FloatingIp]) -> Result<()> {
        let path = format!("/servers/{}", encode(&server.id));
        self.client.delete(Service::Compute, &path).await?;
        for f in Self::floating_of(server, fips) {
            self.client
                .delete(Service::Network, &format!("/floatingips/{}", encode(&f.id)))
                .await?;
        }
        tracing::info!(
            server = server.id,
            name = server.name,
            "OpenStack server deleted"
        );
        Ok(())
    }
}

/// Neutron refuses a floating IP for a port whose network no router joins
/// to the external network (`404 ExternalGatewayForFloatingIPNotFound`,
/// as real Neutron answers): not a missing VM but the project's setup, and
/// no retry changes it.
fn no_router(e: OstError, external: &str, network: &str) -> ProviderError {
    if e.status() == Some(404)
        && e.to_string()
            .contains("ExternalGatewayForFloatingIPNotFound")
    {
        return ProviderError::Final(format!(
            "{e}; no router joins network {network} to the external network {external}: \
             give the project one (`openstack router set --external-gateway {external} ROUTER`, \
             `openstack router add subnet ROUTER SUBNET`) or put the VM's public interface on \
             a routed network"
        ));
    }
    e.into()
}

impl Cloud for OpenStack {
    const KIND: &'static str = "OpenStack";

    fn line_id(&self) -> &str {
        &self.id
    }

    async fn check(&self) -> Result<()> {
        self.client.forget_token().await;
        let session = self.client.session().await?;
        self.client
            .call(Service::Compute, Method::GET, "/servers?limit=1", None)
            .await?;
        tracing::debug!(
            keystone = self.client.tokens_url(),
            user = session.user,
            project = session.project_id,
            "OpenStack credentials accepted"
        );
        Ok(())
    }

    async fn ensure_network(&self, cluster: &str, network: &NetworkSpec) -> Result<Option<String>> {
        if !self.has_network().await? {
            return Ok(None);
        }
        // A provider_id that names nothing fails here, before any VM.
        self.plan_networks(std::slice::from_ref(network)).await?;
        Ok(Some(self.ensure_group(cluster, network).await?))
    }

    async fn create_vm(&self, req: &VmRequest) -> Result<VmInfo> {
        if let Some(server) = self
            .cluster_servers(&req.cluster)
            .await?
            .into_iter()
            .find(|s| {
                s.metadata.get(META_TOKEN) == Some(&req.token)
                    && s.vm_status() != VmStatus::Terminated
            })
        {
            cloud::reusing(Self::NOUN, req, &server.id);
            return self.server_info(&req.cluster, &server).await;
        }
        let url = cloud::image_url(&req.system, "OpenStack", "ost://HOST/IMAGE_ID")
            .map_err(ProviderError::Final)?;
        let image = image_id(url, &self.host)?;
        self.check_image(url, &image).await?;
        let flavor = self.choose_flavor(req).await?;

        let mut plan = NetPlan::default();
        let mut groups = Vec::new();
        if self.has_network().await? {
            plan = self.plan_networks(&req.networks).await?;
            for net in &req.networks {
                let g = self.ensure_group(&req.cluster, net).await?;
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
        } else if !req.networks.is_empty() {
            tracing::warn!(
                cluster = req.cluster,
                "no network service in the catalog: Nova chooses the networks"
            );
        }

        let user = cloud::login_user(&req.system.features, CLOUDADM);
        let mut metadata = json!({
            META_CLUSTER: req.cluster,
            META_NODE: req.node,
            META_TOKEN: req.token,
            META_SSH_USER: user,
        });
        if let Some(ext) = &plan.floating {
            metadata[META_FLOATING] = json!(ext);
        }
        let mut server = json!({
            "name": label::server_name(&req.cluster, &req.node),
            "imageRef": image,
            "flavorRef": flavor.id,
            "user_data": userdata::encoded(&req.node, &user, &req.public_key),
            "metadata": metadata,
        });
        if !plan.attach.is_empty() {
            server["networks"] = plan.attach.iter().map(|id| json!({"uuid": id})).collect();
        }
        if !groups.is_empty() {
            server["security_groups"] = groups.iter().map(|id| json!({"name": id})).collect();
        }
        // `disk.N` (N >= 1): an empty volume each, made and attached by
        // Nova with the server and deleted with it.
        let volumes = req.system.volumes();
        if !volumes.is_empty() {
            server["block_device_mapping_v2"] = volumes
                .iter()
                .map(|v| {
                    let mut b = json!({
                        "boot_index": -1,
                        "source_type": "blank",
                        "destination_type": "volume",
                        "volume_size": v.size_gib,
                        "device_name": format!("/dev/{}", v.device),
                        "delete_on_termination": true,
                    });
                    if let Some(kind) = &v.kind {
                        b["volume_type"] = json!(kind);
                    }
                    b
                })
                .collect();
        }
        let made: CreatedServer = {
            let _one_at_a_time = self.creates.lock().await;
            self.client
                .post(Service::Compute, "/servers", &json!({ "server": server }))
                .await?
        };
        let id = made.server.id;
        tracing::info!(
            cluster = req.cluster,
            node = req.node,
            id,
            flavor = flavor.name,
            "OpenStack server created"
        );
        match self.owned(&req.cluster, &id).await {
            Ok(Some(s)) => Ok(Self::to_info(&s, &[])),
            // Made, but not readable yet: report what is known.
            _ => Ok(cloud::just_made(id, req)),
        }
    }

    async fn wait_running(&self, cluster: &str, id: &str) -> Result<VmInfo> {
        let s = self
            .wait_with(cluster, id, "running", |s: Server| async move {
                let ready = match s.vm_status() {
                    VmStatus::Running if s.task_state.is_none() => {
                        let attached = match s.metadata.get(META_FLOATING) {
                            Some(ext) => self.ensure_floating_ip(cluster, &s, ext).await?,
                            None => true,
                        };
                        attached && !s.addresses.is_empty()
                    }
                    VmStatus::Failed => {
                        // A server that never ran is deleted at once: it
                        // holds quota, and no state row records its id.
                        // Nova's quota recheck (creates that passed the
                        // API together) ends in ERROR too, a quota answer.
                        let fault = s
                            .fault
                            .as_ref()
                            .map(|f| f.message.clone())
                            .unwrap_or_default();
                        let text = format!(
                            "OpenStack server {id} failed{}",
                            if fault.is_empty() {
                                String::new()
                            } else {
                                format!(": {fault}")
                            }
                        );
                        if let Err(e) = self.delete_server(&s, &[]).await {
                            tracing::warn!(cluster, server = id, error = %e, "deleting a failed OpenStack server");
                        }
                        // Nova's scheduler found no compute host with room
                        // ("No valid host was found"): the cloud's capacity
                        // for this flavor, a limit as a quota is.
                        let no_room = fault.starts_with("No valid host was found");
                        return Err(if no_room {
                            ProviderError::Quota(format!(
                                "OpenStack has no room for server {id}: {fault}"
                            ))
                        } else if mentions_quota(&fault) {
                            ProviderError::Quota(text)
                        } else {
                            ProviderError::Final(text)
                        });
                    }
                    VmStatus::Terminated => {
                        return Err(ProviderError::NotFound(format!(
                            "OpenStack server {id} is being deleted"
                        )));
                    }
                    _ => false,
                };
                Ok((s, ready))
            })
            .await?;
        self.server_info(cluster, &s).await
    }

    async fn stop_vm(&self, cluster: &str, id: &str) -> Result<()> {
        let server = self.owned_or_not_found(cluster, id).await?;
        if server.vm_status() == VmStatus::Stopped && server.task_state.is_none() {
            return Ok(());
        }
        if server.task_state.as_deref() != Some("powering-off") {
            self.server_action(id, "os-stop").await?;
        }
        self.wait_for(cluster, id, "stopped", |s| {
            Ok(s.status == ServerStatus::Shutoff && s.task_state.is_none())
        })
        .await?;
        Ok(())
    }

    async fn start_vm(&self, cluster: &str, id: &str) -> Result<VmInfo> {
        let server = self.owned_or_not_found(cluster, id).await?;
        if server.status == ServerStatus::Shutoff && server.task_state.is_none() {
            self.server_action(id, "os-start").await?;
        }
        Cloud::wait_running(self, cluster, id).await
    }

    async fn destroy_vm(&self, cluster: &str, id: &str) -> Result<()> {
        let Some(server) = self.owned(cluster, id).await? else {
            return Ok(());
        };
        let fips = self.cluster_floating_ips(cluster).await?;
        self.delete_server(&server, &fips).await
    }

    async fn list_vms(&self, cluster: &str) -> Result<Vec<VmInfo>> {
        let servers = self.cluster_servers(cluster).await?;
        let fips = if servers
            .iter()
            .any(|s| s.metadata.contains_key(META_FLOATING))
        {
            self.cluster_floating_ips(cluster).await?
        } else {
            Vec::new()
        };
        Ok(servers.iter().map(|s| Self::to_info(s, &fips)).collect())
    }

    async fn destroy_cluster(&self, cluster: &str) -> Result<()> {
        let mut sweep = Sweep::new("OpenStack", cluster);
        let servers = self.cluster_servers(cluster).await?;
        let fips = self.cluster_floating_ips(cluster).await?;
        for s in &servers {
            sweep.check("server", self.delete_server(s, &[]).await);
        }
        // Every floating IP of the cluster, attached or not, whoever's.
        for f in &fips {
            let path = format!("/floatingips/{}", encode(&f.id));
            sweep.check(
                "floating IP",
                self.client.delete(Service::Network, &path).await,
            );
        }
        if !self.has_network().await? {
            return sweep.done();
        }
        // Groups can go once no port uses them: wait for the servers.
        let mut poll = self.pacing().start();
        for s in &servers {
            let path = &format!("/servers/{}", encode(&s.id));
            let mut poll_server = poll.again();
            sweep
                .wait_gone("server", &mut poll_server, || async move {
                    match self.client.get::<ServerOne>(Service::Compute, path).await {
                        Err(e) if e.is_not_found() => Ok(None),
                        Ok(one) if one.server.status == ServerStatus::Deleted => Ok(None),
                        Ok(one) => Ok(Some(format!(
                            "OpenStack server {} (status {}) is still there",
                            s.id, one.server.status
                        ))),
                        Err(e) => Err(e),
                    }
                })
                .await;
        }
        let groups: SecurityGroupList = self
            .client
            .get(Service::Network, "/security-groups")
            .await?;
        for g in groups
            .security_groups
            .iter()
            .filter(|g| label::marks_cluster(&g.description, cluster))
        {
            let path = &format!("/security-groups/{}", encode(&g.id));
            let removed = sweep
                .remove(
                    "security group",
                    &mut poll,
                    || self.client.delete(Service::Network, path),
                    // SecurityGroupInUse: a port is still going away.
                    OstError::is_conflict,
                )
                .await;
            if removed {
                tracing::info!(cluster, group = g.name, "OpenStack security group deleted");
            }
        }
        sweep.done()
    }
}

impl CloudVms for OpenStack {
    type Vm = Server;
    const NOUN: &'static str = "OpenStack server";
    const DEFAULT_LOGIN: &'static str = CLOUDADM;

    async fn fetch(&self, id: &str) -> Result<Option<Server>> {
        if id.is_empty() {
            return Ok(None);
        }
        let path = format!("/servers/{}", encode(id));
        match self.client.get::<ServerOne>(Service::Compute, &path).await {
            Ok(one) if one.server.status == ServerStatus::Deleted => Ok(None),
            Ok(one) => Ok(Some(one.server)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn marks_cluster(server: &Server, cluster: &str) -> bool {
        server.metadata.get(META_CLUSTER).map(String::as_str) == Some(cluster)
    }

    fn login_of(server: &Server) -> Option<&str> {
        server.metadata.get(META_SSH_USER).map(String::as_str)
    }

    fn state_of(server: &Server) -> String {
        match &server.task_state {
            Some(task) => format!("status {}, task {task}", server.status),
            None => format!("status {}", server.status),
        }
    }

    async fn info(&self, cluster: &str, _id: &str, server: &Server) -> Result<VmInfo> {
        self.server_info(cluster, server).await
    }

    fn pacing(&self) -> Pacing {
        Pacing::steady(self.options.poll_interval, self.options.boot_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_urls() {
        assert_eq!(
            image_id("ost://keystone.example.org/0f3a-11", "keystone.example.org").unwrap(),
            "0f3a-11"
        );
        assert_eq!(
            image_id(
                "ost://Keystone.example.org:5000/abc",
                "keystone.example.org"
            )
            .unwrap(),
            "abc"
        );
        let e = image_id("ost://other.org/abc", "keystone.example.org")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not on this OpenStack"), "{e}");
        assert!(
            image_id("one://h/3", "h")
                .unwrap_err()
                .to_string()
                .contains("ost://HOST/IMAGE_ID")
        );
        assert!(image_id("ost://h/", "h").is_err());
    }
}
