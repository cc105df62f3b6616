//! [`OneClient`]: OpenNebula's XML-RPC methods over HTTP POST.
//!
//! Every call sends the session string `username:password` (the core auth
//! driver's form) as its first parameter; it lives in a [`Secret`] and no
//! request body is ever logged. Answers are `[success, value-or-message,
//! error code, ...]`; a failure becomes [`OneError::Failure`].

use std::time::{Duration, Instant};

use super::error::OneError;
use super::vm::{self, OneImage, OneVm};
use super::xml;
use super::xmlrpc::{self, Response, Value};
use crate::state::Secret;

/// OpenNebula's XML-RPC port.
pub const DEFAULT_PORT: u16 = 2633;

/// The endpoint URL for an auth file's `host`: a URL
/// (`http://one.example.org:2633/RPC2`) is taken as is; `HOST[:PORT]`
/// becomes `http://HOST:PORT/RPC2`, as IM builds it. Returns the URL and
/// its host name.
pub fn endpoint_url(host: &str) -> Result<(String, String), OneError> {
    let host = host.trim();
    let bad = |why: &str| OneError::Credential {
        credential: "host".into(),
        message: format!("`{host}` is not an OpenNebula endpoint: {why}"),
    };
    let (url, authority) = if let Some((scheme, rest)) = host.split_once("://") {
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let url = if rest.contains('/') {
            host.to_string()
        } else {
            format!("{host}/RPC2")
        };
        (url, authority.to_string())
    } else {
        if host.contains('/') {
            return Err(bad("write `HOST:PORT` or a full URL"));
        }
        let authority = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:{DEFAULT_PORT}")
        };
        (format!("http://{authority}/RPC2"), authority)
    };
    let name = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
        None => authority.split(':').next().unwrap_or_default().to_string(),
    };
    if name.is_empty() {
        return Err(bad("it names no host"));
    }
    Ok((url, name))
}

/// An XML-RPC client of one OpenNebula front end, for one user.
#[derive(Clone)]
pub struct OneClient {
    http: reqwest::Client,
    endpoint: String,
    session: Secret,
}

impl std::fmt::Debug for OneClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl OneClient {
    /// A client for `endpoint` (a URL, see [`endpoint_url`]). `timeout`
    /// bounds each call, connection included.
    pub fn new(
        endpoint: &str,
        username: &str,
        password: &Secret,
        timeout: Duration,
    ) -> Result<Self, OneError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| OneError::Transport {
                endpoint: endpoint.to_string(),
                message: format!("cannot set up the HTTP client: {e}"),
                timeout: false,
            })?;
        Ok(OneClient {
            http,
            endpoint: endpoint.to_string(),
            session: Secret::new(format!("{username}:{}", password.expose())),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Calls `method` with the session string and `args`; returns the
    /// second value of a successful answer.
    pub async fn call(&self, method: &str, args: Vec<Value>) -> Result<Value, OneError> {
        let mut params = Vec::with_capacity(args.len() + 1);
        params.push(Value::String(self.session.expose().to_string()));
        params.extend(args);
        let body = xmlrpc::encode_call(method, &params);
        let started = Instant::now();
        let transport = |e: reqwest::Error| OneError::Transport {
            endpoint: self.endpoint.clone(),
            message: crate::provider::describe_http_error(&e),
            timeout: e.is_timeout(),
        };
        let resp = self
            .http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        tracing::debug!(
            method,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "OpenNebula call"
        );
        if status != reqwest::StatusCode::OK {
            return Err(OneError::Http {
                endpoint: self.endpoint.clone(),
                status: status.as_u16(),
            });
        }
        let text = resp.text().await.map_err(transport)?;
        let value = match xmlrpc::decode_response(&text).map_err(|e| match e {
            OneError::Malformed { message, .. } => OneError::malformed(method, message),
            e => e,
        })? {
            Response::Fault { code, message } => {
                return Err(OneError::Fault {
                    method: method.to_string(),
                    code,
                    message,
                });
            }
            Response::Value(v) => v,
        };
        let items = value
            .as_array()
            .ok_or_else(|| OneError::malformed(method, "the answer is not an array"))?;
        let ok = items.first().and_then(Value::as_bool).ok_or_else(|| {
            OneError::malformed(method, "the answer does not start with a boolean")
        })?;
        let payload = items
            .get(1)
            .cloned()
            .ok_or_else(|| OneError::malformed(method, "the answer has no second value"))?;
        if ok {
            return Ok(payload);
        }
        Err(OneError::Failure {
            method: method.to_string(),
            code: items.get(2).and_then(Value::as_i64).unwrap_or(-1),
            message: payload.as_str().unwrap_or("(no message)").to_string(),
        })
    }

    async fn call_doc(&self, method: &str, args: Vec<Value>) -> Result<String, OneError> {
        match self.call(method, args).await? {
            Value::String(s) => Ok(s),
            _ => Err(OneError::malformed(
                method,
                "expected an XML document (a string)",
            )),
        }
    }

    /// `one.user.info` for the connected user (id -1): checks the
    /// credentials. Returns the user's name.
    pub async fn user_info(&self) -> Result<String, OneError> {
        let doc = self.call_doc("one.user.info", vec![Value::Int(-1)]).await?;
        let e = xml::parse(&doc)
            .map_err(|m| OneError::malformed("one.user.info", format!("not XML: {m}")))?;
        Ok(e.child_text("NAME").unwrap_or_default())
    }

    /// `one.vm.allocate`: creates a VM (pending, not on hold); its id.
    pub async fn vm_allocate(&self, template: &str) -> Result<i64, OneError> {
        let v = self
            .call("one.vm.allocate", vec![template.into(), Value::Bool(false)])
            .await?;
        v.as_i64()
            .ok_or_else(|| OneError::malformed("one.vm.allocate", "the VM id is not an integer"))
    }

    /// `one.vm.info`.
    pub async fn vm_info(&self, id: i64) -> Result<OneVm, OneError> {
        let doc = self.call_doc("one.vm.info", vec![Value::Int(id)]).await?;
        vm::parse_vm(&doc)
    }

    /// `one.vm.action` (`terminate-hard`, `poweroff`, `resume`, ...).
    pub async fn vm_action(&self, action: &str, id: i64) -> Result<(), OneError> {
        self.call("one.vm.action", vec![action.into(), Value::Int(id)])
            .await?;
        Ok(())
    }

    /// `one.vmpool.info`: the connected user's VMs (filter -3), every id
    /// (-1, -1), in any state but DONE (-1).
    pub async fn vm_pool(&self) -> Result<Vec<OneVm>, OneError> {
        let doc = self
            .call_doc(
                "one.vmpool.info",
                vec![
                    Value::Int(-3),
                    Value::Int(-1),
                    Value::Int(-1),
                    Value::Int(-1),
                ],
            )
            .await?;
        vm::parse_vm_pool(&doc)
    }

    /// `one.image.info`.
    pub async fn image_info(&self, id: i64) -> Result<OneImage, OneError> {
        let doc = self
            .call_doc("one.image.info", vec![Value::Int(id)])
            .await?;
        vm::parse_image(&doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ok = |h: &str| endpoint_url(h).unwrap();
        assert_eq!(
            ok("http://127.0.0.1:2633/RPC2"),
            ("http://127.0.0.1:2633/RPC2".into(), "127.0.0.1".into())
        );
        assert_eq!(
            ok("one.example.org:2633"),
            (
                "http://one.example.org:2633/RPC2".into(),
                "one.example.org".into()
            )
        );
        assert_eq!(
            ok("one.example.org"),
            (
                "http://one.example.org:2633/RPC2".into(),
                "one.example.org".into()
            )
        );
        assert_eq!(
            ok("https://one.example.org"),
            (
                "https://one.example.org/RPC2".into(),
                "one.example.org".into()
            )
        );
        assert_eq!(ok("http://[::1]:2633/RPC2").1, "::1");
        assert!(endpoint_url("ftp://x/RPC2").is_err());
        assert!(endpoint_url("x/RPC2").is_err());
        assert!(endpoint_url("").is_err());
    }

    #[test]
    fn debug_hides_the_session() {
        let c = OneClient::new(
            "http://127.0.0.1:1/RPC2",
            "alice",
            &Secret::new("hunter2"),
            Duration::from_secs(1),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn a_closed_port_is_a_transport_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = OneClient::new(
            &format!("http://127.0.0.1:{port}/RPC2"),
            "alice",
            &Secret::new("pw"),
            Duration::from_secs(2),
        )
        .unwrap();
        let e = c.user_info().await.unwrap_err();
        assert!(
            matches!(e, OneError::Transport { timeout: false, .. }),
            "{e:?}"
        );
        assert!(crate::provider::ProviderError::from(e).is_transient());
    }
}
