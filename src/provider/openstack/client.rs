//! [`OstClient`]: authenticated JSON calls to OpenStack's services.
//!
//! The client authenticates with Keystone when it first needs a token,
//! keeps the token (a [`Secret`]) and the endpoints of its catalog, and
//! authenticates again when the token is about to expire or when a
//! service answers 401 (once: a second 401 is an error). No request body is
//! ever logged: the Keystone one holds the password.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::error::{OstError, Service, error_message};
use super::keystone::{self, AuthMethod, EndpointChoice, Endpoints, TokenBody};
use crate::state::Secret;

/// A token and what came with it.
#[derive(Debug)]
pub struct Session {
    pub token: Secret,
    pub expires_at: Option<SystemTime>,
    pub endpoints: Endpoints,
    pub project_id: Option<String>,
    pub user: Option<String>,
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json<T: DeserializeOwned>(&self, service: Service, what: &str) -> Result<T, OstError> {
        serde_json::from_slice(&self.body).map_err(|e| OstError::Malformed {
            service,
            what: what.to_string(),
            message: e.to_string(),
        })
    }
}

/// Settings of the client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `POST` URL of Keystone's tokens (see [`keystone::tokens_url`]).
    pub tokens_url: String,
    pub auth: AuthMethod,
    pub choice: EndpointChoice,
    /// Bound on one HTTP call, connection included.
    pub timeout: Duration,
    /// A token this close to its expiry is replaced before use.
    pub token_margin: Duration,
}

pub struct OstClient {
    http: reqwest::Client,
    config: ClientConfig,
    session: tokio::sync::Mutex<Option<Arc<Session>>>,
    authentications: AtomicUsize,
}

impl std::fmt::Debug for OstClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OstClient")
            .field("keystone", &self.config.tokens_url)
            .field("region", &self.config.choice.region)
            .finish_non_exhaustive()
    }
}

impl OstClient {
    pub fn new(config: ClientConfig) -> Result<Self, OstError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| OstError::Transport {
                service: Service::Identity,
                url: config.tokens_url.clone(),
                message: format!("cannot set up the HTTP client: {e}"),
                timeout: false,
            })?;
        Ok(OstClient {
            http,
            config,
            session: tokio::sync::Mutex::new(None),
            authentications: AtomicUsize::new(0),
        })
    }

    pub fn tokens_url(&self) -> &str {
        &self.config.tokens_url
    }

    /// How many times this client has asked Keystone for a token.
    pub fn authentications(&self) -> usize {
        self.authentications.load(Ordering::Relaxed)
    }

    /// A valid session: the kept one while it is not near its expiry,
    /// else a new one.
    pub async fn session(&self) -> Result<Arc<Session>, OstError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref()
            && self.usable(s)
        {
            return Ok(s.clone());
        }
        let s = Arc::new(self.authenticate().await?);
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Drops the kept session if it is still `stale` (another call may
    /// have replaced it already) and returns a valid one.
    async fn renew(&self, stale: &Arc<Session>) -> Result<Arc<Session>, OstError> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref()
            && !Arc::ptr_eq(s, stale)
            && self.usable(s)
        {
            return Ok(s.clone());
        }
        *guard = None;
        let s = Arc::new(self.authenticate().await?);
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Forgets the kept token, so the next call authenticates.
    pub async fn forget_token(&self) {
        *self.session.lock().await = None;
    }

    fn usable(&self, s: &Session) -> bool {
        s.expires_at
            .is_none_or(|t| SystemTime::now() + self.config.token_margin < t)
    }

    /// `POST /v3/auth/tokens`.
    async fn authenticate(&self) -> Result<Session, OstError> {
        self.authentications.fetch_add(1, Ordering::Relaxed);
        let url = &self.config.tokens_url;
        let body =
            serde_json::to_vec(&self.config.auth.request_body()).expect("a JSON value serializes");
        let started = Instant::now();
        let transport = |e: reqwest::Error| OstError::Transport {
            service: Service::Identity,
            url: url.clone(),
            message: crate::provider::describe_http_error(&e),
            timeout: e.is_timeout(),
        };
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.map_err(transport)?;
        tracing::debug!(
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "Keystone authentication"
        );
        if !(200..300).contains(&status) {
            return Err(OstError::Http {
                service: Service::Identity,
                method: "POST".into(),
                path: "/v3/auth/tokens".into(),
                status,
                message: error_message(&bytes),
            });
        }
        let malformed = |message: &str| OstError::Malformed {
            service: Service::Identity,
            what: "POST /v3/auth/tokens".into(),
            message: message.to_string(),
        };
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| malformed("no X-Subject-Token header"))?;
        let body: TokenBody =
            serde_json::from_slice(&bytes).map_err(|e| malformed(&e.to_string()))?;
        let expires_at = match &body.token.expires_at {
            Some(t) => Some(
                keystone::parse_timestamp(t)
                    .ok_or_else(|| malformed(&format!("expires_at `{t}` is not a time")))?,
            ),
            None => None,
        };
        let endpoints = keystone::endpoints(&body.token.catalog, &self.config.choice)?;
        tracing::debug!(
            compute = endpoints.compute,
            network = endpoints.network,
            image = endpoints.image,
            "OpenStack endpoints"
        );
        Ok(Session {
            token: Secret::new(token),
            expires_at,
            endpoints,
            project_id: body.token.project.and_then(|p| p.id),
            user: body.token.user.and_then(|u| u.name.or(u.id)),
        })
    }

    /// The base URL of a service in a session.
    fn base(&self, session: &Session, service: Service) -> Result<String, OstError> {
        let missing = || {
            OstError::Catalog(format!(
                "Keystone's catalog has no public `{}` endpoint{}",
                service.catalog_type(),
                self.config
                    .choice
                    .region
                    .as_deref()
                    .map(|r| format!(" in region `{r}`"))
                    .unwrap_or_default()
            ))
        };
        let e = &session.endpoints;
        Ok(match service {
            Service::Compute => e.compute.clone(),
            // Neutron's and Glance's catalog URLs usually lack the version.
            Service::Network => versioned(e.network.as_deref().ok_or_else(missing)?, "v2.0"),
            Service::Image => versioned(e.image.as_deref().ok_or_else(missing)?, "v2"),
            Service::Identity => self.config.tokens_url.clone(),
        })
    }

    /// Whether the catalog offers `service`.
    pub async fn has(&self, service: Service) -> Result<bool, OstError> {
        let s = self.session().await?;
        Ok(match service {
            Service::Compute | Service::Identity => true,
            Service::Network => s.endpoints.network.is_some(),
            Service::Image => s.endpoints.image.is_some(),
        })
    }

    /// Calls `method path` on `service` with an optional JSON body; a 401
    /// makes the client authenticate again and repeat the call once.
    pub async fn call(
        &self,
        service: Service,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, OstError> {
        let session = self.session().await?;
        match self.send(&session, service, &method, path, body).await {
            Err(e) if e.status() == Some(401) => {
                tracing::debug!(
                    service = service.name(),
                    path,
                    "token refused; authenticating again"
                );
                let fresh = self.renew(&session).await?;
                self.send(&fresh, service, &method, path, body).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        session: &Session,
        service: Service,
        method: &Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Reply, OstError> {
        let url = format!("{}{path}", self.base(session, service)?);
        let started = Instant::now();
        let transport = |e: reqwest::Error| OstError::Transport {
            service,
            url: url.clone(),
            message: crate::provider::describe_http_error(&e),
            timeout: e.is_timeout(),
        };
        let mut req = self
            .http
            .request(method.clone(), &url)
            .header("X-Auth-Token", session.token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).expect("a JSON value serializes"));
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport)?;
        tracing::debug!(
            service = service.name(),
            %method,
            path,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "OpenStack call"
        );
        if !(200..300).contains(&status) {
            return Err(OstError::Http {
                service,
                method: method.to_string(),
                path: path.split('?').next().unwrap_or(path).to_string(),
                status,
                message: error_message(&bytes),
            });
        }
        Ok(Reply {
            status,
            body: bytes.to_vec(),
        })
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        service: Service,
        path: &str,
    ) -> Result<T, OstError> {
        self.call(service, Method::GET, path, None)
            .await?
            .json(service, &format!("GET {path}"))
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        service: Service,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, OstError> {
        self.call(service, Method::POST, path, Some(body))
            .await?
            .json(service, &format!("POST {path}"))
    }

    /// `DELETE`; a 404 counts as done.
    pub async fn delete(&self, service: Service, path: &str) -> Result<(), OstError> {
        match self.call(service, Method::DELETE, path, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// `base` ending in `/VERSION`.
fn versioned(base: &str, version: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(&format!("/{version}")) {
        base.to_string()
    } else {
        format!("{base}/{version}")
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_encoding() {
        assert_eq!(versioned("http://h:9696/", "v2.0"), "http://h:9696/v2.0");
        assert_eq!(
            versioned("http://h:9696/v2.0", "v2.0"),
            "http://h:9696/v2.0"
        );
        assert_eq!(versioned("http://h/image", "v2"), "http://h/image/v2");
        assert_eq!(encode("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode("0f-3a_b.c~"), "0f-3a_b.c~");
    }

    #[tokio::test]
    async fn a_closed_port_is_a_transport_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = OstClient::new(ClientConfig {
            tokens_url: format!("http://127.0.0.1:{port}/v3/auth/tokens"),
            auth: AuthMethod::AppCred {
                id: "a".into(),
                secret: Secret::new("hunter2"),
            },
            choice: EndpointChoice::default(),
            timeout: Duration::from_secs(2),
            token_margin: Duration::from_secs(1),
        })
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let e = c.session().await.unwrap_err();
        assert!(
            matches!(e, OstError::Transport { timeout: false, .. }),
            "{e:?}"
        );
        assert!(crate::provider::ProviderError::from(e).is_transient());
    }
}
