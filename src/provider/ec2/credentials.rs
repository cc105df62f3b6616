//! Reading an EC2 auth-file line: the access key, the region, and the
//! endpoint (the line's `host`, else `AWS_ENDPOINT_URL_EC2`, else
//! `AWS_ENDPOINT_URL`, as the AWS SDKs read them).

use std::collections::HashMap;

use aws_sdk_ec2::config::Credentials;

use super::catalog::Catalog;
use super::cloud::{Ec2, Ec2Options};
use super::error::Ec2Error;
use crate::auth::Credential;
use crate::provider::cloud::Fields;

/// The region when neither the image URL nor the auth line names one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The endpoint to call: the auth line's `host` (a bare host name means
/// `https://`), else `AWS_ENDPOINT_URL_EC2`, else `AWS_ENDPOINT_URL` (as
/// the AWS SDKs read them), else AWS's own for the region (`None`).
pub fn endpoint_of(
    host: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<String>, String> {
    let env = |name: &str| {
        env(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let endpoint = match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) if h.contains("://") => Some(h.to_string()),
        Some(h) => Some(format!("https://{h}")),
        None => env("AWS_ENDPOINT_URL_EC2").or_else(|| env("AWS_ENDPOINT_URL")),
    };
    match endpoint {
        Some(e) if !(e.starts_with("http://") || e.starts_with("https://")) => {
            Err(format!("endpoint `{e}` is not an http:// or https:// URL"))
        }
        e => Ok(e),
    }
}

impl Ec2 {
    /// From an auth-file credential of type `EC2`.
    pub fn from_credential(c: &Credential) -> std::result::Result<Self, Ec2Error> {
        Self::with_options(c, Ec2Options::default())
    }

    pub fn with_options(
        c: &Credential,
        options: Ec2Options,
    ) -> std::result::Result<Self, Ec2Error> {
        let line = Fields::open(c, "EC2", |credential, message| Ec2Error::Credential {
            credential,
            message,
        })?;
        let get = |key: &str| line.get(key);
        let access = line.need_as("username", "the access key id")?;
        let secret = line.need_as("password", "the secret access key")?;
        let token = get("token").map(str::to_string);
        let endpoint =
            endpoint_of(get("host"), |name| std::env::var(name).ok()).map_err(|m| line.bad(m))?;
        let region = get("region")
            .or_else(|| get("service_region"))
            .unwrap_or(DEFAULT_REGION)
            .to_string();
        Ok(Ec2 {
            id: line.id("ec2"),
            credentials: Credentials::new(access, secret, token, None, "nubo auth file"),
            endpoint,
            region,
            options,
            catalog: Catalog::builtin(),
            clients: std::sync::Mutex::new(HashMap::new()),
            groups: tokio::sync::Mutex::new(HashMap::new()),
            keys: tokio::sync::Mutex::new(HashMap::new()),
            default_vpcs: tokio::sync::Mutex::new(HashMap::new()),
            batches: Default::default(),
            regions: tokio::sync::OnceCell::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both: &[(&str, &str)] = &[
            ("AWS_ENDPOINT_URL", "http://general:1"),
            ("AWS_ENDPOINT_URL_EC2", "http://ec2:2"),
        ];
        assert_eq!(
            endpoint_of(Some("http://host:3"), env(both))
                .unwrap()
                .as_deref(),
            Some("http://host:3"),
            "host wins"
        );
        assert_eq!(
            endpoint_of(Some("ec2.example.org"), env(both))
                .unwrap()
                .as_deref(),
            Some("https://ec2.example.org")
        );
        assert_eq!(
            endpoint_of(None, env(both)).unwrap().as_deref(),
            Some("http://ec2:2"),
            "the EC2 variable before the general one"
        );
        assert_eq!(
            endpoint_of(
                None,
                env(&[
                    ("AWS_ENDPOINT_URL", "http://general:1"),
                    ("AWS_ENDPOINT_URL_EC2", " ")
                ])
            )
            .unwrap()
            .as_deref(),
            Some("http://general:1")
        );
        assert_eq!(endpoint_of(Some(""), env(&[])).unwrap(), None);
        assert!(endpoint_of(None, env(&[("AWS_ENDPOINT_URL", "ftp://x")])).is_err());
    }
}
