//! An OpenNebula front end in the test process: an XML-RPC server over
//! HTTP (hyper) on `127.0.0.1:0` that keeps users, images and VMs in
//! memory.
//!
//! Written from the published OpenNebula XML-RPC API reference, version
//! 6.10 ("XML-RPC API", Integration and Development > System Interfaces):
//! every answer is `[success, value-or-message, error code]`, error codes
//! are AUTHENTICATION 0x0100, AUTHORIZATION 0x0200, NO_EXISTS 0x0400,
//! ACTION 0x0800, XML_RPC_API 0x1000, INTERNAL 0x2000; the first parameter
//! is the session string `username:password`. Implemented:
//!
//! - `one.user.info(session, id)`, `-1` for the connected user;
//! - `one.vm.allocate(session, template, hold)`: the template in the XML
//!   syntax the reference allows (root `TEMPLATE`); `NAME`, `CPU`, `VCPU`,
//!   `MEMORY`, `DISK`, `NIC`, `CONTEXT` go to the VM's `TEMPLATE`, other
//!   attributes to its `USER_TEMPLATE`. A VM is PENDING, then ACTIVE/BOOT,
//!   then ACTIVE/RUNNING once [`EmuConfig::boot_delay`] has passed; each
//!   NIC gets an address from the documentation ranges (192.0.2.0/24,
//!   198.51.100.0/24), which exist nowhere;
//! - `one.vm.info(session, id[, decrypt])`: the full VM document;
//! - `one.vm.action(session, action, id)` for `terminate-hard`,
//!   `terminate`, `poweroff`, `poweroff-hard`, `resume`; an action in the
//!   wrong state is an ACTION error; a terminated VM stays, DONE, as the
//!   reference's state table has it;
//! - `one.vmpool.info(session, filter, start, end, state[, filter])`: the
//!   short VM body the reference notes for this call (its user template
//!   without custom attributes);
//! - `one.image.info(session, id[, decrypt])`.
//!
//! With [`EmuConfig::hosts`], a real host of that test cloud stands behind
//! each VM: its NICs on the test cloud's networks named by
//! [`EmuConfig::networks`] (a public one reachable from this machine, a
//! private one not), booted by cloud-init with the `CONTEXT`'s
//! `USER_DATA` (base64 when `USERDATA_ENCODING` says so) and
//! `SET_HOSTNAME`; the VM is ACTIVE/BOOT until the host's sshd listens;
//! `poweroff`, `resume` and `terminate` stop, start and remove the host
//! (ACTIVE/SHUTDOWN_POWEROFF, ACTIVE/BOOT_POWEROFF, ACTIVE/EPILOG
//! meanwhile); a failed boot is ACTIVE/BOOT_FAILURE.
//!
//! Any other method is an XML-RPC fault, as is a parameter of the wrong
//! type. Tests can make the next calls fail ([`Fault`]): refused
//! credentials, a quota, a missing resource, an HTTP status, a slow answer.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::net::Ipv4Addr;
use std::sync::Weak;

use super::EmuError;
use super::backing::{Backing, HostOp, Outcome};
use crate::provider::opennebula::xml::{self, Element, Node};
use crate::provider::opennebula::xmlrpc::{self, Value};
use crate::testcloud::{
    Boot, HostSpec, Network, Nic, Role, TestCloud, TestCloudError, VolumeSpec as HostVolume,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

const AUTHENTICATION: i64 = 0x0100;
const AUTHORIZATION: i64 = 0x0200;
const NO_EXISTS: i64 = 0x0400;
const ACTION: i64 = 0x0800;
const XML_RPC_API: i64 = 0x1000;
const INTERNAL: i64 = 0x2000;

// VM states and LCM states used here.
const PENDING: i64 = 1;
const ACTIVE: i64 = 3;
const DONE: i64 = 6;
const POWEROFF: i64 = 8;
const LCM_INIT: i64 = 0;
const BOOT: i64 = 2;
const RUNNING: i64 = 3;
const EPILOG: i64 = 11;
const SHUTDOWN_POWEROFF: i64 = 18;
const BOOT_POWEROFF: i64 = 20;
const BOOT_FAILURE: i64 = 36;

/// Attributes that go to a VM's `TEMPLATE`; the rest of an allocate
/// template is its `USER_TEMPLATE`.
const SYSTEM_ATTRS: &[&str] = &["NAME", "CPU", "VCPU", "MEMORY", "DISK", "NIC", "CONTEXT"];

/// The emulated site.
#[derive(Clone, Debug)]
pub struct EmuConfig {
    pub username: String,
    pub password: String,
    /// From allocate (or resume) to RUNNING.
    pub boot_delay: Duration,
    /// At most this many VMs (not DONE) for the user.
    pub vm_quota: Option<usize>,
    /// Images by id: (name, STATE).
    pub images: BTreeMap<i64, (String, i64)>,
    /// Virtual networks for hosts: (id, name, public). Without hosts a
    /// NIC's network does not matter.
    pub networks: Vec<(i64, String, bool)>,
    /// Real hosts behind the VMs (see the module's documentation).
    pub hosts: Option<TestCloud>,
}

impl Default for EmuConfig {
    fn default() -> Self {
        EmuConfig {
            username: "oneuser".into(),
            password: "onepass".into(),
            boot_delay: Duration::from_millis(100),
            vm_quota: None,
            images: [(5, ("ubuntu-22.04".to_string(), 1))].into_iter().collect(),
            networks: vec![(0, "public".into(), true), (1, "private".into(), false)],
            hosts: None,
        }
    }
}

/// A failure to answer with instead of the method's result.
#[derive(Clone, Debug)]
pub enum Fault {
    /// This HTTP status, with an HTML body.
    Http(u16),
    /// The session is refused (AUTHENTICATION).
    AuthFailure,
    /// The resource does not exist (NO_EXISTS).
    NotFound,
    /// A VMS quota is exceeded (AUTHORIZATION, as OpenNebula's quotas answer).
    Quota,
    /// An XML-RPC fault.
    XmlRpc,
    /// Answer normally, after this long.
    Slow(Duration),
}

struct Injected {
    method: Option<String>,
    fault: Fault,
    times: usize,
}

/// A VM as the emulator keeps it.
#[derive(Clone, Debug)]
pub struct EmuVm {
    pub id: i64,
    pub uid: i64,
    pub name: String,
    pub state: i64,
    pub lcm_state: i64,
    /// The `TEMPLATE` part of what was allocated, with NIC addresses added.
    pub template: Element,
    /// The `USER_TEMPLATE` part.
    pub user_template: Vec<(String, String)>,
    /// When booting started, while booting.
    booting_since: Option<Instant>,
    /// The last boot of its host, when hosts back the VMs.
    pub boot: Option<Boot>,
}

struct State {
    config: EmuConfig,
    vms: BTreeMap<i64, EmuVm>,
    next_id: i64,
    faults: Vec<Injected>,
    calls: Vec<String>,
    backing: Option<Arc<Backing>>,
    /// Network id → the first three octets of its test-cloud /24.
    prefixes: BTreeMap<i64, String>,
    /// Every boot of a host, in the order they ended: (VM name, boot).
    boots: Vec<(String, Boot)>,
    me: Weak<Mutex<State>>,
}

impl State {
    /// Moves booting VMs along: PENDING for the first half of the boot
    /// delay, ACTIVE/BOOT for the second, then ACTIVE/RUNNING.
    fn advance(&mut self) {
        let delay = self.config.boot_delay;
        for vm in self.vms.values_mut() {
            let Some(since) = vm.booting_since else {
                continue;
            };
            let t = since.elapsed();
            (vm.state, vm.lcm_state) = if t >= delay {
                vm.booting_since = None;
                (ACTIVE, RUNNING)
            } else if t >= delay / 2 {
                (ACTIVE, BOOT)
            } else {
                (PENDING, LCM_INIT)
            };
        }
    }

    /// Queues `op` for VM `id`'s host; `then` records the outcome.
    fn host_op(
        &self,
        id: i64,
        op: HostOp,
        then: impl FnOnce(&mut State, i64, Outcome) + Send + 'static,
    ) {
        let Some(backing) = &self.backing else {
            return;
        };
        let me = self.me.clone();
        backing.submit(
            &host_name(id),
            op,
            Box::new(move |outcome| {
                if let Some(state) = me.upgrade() {
                    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                    then(&mut st, id, outcome);
                }
            }),
        );
    }

    /// After a boot or a resume: RUNNING, or BOOT_FAILURE.
    fn booted(&mut self, id: i64, outcome: Outcome) {
        let Some(vm) = self.vms.get_mut(&id) else {
            return;
        };
        if vm.state == DONE {
            return;
        }
        match outcome {
            Ok(boot) => {
                (vm.state, vm.lcm_state) = (ACTIVE, RUNNING);
                if let Some(b) = &boot {
                    self.boots.push((vm.name.clone(), b.clone()));
                }
                vm.boot = boot;
            }
            Err(e) => {
                (vm.state, vm.lcm_state) = (ACTIVE, BOOT_FAILURE);
                tracing::warn!(vm = id, error = %e, "test cloud host did not boot");
            }
        }
    }

    fn take_fault(&mut self, method: &str) -> Option<Fault> {
        let i = self
            .faults
            .iter()
            .position(|f| f.method.as_deref().is_none_or(|m| m == method))?;
        let fault = self.faults[i].fault.clone();
        self.faults[i].times -= 1;
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }
}

/// A running emulator; stops when dropped.
pub struct OneEmu {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OneEmu {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OneEmu {
    /// Starts the emulator on 127.0.0.1 (a free port).
    pub async fn start(config: EmuConfig) -> OneEmu {
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        OneEmu::start_on(config, bind)
            .await
            .unwrap_or_else(|e| panic!("the OpenNebula emulator cannot start: {e}"))
    }

    /// Starts the emulator on `bind`; with [`EmuConfig::hosts`], first
    /// makes the test cloud's networks.
    pub async fn start_on(config: EmuConfig, bind: SocketAddr) -> Result<OneEmu, EmuError> {
        let mut prefixes = BTreeMap::new();
        let backing = match config.hosts.clone() {
            Some(cloud) => {
                let nets = config.networks.clone();
                let made = {
                    let cloud = cloud.clone();
                    tokio::task::spawn_blocking(move || {
                        nets.iter()
                            .map(|(id, name, public)| {
                                let role = if *public { Role::Public } else { Role::Private };
                                cloud.network(name, role).map(|n| (*id, n))
                            })
                            .collect::<Result<Vec<(i64, Network)>, TestCloudError>>()
                    })
                    .await
                    .map_err(|e| EmuError::Io(std::io::Error::other(e)))??
                };
                for (id, net) in made {
                    let [a, b, c, _] = net.address(0).octets();
                    prefixes.insert(id, format!("{a}.{b}.{c}"));
                }
                Some(Arc::new(Backing::new(cloud)))
            }
            None => None,
        };
        let state = Arc::new_cyclic(|me| {
            Mutex::new(State {
                config,
                vms: BTreeMap::new(),
                next_id: 0,
                faults: Vec::new(),
                calls: Vec::new(),
                backing,
                prefixes,
                boots: Vec::new(),
                me: me.clone(),
            })
        });
        let shared = state.clone();
        let (addr, task) = super::serve_on(bind, move |_, req| serve(shared.clone(), req)).await?;
        Ok(OneEmu { addr, state, task })
    }

    /// Every boot of a host behind a VM so far: (VM name, boot).
    pub fn boots(&self) -> Vec<(String, Boot)> {
        self.state.lock().unwrap().boots.clone()
    }

    /// The XML-RPC endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}/RPC2", self.addr)
    }

    /// Answers the next `times` calls of `method` (any method if `None`)
    /// with `fault`.
    pub fn inject(&self, method: Option<&str>, fault: Fault, times: usize) {
        self.state.lock().unwrap().faults.push(Injected {
            method: method.map(str::to_string),
            fault,
            times,
        });
    }

    /// The methods called so far, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn count(&self, method: &str) -> usize {
        self.calls().iter().filter(|m| *m == method).count()
    }

    pub fn vm(&self, id: i64) -> Option<EmuVm> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.vms.get(&id).cloned()
    }

    /// The VMs that are not DONE.
    pub fn live_vms(&self) -> Vec<EmuVm> {
        let mut st = self.state.lock().unwrap();
        st.advance();
        st.vms
            .values()
            .filter(|v| v.state != DONE)
            .cloned()
            .collect()
    }

    /// Forces a VM's state (a boot failure, say).
    pub fn set_state(&self, id: i64, state: i64, lcm_state: i64) {
        let mut st = self.state.lock().unwrap();
        let vm = st.vms.get_mut(&id).unwrap();
        (vm.state, vm.lcm_state, vm.booting_since) = (state, lcm_state, None);
    }

    /// A running VM someone else made (no nubo marks), owned by the user.
    pub fn add_foreign_vm(&self, name: &str) -> i64 {
        let mut st = self.state.lock().unwrap();
        let template =
            xml::parse("<TEMPLATE><NIC><NETWORK_ID>0</NETWORK_ID></NIC></TEMPLATE>").unwrap();
        let id = allocate(&mut st, name, template, Vec::new());
        let vm = st.vms.get_mut(&id).unwrap();
        (vm.state, vm.lcm_state, vm.booting_since) = (ACTIVE, RUNNING, None);
        id
    }
}

use super::Answer;

fn http(status: StatusCode, content_type: &str, body: String) -> Answer {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn xml_answer(body: String) -> Answer {
    http(StatusCode::OK, "text/xml", body)
}

/// `[true, value, 0]`.
fn success(v: Value) -> Answer {
    xml_answer(xmlrpc::encode_response(&Value::Array(vec![
        Value::Bool(true),
        v,
        Value::Int(0),
    ])))
}

/// `[false, message, code]`.
fn failure(method: &str, code: i64, message: &str) -> Answer {
    xml_answer(xmlrpc::encode_response(&Value::Array(vec![
        Value::Bool(false),
        Value::String(format!("[{method}] {message}")),
        Value::Int(code),
    ])))
}

async fn serve(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    if req.method() != hyper::Method::POST || req.uri().path() != "/RPC2" {
        return Ok(http(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".into(),
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(http(
                StatusCode::BAD_REQUEST,
                "text/plain",
                "bad body\n".into(),
            ));
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return Ok(xml_answer(xmlrpc::encode_fault(-32700, "not UTF-8")));
    };
    let (method, params) = match xmlrpc::decode_call(text) {
        Ok(c) => c,
        Err(e) => return Ok(xml_answer(xmlrpc::encode_fault(-32700, &e.to_string()))),
    };
    let fault = {
        let mut st = state.lock().unwrap();
        st.calls.push(method.clone());
        st.take_fault(&method)
    };
    match fault {
        Some(Fault::Http(code)) => {
            let status = StatusCode::from_u16(code).unwrap();
            return Ok(http(
                status,
                "text/html",
                format!("<html><body>{code}</body></html>\n"),
            ));
        }
        Some(Fault::AuthFailure) => {
            return Ok(failure(
                &method,
                AUTHENTICATION,
                "User couldn't be authenticated, aborting call.",
            ));
        }
        Some(Fault::NotFound) => {
            return Ok(failure(
                &method,
                NO_EXISTS,
                "Error getting the requested object.",
            ));
        }
        Some(Fault::Quota) => {
            return Ok(failure(
                &method,
                AUTHORIZATION,
                "User [0] : VMS quota exceeded (limit of 0 reached).",
            ));
        }
        Some(Fault::XmlRpc) => {
            return Ok(xml_answer(xmlrpc::encode_fault(-501, "Type mismatch")));
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let mut st = state.lock().unwrap();
    st.advance();
    Ok(dispatch(&mut st, &method, &params))
}

/// Checks the parameter types (after the session): `s` string, `i` int,
/// `b` boolean; `optional` trailing ones may be left out.
fn signature(params: &[Value], want: &str, optional: usize) -> bool {
    let n = params.len();
    if n > want.len() || n + optional < want.len() {
        return false;
    }
    params.iter().zip(want.chars()).all(|(p, t)| match t {
        's' => p.as_str().is_some(),
        'i' => p.as_i64().is_some(),
        'b' => p.as_bool().is_some(),
        _ => false,
    })
}

fn dispatch(st: &mut State, method: &str, params: &[Value]) -> Answer {
    let Some(session) = params.first().and_then(Value::as_str) else {
        return xml_answer(xmlrpc::encode_fault(
            -501,
            "Type mismatch: the session string",
        ));
    };
    let expected = format!("{}:{}", st.config.username, st.config.password);
    let args = &params[1..];
    let sig = match method {
        "one.user.info" => ("i", 1),
        "one.vm.allocate" => ("sb", 1),
        "one.vm.info" => ("ib", 1),
        "one.vm.action" => ("si", 0),
        "one.vmpool.info" => ("iiiis", 1),
        "one.image.info" => ("ib", 1),
        _ => {
            return xml_answer(xmlrpc::encode_fault(
                -506,
                &format!("Method {method} not defined"),
            ));
        }
    };
    if !signature(args, sig.0, sig.1) {
        return xml_answer(xmlrpc::encode_fault(-501, "Type mismatch"));
    }
    if session != expected {
        return failure(
            method,
            AUTHENTICATION,
            "User couldn't be authenticated, aborting call.",
        );
    }
    let uid = 0;
    match method {
        "one.user.info" => {
            let id = args[0].as_i64().unwrap();
            if id != -1 && id != uid {
                return failure(method, NO_EXISTS, &format!("Error getting user [{id}]."));
            }
            success(Value::String(format!(
                "<USER><ID>{uid}</ID><GID>1</GID><NAME>{}</NAME><ENABLED>1</ENABLED></USER>",
                xml::escape(&st.config.username)
            )))
        }
        "one.vm.allocate" => {
            let Ok(t) = xml::parse(args[0].as_str().unwrap()) else {
                return failure(method, INTERNAL, "Parse error: the template is not XML.");
            };
            if t.name != "TEMPLATE" {
                return failure(
                    method,
                    INTERNAL,
                    "Parse error: the root element must be TEMPLATE.",
                );
            }
            if let Some(quota) = st.config.vm_quota {
                let used = st
                    .vms
                    .values()
                    .filter(|v| v.uid == uid && v.state != DONE)
                    .count();
                if used >= quota {
                    return failure(
                        method,
                        AUTHORIZATION,
                        &format!("User [{uid}] : VMS quota exceeded (limit of {quota} reached)."),
                    );
                }
            }
            let name = t.child_text("NAME").unwrap_or_default();
            let mut system = Element {
                name: "TEMPLATE".into(),
                children: Vec::new(),
            };
            let mut user = Vec::new();
            for e in t.elements() {
                if SYSTEM_ATTRS.contains(&e.name.as_str()) {
                    system.children.push(Node::Element(e.clone()));
                } else {
                    user.push((e.name.clone(), e.text().trim().to_string()));
                }
            }
            let hold = args.get(1).and_then(Value::as_bool).unwrap_or(false);
            if st.backing.is_some() {
                for nic in system.children_named("NIC") {
                    if network_of(&st.config, nic).is_none() {
                        return failure(
                            method,
                            NO_EXISTS,
                            "Error getting virtual network: no such network in this site.",
                        );
                    }
                }
            }
            let id = allocate(st, &name, system, user);
            if hold {
                let vm = st.vms.get_mut(&id).unwrap();
                (vm.state, vm.booting_since) = (2, None);
            } else if st.backing.is_some() {
                boot_host(st, id);
            }
            success(Value::Int(id))
        }
        "one.vm.info" => {
            let id = args[0].as_i64().unwrap();
            match st.vms.get(&id) {
                Some(vm) => success(Value::String(vm_document(vm, &st.config, true))),
                None => failure(
                    method,
                    NO_EXISTS,
                    &format!("Error getting virtual machine [{id}]."),
                ),
            }
        }
        "one.vm.action" => {
            let action = args[0].as_str().unwrap();
            let id = args[1].as_i64().unwrap();
            let Some(vm) = st.vms.get_mut(&id) else {
                return failure(
                    method,
                    NO_EXISTS,
                    &format!("Error getting virtual machine [{id}]."),
                );
            };
            let wrong = || {
                format!(
                    "Error performing action \"{action}\": wrong state {}",
                    vm_state_name(vm.state)
                )
            };
            let hosted = st.backing.is_some();
            match action {
                "terminate-hard" | "terminate" if vm.state != DONE && hosted => {
                    (vm.state, vm.lcm_state, vm.booting_since) = (ACTIVE, EPILOG, None);
                    st.host_op(id, HostOp::Remove, |st, id, outcome| {
                        if let Some(vm) = st.vms.get_mut(&id) {
                            match outcome {
                                Ok(_) => (vm.state, vm.lcm_state) = (DONE, LCM_INIT),
                                Err(e) => {
                                    (vm.state, vm.lcm_state) = (ACTIVE, 14);
                                    tracing::warn!(vm = id, error = %e, "test cloud host not removed");
                                }
                            }
                        }
                    });
                }
                "terminate-hard" | "terminate" if vm.state != DONE => {
                    (vm.state, vm.lcm_state, vm.booting_since) = (DONE, LCM_INIT, None);
                }
                "poweroff" | "poweroff-hard"
                    if vm.state == ACTIVE && vm.lcm_state == RUNNING && hosted =>
                {
                    vm.lcm_state = SHUTDOWN_POWEROFF;
                    st.host_op(id, HostOp::Stop, |st, id, outcome| {
                        if let Some(vm) = st.vms.get_mut(&id) {
                            (vm.state, vm.lcm_state) = match outcome {
                                Ok(_) => (POWEROFF, LCM_INIT),
                                Err(_) => (ACTIVE, 14),
                            };
                        }
                    });
                }
                "poweroff" | "poweroff-hard" if vm.state == ACTIVE && vm.lcm_state == RUNNING => {
                    (vm.state, vm.lcm_state) = (POWEROFF, LCM_INIT);
                }
                "resume" if vm.state == POWEROFF && hosted => {
                    (vm.state, vm.lcm_state) = (ACTIVE, BOOT_POWEROFF);
                    st.host_op(id, HostOp::Start, State::booted);
                }
                "resume" if vm.state == POWEROFF => {
                    (vm.state, vm.lcm_state, vm.booting_since) =
                        (ACTIVE, BOOT, Some(Instant::now()));
                }
                "terminate-hard" | "terminate" | "poweroff" | "poweroff-hard" | "resume" => {
                    let m = wrong();
                    return failure(method, ACTION, &m);
                }
                other => {
                    return failure(method, XML_RPC_API, &format!("Unknown action `{other}`."));
                }
            }
            success(Value::Int(id))
        }
        "one.vmpool.info" => {
            let filter = args[0].as_i64().unwrap();
            let (start, end) = (args[1].as_i64().unwrap(), args[2].as_i64().unwrap());
            let state_filter = args[3].as_i64().unwrap();
            let mut doc = String::from("<VM_POOL>");
            for vm in st.vms.values() {
                let mine = match filter {
                    -3 | -1 => vm.uid == uid,
                    -2 | -4 => true,
                    n => vm.uid == n,
                };
                let in_range = (start < 0 || vm.id >= start) && (end < 0 || vm.id <= end);
                let in_state = match state_filter {
                    -2 => true,
                    -1 => vm.state != DONE,
                    s => vm.state == s,
                };
                if mine && in_range && in_state {
                    doc.push_str(&vm_document(vm, &st.config, false));
                }
            }
            doc.push_str("</VM_POOL>");
            success(Value::String(doc))
        }
        "one.image.info" => {
            let id = args[0].as_i64().unwrap();
            match st.config.images.get(&id) {
                Some((name, state)) => success(Value::String(format!(
                    "<IMAGE><ID>{id}</ID><UID>{uid}</UID><NAME>{}</NAME><TYPE>0</TYPE><STATE>{state}</STATE></IMAGE>",
                    xml::escape(name)
                ))),
                None => failure(method, NO_EXISTS, &format!("Error getting image [{id}].")),
            }
        }
        _ => unreachable!(),
    }
}

/// The configured network a NIC names (`NETWORK_ID` or `NETWORK`).
fn network_of<'a>(config: &'a EmuConfig, nic: &Element) -> Option<&'a (i64, String, bool)> {
    match (nic.child_text("NETWORK_ID"), nic.child_text("NETWORK")) {
        (Some(id), _) => {
            let id = id.trim().parse::<i64>().ok()?;
            config.networks.iter().find(|n| n.0 == id)
        }
        (None, Some(name)) => config.networks.iter().find(|n| n.1 == name.trim()),
        (None, None) => None,
    }
}

/// The test-cloud host behind VM `id`.
fn host_name(id: i64) -> String {
    format!("one-{id}")
}

/// Boots VM `id`'s host from its template: NICs, `CONTEXT/USER_DATA`,
/// `CONTEXT/SET_HOSTNAME`. The VM is ACTIVE/BOOT until it is up.
fn boot_host(st: &mut State, id: i64) {
    let Some(vm) = st.vms.get_mut(&id) else {
        return;
    };
    (vm.state, vm.lcm_state, vm.booting_since) = (ACTIVE, BOOT, None);
    let ctx = vm.template.child("CONTEXT");
    let text = |k: &str| {
        ctx.and_then(|c| c.child_text(k))
            .map(|t| t.trim().to_string())
    };
    let mut user_data = text("USER_DATA").unwrap_or_default();
    if text("USERDATA_ENCODING").as_deref() == Some("base64") {
        user_data = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &user_data)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
    }
    let nics = vm
        .template
        .children_named("NIC")
        .filter_map(|n| {
            Some(Nic {
                network: network_of(&st.config, n)?.1.clone(),
                ip: n.child_text("IP")?.parse::<Ipv4Addr>().ok()?,
            })
        })
        .collect();
    // Volatile disks (`SIZE`, no image): a volume each, at `TARGET`.
    let volumes = vm
        .template
        .children_named("DISK")
        .filter(|d| d.child("IMAGE_ID").is_none() && d.child("IMAGE").is_none())
        .enumerate()
        .filter_map(|(k, d)| {
            let size_mib = d.child_text("SIZE")?.trim().parse::<u32>().ok()?;
            let dev = d
                .child_text("TARGET")
                .map(|t| t.trim().to_string())
                .unwrap_or_else(|| format!("vd{}", char::from(b'b' + k as u8)));
            Some(HostVolume { dev, size_mib })
        })
        .collect();
    let spec = HostSpec {
        name: host_name(id),
        user_data,
        instance_id: host_name(id),
        local_hostname: text("SET_HOSTNAME").filter(|h| !h.is_empty()),
        nics,
        volumes,
    };
    st.host_op(id, HostOp::Boot(spec), State::booted);
}

/// Adds a VM, PENDING and booting; gives each NIC an address.
fn allocate(st: &mut State, name: &str, mut template: Element, user: Vec<(String, String)>) -> i64 {
    let id = st.next_id;
    st.next_id += 1;
    let mut nic_id = 0u8;
    let backed = st.backing.is_some();
    let mut taken: Vec<String> = Vec::new();
    for node in &mut template.children {
        if let Node::Element(nic) = node
            && nic.name == "NIC"
        {
            let net = ["192.0.2", "198.51.100"][usize::from(nic_id % 2)];
            let mut ip = format!("{net}.{}", 10 + id % 200);
            if backed
                && let Some((net_id, _, _)) = network_of(&st.config, nic)
                && let Some(prefix) = st.prefixes.get(net_id)
            {
                // The lowest free address, skipping this VM's own.
                ip = (10..255)
                    .map(|n| format!("{prefix}.{n}"))
                    .find(|a| !taken.contains(a) && !ip_used(st, a))
                    .unwrap_or(ip);
                taken.push(ip.clone());
            }
            for (k, v) in [("IP", ip), ("NIC_ID", nic_id.to_string())] {
                nic.children.push(Node::Element(Element {
                    name: k.into(),
                    children: vec![Node::Text(v)],
                }));
            }
            nic_id += 1;
        }
    }
    let name = if name.is_empty() {
        format!("one-{id}")
    } else {
        name.to_string()
    };
    st.vms.insert(
        id,
        EmuVm {
            id,
            uid: 0,
            name,
            state: PENDING,
            lcm_state: LCM_INIT,
            template,
            user_template: user,
            booting_since: Some(Instant::now()),
            boot: None,
        },
    );
    id
}

/// Whether a live VM's NIC holds `ip`.
fn ip_used(st: &State, ip: &str) -> bool {
    st.vms.values().filter(|v| v.state != DONE).any(|v| {
        v.template
            .children_named("NIC")
            .any(|n| n.child_text("IP").is_some_and(|t| t.trim() == ip))
    })
}

fn vm_state_name(state: i64) -> &'static str {
    match state {
        0 => "INIT",
        1 => "PENDING",
        2 => "HOLD",
        3 => "ACTIVE",
        6 => "DONE",
        8 => "POWEROFF",
        _ => "OTHER",
    }
}

fn write_element(out: &mut String, e: &Element) {
    out.push_str(&format!("<{}>", e.name));
    for c in &e.children {
        match c {
            Node::Element(child) => write_element(out, child),
            Node::Text(t) => out.push_str(&format!("<![CDATA[{t}]]>")),
        }
    }
    out.push_str(&format!("</{}>", e.name));
}

/// A VM document: full for `one.vm.info`, the short body (CPU, MEMORY and
/// NICs in the template; no custom user attributes) for the pool.
fn vm_document(vm: &EmuVm, config: &EmuConfig, full: bool) -> String {
    let mut d = format!(
        "<VM><ID>{}</ID><UID>{}</UID><GID>1</GID><UNAME>{}</UNAME><GNAME>users</GNAME><NAME>{}</NAME>\
         <LAST_POLL>0</LAST_POLL><STATE>{}</STATE><LCM_STATE>{}</LCM_STATE><RESCHED>0</RESCHED>\
         <STIME>0</STIME><ETIME>0</ETIME><DEPLOY_ID></DEPLOY_ID>",
        vm.id,
        vm.uid,
        xml::escape(&config.username),
        xml::escape(&vm.name),
        vm.state,
        vm.lcm_state
    );
    if full {
        write_element(&mut d, &vm.template);
        d.push_str("<USER_TEMPLATE>");
        for (k, v) in &vm.user_template {
            d.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
        }
        d.push_str("</USER_TEMPLATE>");
    } else {
        let mut short = Element {
            name: "TEMPLATE".into(),
            children: Vec::new(),
        };
        for e in vm.template.elements() {
            if matches!(e.name.as_str(), "CPU" | "MEMORY" | "NIC") {
                short.children.push(Node::Element(e.clone()));
            }
        }
        write_element(&mut d, &short);
        d.push_str("<MONITORING/><USER_TEMPLATE/>");
    }
    d.push_str("<HISTORY_RECORDS/></VM>");
    d
}
