//! Talking to a Kubernetes API server for the daemon (`--queue
//! kubernetes:URL`): the core/v1 calls below, over HTTP(S) with a bearer
//! token. What the answers mean is in `elastic::kube`.
//!
//! - reading: `GET /api/v1/pods?fieldSelector=status.phase!=Succeeded,status.phase!=Failed`
//!   and `GET /api/v1/nodes`;
//! - drain: cordon (`PATCH /api/v1/nodes/NAME`, a JSON merge patch
//!   setting `spec.unschedulable`), then evict each pod still bound to
//!   the node (`POST /api/v1/namespaces/NS/pods/NAME/eviction`);
//! - undrain: uncordon; gone: `DELETE /api/v1/nodes/NAME` (a node already
//!   gone is fine).
//!
//! The token is the `token` of the first `type = Kubernetes` line of the
//! auth in use (the `-a` file, else the one recorded at launch; `token =
//! file(PATH)` reads it from a file), else the pod's service-account
//! token when the daemon runs in a pod
//! (`/var/run/secrets/kubernetes.io/serviceaccount/token`), else none.

use super::ElasticError;
use crate::auth::{AuthFile, ProviderKind};
use crate::elastic::{Snapshot, kube};
use std::time::Duration;

const CALL_TIMEOUT: Duration = Duration::from_secs(10);

const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

pub struct Kube {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// The bearer token for the API server, from the auth in use, else the
/// service account's file (read by `read`).
pub fn token(auth: Option<&AuthFile>, read: impl Fn(&str) -> Option<String>) -> Option<String> {
    auth.and_then(|a| {
        a.entries
            .iter()
            .find(|c| c.kind == ProviderKind::Kubernetes)
            .and_then(|c| c.nonblank("token"))
            .map(str::to_string)
    })
    .or_else(|| {
        read(SERVICE_ACCOUNT_TOKEN)
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    })
}

/// Checks a `kubernetes:URL` queue's URL.
pub fn check_url(url: &str) -> Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    let ok = (u.starts_with("http://") || u.starts_with("https://"))
        && u.split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(char::is_whitespace));
    if ok {
        Ok(u.to_string())
    } else {
        Err(format!(
            "`{url}` is not a Kubernetes API server URL: give http(s)://HOST[:PORT]"
        ))
    }
}

impl Kube {
    pub fn new(base: &str, token: Option<String>) -> Result<Kube, ElasticError> {
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .map_err(|e| ElasticError::Queue(format!("Kubernetes client: {e}")))?;
        Ok(Kube {
            http,
            base: base.trim_end_matches('/').to_string(),
            token,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<(u16, String), ElasticError> {
        let what = format!("{method} {}{path}", self.base);
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req = req.header("Accept", "application/json");
        if let Some((kind, b)) = body {
            req = req.header("Content-Type", kind).body(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ElasticError::Queue(format!("{what}: {e}")))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| ElasticError::Queue(format!("{what}: {e}")))?;
        Ok((status, text))
    }

    /// A call that must succeed: its body; else the API's `Status` message.
    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> Result<String, ElasticError> {
        let what = format!("{method} {}{path}", self.base);
        let (status, text) = self.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(text)
        } else {
            Err(ElasticError::Queue(format!(
                "{what}: {status} {}",
                status_message(&text)
            )))
        }
    }

    pub async fn snapshot(&self) -> Result<Snapshot, ElasticError> {
        let bad = |e: kube::KubeError| ElasticError::Queue(format!("{}: {e}", self.base));
        let pods = self
            .ok(
                reqwest::Method::GET,
                "/api/v1/pods?fieldSelector=status.phase!%3DSucceeded,status.phase!%3DFailed",
                None,
            )
            .await?;
        let nodes = self.ok(reqwest::Method::GET, "/api/v1/nodes", None).await?;
        let pods = kube::parse_pods(&pods).map_err(bad)?;
        let nodes = kube::parse_nodes(&nodes).map_err(bad)?;
        Ok(kube::snapshot(&pods, &nodes))
    }

    async fn cordon(&self, node: &str, on: bool) -> Result<(), ElasticError> {
        self.ok(
            reqwest::Method::PATCH,
            &format!("/api/v1/nodes/{node}"),
            Some((
                "application/merge-patch+json",
                serde_json::json!({"spec": {"unschedulable": on}}).to_string(),
            )),
        )
        .await
        .map(drop)
    }

    /// Cordons `node`, then evicts the pods bound to it.
    pub async fn drain(&self, node: &str) -> Result<(), ElasticError> {
        self.cordon(node, true).await?;
        let pods = self
            .ok(
                reqwest::Method::GET,
                &format!(
                    "/api/v1/pods?fieldSelector=spec.nodeName%3D{node},status.phase!%3DSucceeded,status.phase!%3DFailed"
                ),
                None,
            )
            .await?;
        let pods = kube::parse_pods(&pods)
            .map_err(|e| ElasticError::Queue(format!("{}: {e}", self.base)))?;
        for p in pods.iter().filter(|p| p.node.as_deref() == Some(node)) {
            let (ns, name) = p.id.split_once('/').unwrap_or(("default", &p.id));
            let eviction = serde_json::json!({
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns},
            });
            self.ok(
                reqwest::Method::POST,
                &format!("/api/v1/namespaces/{ns}/pods/{name}/eviction"),
                Some(("application/json", eviction.to_string())),
            )
            .await?;
        }
        Ok(())
    }

    pub async fn undrain(&self, node: &str) -> Result<(), ElasticError> {
        self.cordon(node, false).await
    }

    /// Deletes the Node object (one already gone is fine).
    pub async fn gone(&self, node: &str) -> Result<(), ElasticError> {
        let path = format!("/api/v1/nodes/{node}");
        let (status, text) = self.call(reqwest::Method::DELETE, &path, None).await?;
        if (200..300).contains(&status) || status == 404 {
            Ok(())
        } else {
            Err(ElasticError::Queue(format!(
                "DELETE {}{path}: {status} {}",
                self.base,
                status_message(&text)
            )))
        }
    }
}

/// The `message` of a Kubernetes `Status` answer, else the text.
fn status_message(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_the_auth_then_the_service_account() {
        let auth = crate::auth::parse(
            "auth.dat",
            "id = local; type = Local\nid = k; type = Kubernetes; host = http://h:1; token = abc\n",
            std::path::Path::new("."),
        )
        .unwrap();
        assert_eq!(token(Some(&auth), |_| None).as_deref(), Some("abc"));
        assert_eq!(
            token(None, |p| (p == SERVICE_ACCOUNT_TOKEN)
                .then(|| "sa\n".into()))
            .as_deref(),
            Some("sa")
        );
        assert_eq!(token(None, |_| None), None);
    }

    #[test]
    fn urls() {
        assert_eq!(
            check_url("http://10.0.0.1:6443/").unwrap(),
            "http://10.0.0.1:6443"
        );
        assert!(check_url("10.0.0.1:6443").is_err());
        assert!(check_url("https://").is_err());
    }

    #[test]
    fn status_messages() {
        assert_eq!(
            status_message(r#"{"kind":"Status","message":"nodes \"x\" not found"}"#),
            "nodes \"x\" not found"
        );
        assert_eq!(status_message("plain"), "plain");
    }
}
