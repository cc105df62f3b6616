//! [`Ec2Error`]: what can go wrong talking to EC2, and how each case maps
//! to the provider contract's [`ProviderError`]. EC2 names every error
//! with a code (`InstanceLimitExceeded`, `InvalidInstanceID.NotFound`,
//! `AuthFailure`, ...); the code decides, the HTTP status only when there
//! is no code.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::provider::ProviderError;
use crate::provider::cloud::clip;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Ec2Error {
    /// The credential lacks something or has something unusable.
    #[error("EC2 credential {credential}: {message}")]
    Credential { credential: String, message: String },

    /// No answer: refused connection, timeout, reset.
    #[error("cannot reach EC2 ({operation}): {message}")]
    Transport { operation: String, message: String },

    /// EC2 answered with an error.
    #[error("EC2 {operation}: {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Api {
        operation: String,
        /// EC2's error code; the HTTP status when the answer had none.
        code: String,
        message: String,
        status: Option<u16>,
    },

    /// An answer nubo cannot use.
    #[error("malformed answer from EC2 to {operation}: {message}")]
    Malformed { operation: String, message: String },

    /// The system asks for something this provider cannot give.
    #[error("{0}")]
    Request(String),
}

/// How an EC2 error code is to be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Transient,
    Auth,
    Quota,
    NotFound,
    Final,
}

/// Classifies an EC2 error code (and the HTTP status, for answers
/// without one), following the EC2 API reference's error code list.
pub fn classify(code: &str, status: Option<u16>) -> Class {
    match code {
        // Throttling and server-side trouble: retry with backoff.
        "RequestLimitExceeded"
        | "Throttling"
        | "ThrottlingException"
        | "RequestThrottled"
        | "InternalError"
        | "InternalFailure"
        | "ServiceUnavailable"
        | "Unavailable"
        | "InsufficientInstanceCapacity"
        | "InsufficientCapacity"
        | "InsufficientHostCapacity"
        | "InsufficientReservedInstanceCapacity"
        | "InsufficientFreeAddressesInSubnet"
        // A state in passing (an instance still stopping, a group still
        // used by an instance going away).
        | "IncorrectState"
        | "IncorrectInstanceState"
        | "DependencyViolation"
        | "InvalidGroup.InUse" => Class::Transient,
        // Credentials refused or not allowed to do this.
        "AuthFailure"
        | "UnauthorizedOperation"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "OptInRequired"
        | "Blocked"
        | "PendingVerification" => Class::Auth,
        // Account limits: final for this launch.
        "InstanceLimitExceeded"
        | "VcpuLimitExceeded"
        | "MaxSpotInstanceCountExceeded"
        | "SpotMaxPriceTooLow" => Class::Quota,
        c if c.ends_with("LimitExceeded") => Class::Quota,
        c if c.ends_with(".NotFound") || c.ends_with("NotFound") => Class::NotFound,
        _ => match status {
            Some(401 | 403) if code.is_empty() => Class::Auth,
            Some(408 | 429 | 500..=599) => Class::Transient,
            _ => Class::Final,
        },
    }
}

impl Ec2Error {
    pub fn code(&self) -> &str {
        match self {
            Ec2Error::Api { code, .. } => code,
            _ => "",
        }
    }

    pub fn class(&self) -> Class {
        match self {
            Ec2Error::Api { code, status, .. } => classify(code, *status),
            Ec2Error::Transport { .. } => Class::Transient,
            _ => Class::Final,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.class() == Class::NotFound
    }

    /// An error from the SDK for `operation`.
    pub fn from_sdk<E>(operation: &str, e: SdkError<E>) -> Ec2Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let op = operation.to_string();
        let status = e.raw_response().map(|r| r.status().as_u16());
        let detail = || aws_sdk_ec2::error::DisplayErrorContext(&e).to_string();
        match &e {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => Ec2Error::Transport {
                operation: op,
                message: clip(&detail()),
            },
            SdkError::ServiceError(_) | SdkError::ResponseError(_) => match e.code() {
                Some(code) => Ec2Error::Api {
                    operation: op,
                    code: code.to_string(),
                    message: clip(e.message().unwrap_or_default()),
                    status,
                },
                None if status.is_some_and(|s| s >= 400) => Ec2Error::Api {
                    operation: op,
                    code: String::new(),
                    message: format!("HTTP {}", status.unwrap_or_default()),
                    status,
                },
                None => Ec2Error::Malformed {
                    operation: op,
                    message: clip(&detail()),
                },
            },
            _ => Ec2Error::Malformed {
                operation: op,
                message: clip(&detail()),
            },
        }
    }
}

impl From<Ec2Error> for ProviderError {
    fn from(e: Ec2Error) -> Self {
        let text = e.to_string();
        match e.class() {
            Class::Transient => ProviderError::Transient(text),
            Class::Auth => ProviderError::Auth(text),
            Class::Quota => ProviderError::Quota(text),
            Class::NotFound => ProviderError::NotFound(text),
            Class::Final => ProviderError::Final(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> ProviderError {
        Ec2Error::Api {
            operation: "RunInstances".into(),
            code: code.into(),
            message: "m".into(),
            status: Some(status),
        }
        .into()
    }

    #[test]
    fn classification() {
        for c in [
            "RequestLimitExceeded",
            "Throttling",
            "InternalError",
            "ServiceUnavailable",
            "Unavailable",
            "InsufficientInstanceCapacity",
            "IncorrectInstanceState",
            "DependencyViolation",
        ] {
            assert!(api(c, 503).is_transient(), "{c}");
        }
        for c in [
            "AuthFailure",
            "UnauthorizedOperation",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "OptInRequired",
        ] {
            assert!(matches!(api(c, 401), ProviderError::Auth(_)), "{c}");
        }
        for c in [
            "InstanceLimitExceeded",
            "VcpuLimitExceeded",
            "MaxSpotInstanceCountExceeded",
            "SecurityGroupLimitExceeded",
            "RulesPerSecurityGroupLimitExceeded",
            "AddressLimitExceeded",
        ] {
            let e = api(c, 400);
            assert!(matches!(e, ProviderError::Quota(_)), "{c}");
            assert!(!e.is_transient());
        }
        for c in [
            "InvalidInstanceID.NotFound",
            "InvalidGroup.NotFound",
            "InvalidKeyPair.NotFound",
        ] {
            assert!(matches!(api(c, 400), ProviderError::NotFound(_)), "{c}");
        }
        for c in [
            "InvalidParameterValue",
            "InvalidAMIID.Malformed",
            "IdempotentParameterMismatch",
        ] {
            assert!(matches!(api(c, 400), ProviderError::Final(_)), "{c}");
        }
        // No code: the status decides.
        assert!(api("", 502).is_transient());
        assert!(matches!(api("", 403), ProviderError::Auth(_)));
        assert!(matches!(api("", 400), ProviderError::Final(_)));
        let t = Ec2Error::Transport {
            operation: "DescribeInstances".into(),
            message: "connection refused".into(),
        };
        assert!(ProviderError::from(t).is_transient());
    }

    #[test]
    fn messages() {
        let e = Ec2Error::Api {
            operation: "RunInstances".into(),
            code: "InstanceLimitExceeded".into(),
            message:
                "You have requested more instances (21) than your current instance limit of 20"
                    .into(),
            status: Some(400),
        };
        assert_eq!(
            ProviderError::from(e).to_string(),
            "quota exceeded: EC2 RunInstances: InstanceLimitExceeded: You have requested more instances (21) than your current instance limit of 20"
        );
        assert!(clip(&"é".repeat(400)).ends_with("..."));
    }
}
