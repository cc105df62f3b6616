//! Reading an SQS queue for the daemon (`--queue sqs:QUEUE_URL`), with
//! the AWS SDK. What the counts mean is in `elastic::sqs`.
//!
//! Credentials as the EC2 provider takes them: the first `type = EC2` line
//! of the auth in use (the `-a` file, else the one recorded at launch):
//! `username` (access key id), `password` (secret key), optional `token`;
//! without one, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`. The endpoint is `AWS_ENDPOINT_URL_SQS`, else
//! `AWS_ENDPOINT_URL`, else the queue URL's own scheme and host (SQS
//! serves a queue at its URL's host). The region is the one an AWS queue
//! URL names, else the line's `region`, else `AWS_REGION`, else
//! `AWS_DEFAULT_REGION`, else `us-east-1`.

use super::ElasticError;
use crate::auth::{AuthFile, ProviderKind};
use crate::elastic::sqs::{self, Depth, QueueUrl};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use std::time::Duration;

/// How long one GetQueueAttributes may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Sqs {
    client: Client,
    url: QueueUrl,
}

/// Where the client's settings come from, for [`settings`].
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub access_key: String,
    pub secret_key: String,
    pub token: Option<String>,
    pub endpoint: String,
    pub region: String,
}

fn nonblank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The client's settings for `url` from the auth in use and the
/// environment (`env` reads a variable).
pub fn settings(
    url: &QueueUrl,
    auth: Option<&AuthFile>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, ElasticError> {
    let env = |name: &str| nonblank(env(name));
    let line = auth.and_then(|a| a.entries.iter().find(|c| c.kind == ProviderKind::EC2));
    let (access_key, secret_key, token, line_region) = match line {
        Some(c) => {
            let need = |key: &str, what: &str| {
                c.nonblank(key).map(str::to_string).ok_or_else(|| {
                    ElasticError::Queue(format!(
                        "{}: the sqs queue needs `{key}` ({what})",
                        c.describe()
                    ))
                })
            };
            (
                need("username", "the access key id")?,
                need("password", "the secret access key")?,
                c.nonblank("token").map(str::to_string),
                c.nonblank("region")
                    .or_else(|| c.nonblank("service_region"))
                    .map(str::to_string),
            )
        }
        None => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(a), Some(s)) => (a, s, env("AWS_SESSION_TOKEN"), None),
            _ => {
                return Err(ElasticError::Queue(
                    "the sqs queue needs AWS credentials: an auth line `type = EC2; username = ACCESS_KEY_ID; password = SECRET_ACCESS_KEY` (-a, or the one the cluster was launched with), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                ));
            }
        },
    };
    let endpoint = env("AWS_ENDPOINT_URL_SQS")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| url.endpoint.clone());
    let region = url
        .region
        .clone()
        .or(line_region)
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    Ok(Settings {
        access_key,
        secret_key,
        token,
        endpoint,
        region,
    })
}

impl Sqs {
    pub fn new(url: QueueUrl, s: Settings) -> Sqs {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(s.region))
            .credentials_provider(Credentials::new(
                s.access_key,
                s.secret_key,
                s.token,
                None,
                "nubo elastic sqs",
            ))
            .endpoint_url(s.endpoint)
            .build();
        Sqs {
            client: Client::from_conf(conf),
            url,
        }
    }

    /// The queue's two counts.
    pub async fn depth(&self) -> Result<Depth, ElasticError> {
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send();
        let out = tokio::time::timeout(CALL_TIMEOUT, call)
            .await
            .map_err(|_| {
                ElasticError::Queue(format!(
                    "SQS GetQueueAttributes on {}: no answer in {}s",
                    self.url.url,
                    CALL_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                ElasticError::Queue(format!(
                    "SQS GetQueueAttributes on {}: {}",
                    self.url.url,
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ))
            })?;
        let attributes = out
            .attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        sqs::depth(&attributes).map_err(|e| ElasticError::Queue(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> QueueUrl {
        sqs::parse_url(u).unwrap()
    }

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn credentials_from_an_ec2_line_before_the_environment() {
        let auth = crate::auth::parse(
            "auth.dat",
            "id = local; type = Local\nid = aws; type = EC2; username = AKID; password = SECRET; region = eu-west-3\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let s = settings(
            &url("http://10.250.9.1:5000/123456789012/jobs"),
            Some(&auth),
            vars(&[
                ("AWS_ACCESS_KEY_ID", "ENV"),
                ("AWS_SECRET_ACCESS_KEY", "ENV"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s,
            Settings {
                access_key: "AKID".into(),
                secret_key: "SECRET".into(),
                token: None,
                endpoint: "http://10.250.9.1:5000".into(),
                region: "eu-west-3".into(),
            }
        );
    }

    #[test]
    fn credentials_from_the_environment_and_the_region_of_an_aws_url() {
        let s = settings(
            &url("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs"),
            None,
            vars(&[
                ("AWS_ACCESS_KEY_ID", "A"),
                ("AWS_SECRET_ACCESS_KEY", "S"),
                ("AWS_SESSION_TOKEN", "T"),
                ("AWS_REGION", "us-west-2"),
                ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"),
            ]),
        )
        .unwrap();
        assert_eq!(s.token.as_deref(), Some("T"));
        assert_eq!(s.region, "eu-west-1", "the queue's own region");
        assert_eq!(s.endpoint, "http://127.0.0.1:4566");
    }

    #[test]
    fn no_credentials_is_a_clear_error() {
        let e = settings(&url("http://h:1/1/q"), None, vars(&[])).unwrap_err();
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"), "{e}");
        let auth = crate::auth::parse(
            "auth.dat",
            "id = aws; type = EC2; username = AKID\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let e = settings(&url("http://h:1/1/q"), Some(&auth), vars(&[])).unwrap_err();
        assert!(e.to_string().contains("`password`"), "{e}");
    }
}
