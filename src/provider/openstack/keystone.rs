//! Keystone v3 (Identity API v3): the request of `POST /v3/auth/tokens`
//! for password and application-credential authentication, the token
//! answer (the token itself comes in the `X-Subject-Token` header, its
//! expiry and the service catalog in the body) and endpoint selection by
//! service type, interface `public` and region.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;

use super::error::{OstError, Service};
use crate::state::Secret;

/// How the project is named in a password scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProjectScope {
    /// `tenant`, in `domain`.
    Name { name: String, domain: String },
    /// `tenant_id`.
    Id(String),
}

/// How nubo proves who it is.
#[derive(Clone, Debug)]
pub enum AuthMethod {
    /// `3.x_password`: a user of a domain, scoped to a project.
    Password {
        username: String,
        user_domain: String,
        password: Secret,
        project: ProjectScope,
    },
    /// `3.x_appcred`: an application credential (its project is its own).
    AppCred { id: String, secret: Secret },
}

impl AuthMethod {
    /// The body of `POST /v3/auth/tokens`. It holds the secret: it is sent,
    /// never logged.
    pub fn request_body(&self) -> serde_json::Value {
        match self {
            AuthMethod::Password {
                username,
                user_domain,
                password,
                project,
            } => {
                let project = match project {
                    ProjectScope::Name { name, domain } => {
                        json!({"name": name, "domain": {"name": domain}})
                    }
                    ProjectScope::Id(id) => json!({"id": id}),
                };
                json!({"auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {
                            "name": username,
                            "domain": {"name": user_domain},
                            "password": password.expose(),
                        }},
                    },
                    "scope": {"project": project},
                }})
            }
            AuthMethod::AppCred { id, secret } => json!({"auth": {
                "identity": {
                    "methods": ["application_credential"],
                    "application_credential": {"id": id, "secret": secret.expose()},
                },
            }}),
        }
    }
}

/// Which endpoints to take from the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointChoice {
    /// `service_region`: only endpoints of this region.
    pub region: Option<String>,
    /// `service_name`: the compute service's name, when several offer it.
    pub compute_name: Option<String>,
    /// `base_url`, `network_url`, `image_url`: endpoints given in the auth
    /// file, used instead of the catalog's.
    pub compute_url: Option<String>,
    pub network_url: Option<String>,
    pub image_url: Option<String>,
}

/// The token answer's body (the parts nubo reads).
#[derive(Debug, Deserialize)]
pub struct TokenBody {
    pub token: TokenInfo,
}

#[derive(Debug, Deserialize)]
pub struct TokenInfo {
    pub expires_at: Option<String>,
    #[serde(default)]
    pub catalog: Vec<CatalogEntry>,
    pub project: Option<Named>,
    pub user: Option<Named>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Named {
    pub id: Option<String>,
    pub name: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CatalogEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<CatalogEndpoint>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct CatalogEndpoint {
    pub interface: String,
    pub url: String,
    pub region_id: Option<String>,
    pub region: Option<String>,
}

impl CatalogEndpoint {
    fn region(&self) -> Option<&str> {
        self.region_id.as_deref().or(self.region.as_deref())
    }
}

/// The endpoints nubo uses, as the catalog (or the auth file) gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    pub compute: String,
    pub network: Option<String>,
    pub image: Option<String>,
}

/// The public endpoint of `service` in the region asked for. `None` when
/// the catalog has no such service; an error when it has the service but
/// not in that region, or in several regions and none was asked for.
pub fn endpoint(
    catalog: &[CatalogEntry],
    service: Service,
    choice: &EndpointChoice,
) -> Result<Option<String>, OstError> {
    let kind = service.catalog_type();
    let entries: Vec<&CatalogEntry> = catalog
        .iter()
        .filter(|e| e.kind == kind)
        .filter(|e| match (&choice.compute_name, service) {
            (Some(name), Service::Compute) => e.name.as_deref() == Some(name.as_str()),
            _ => true,
        })
        .collect();
    if entries.is_empty() {
        if let (Some(name), Service::Compute) = (&choice.compute_name, service) {
            return Err(OstError::Catalog(format!(
                "Keystone's catalog has no `compute` service named `{name}` (service_name)"
            )));
        }
        return Ok(None);
    }
    let public: Vec<&CatalogEndpoint> = entries
        .iter()
        .flat_map(|e| &e.endpoints)
        .filter(|ep| ep.interface == "public")
        .collect();
    let mut regions: Vec<String> = public
        .iter()
        .map(|ep| ep.region().unwrap_or("(none)").to_string())
        .collect();
    regions.sort();
    regions.dedup();
    let pick = match &choice.region {
        Some(r) => public.iter().find(|ep| ep.region() == Some(r.as_str())),
        None if regions.len() > 1 => {
            return Err(OstError::Catalog(format!(
                "Keystone's catalog offers `{kind}` in several regions ({}); set `service_region` in the auth file",
                regions.join(", ")
            )));
        }
        None => public.first(),
    };
    match pick {
        Some(ep) => Ok(Some(ep.url.trim_end_matches('/').to_string())),
        None => Err(OstError::Catalog(format!(
            "Keystone's catalog has no public `{kind}` endpoint in region `{}` (it has one in: {})",
            choice.region.as_deref().unwrap_or_default(),
            if regions.is_empty() {
                "no region".to_string()
            } else {
                regions.join(", ")
            }
        ))),
    }
}

/// The endpoints for a token's catalog and the auth file's choices.
pub fn endpoints(catalog: &[CatalogEntry], choice: &EndpointChoice) -> Result<Endpoints, OstError> {
    let pick = |service, forced: &Option<String>| -> Result<Option<String>, OstError> {
        match forced {
            Some(url) => Ok(Some(url.trim_end_matches('/').to_string())),
            None => endpoint(catalog, service, choice),
        }
    };
    let compute = pick(Service::Compute, &choice.compute_url)?.ok_or_else(|| {
        OstError::Catalog(
            "Keystone's catalog has no `compute` service: this project cannot run servers"
                .to_string(),
        )
    })?;
    Ok(Endpoints {
        compute,
        network: pick(Service::Network, &choice.network_url)?,
        image: pick(Service::Image, &choice.image_url)?,
    })
}

/// The URL of `POST /v3/auth/tokens` for the auth file's `host`: a
/// Keystone URL with or without its `/v3`.
pub fn tokens_url(host: &str) -> Result<String, String> {
    let host = host.trim().trim_end_matches('/');
    let Some((scheme, rest)) = host.split_once("://") else {
        return Err(format!(
            "`{host}` is not a Keystone URL: write it as https://HOST:5000"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{host}`: the scheme must be http or https"));
    }
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("`{host}` names no host"));
    }
    if host.ends_with("/v3") {
        Ok(format!("{host}/auth/tokens"))
    } else if host.ends_with("/v2.0") {
        Err(format!(
            "`{host}` is a Keystone v2.0 URL; nubo speaks the Identity API v3"
        ))
    } else {
        Ok(format!("{host}/v3/auth/tokens"))
    }
}

/// The host name of a URL (`https://keystone.example.org:5000/v3` →
/// `keystone.example.org`).
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let name = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.split(':').next()?,
    };
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// Parses an ISO 8601 UTC time as Keystone writes `expires_at`
/// (`2015-11-09T01:42:57.527363Z`; an offset `+HH:MM` is honoured).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Split the offset off the time.
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let off = &off[1..];
        let (h, m) = off
            .split_once(':')
            .unwrap_or((off.get(..2)?, off.get(2..)?));
        let h: i64 = h.parse().ok()?;
        let m: i64 = if m.is_empty() { 0 } else { m.parse().ok()? };
        (c, sign * (h * 3600 + m * 60))
    } else {
        (time, 0)
    };
    let mut t = clock.splitn(3, ':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let sec_text = t.next().unwrap_or("0");
    let (whole, frac) = sec_text.split_once('.').unwrap_or((sec_text, ""));
    let second: i64 = whole.parse().ok()?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(9).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<9}").parse().ok()?
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Writes a time as Keystone does: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<CatalogEntry> {
        serde_json::from_value(json!([
            {"type": "compute", "name": "nova", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "region": "RegionOne", "url": "https://r1.example.org:8774/v2.1/"},
                {"interface": "internal", "region_id": "RegionOne", "url": "http://10.0.0.1:8774/v2.1"},
                {"interface": "public", "region_id": "RegionTwo", "url": "https://r2.example.org:8774/v2.1"},
            ]},
            {"type": "compute", "name": "nova_legacy", "endpoints": [
                {"interface": "public", "region_id": "RegionOne", "url": "https://r1.example.org:8774/v2"},
            ]},
            {"type": "network", "name": "neutron", "endpoints": [
                {"interface": "public", "region_id": "RegionTwo", "url": "https://r2.example.org:9696"},
            ]},
        ]))
        .unwrap()
    }

    #[test]
    fn endpoints_by_type_interface_and_region() {
        let cat = catalog();
        let two = EndpointChoice {
            region: Some("RegionTwo".into()),
            ..Default::default()
        };
        let e = endpoints(&cat, &two).unwrap();
        assert_eq!(e.compute, "https://r2.example.org:8774/v2.1");
        assert_eq!(e.network.as_deref(), Some("https://r2.example.org:9696"));
        assert_eq!(e.image, None);

        let one = EndpointChoice {
            region: Some("RegionOne".into()),
            compute_name: Some("nova".into()),
            ..Default::default()
        };
        let e = endpoint(&cat, Service::Compute, &one).unwrap().unwrap();
        assert_eq!(e, "https://r1.example.org:8774/v2.1");
        // Neutron is only in RegionTwo.
        let err = endpoint(&cat, Service::Network, &one)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("region `RegionOne`") && err.contains("RegionTwo"),
            "{err}"
        );

        // Two regions and none chosen: say so.
        let err = endpoints(&cat, &EndpointChoice::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("service_region"), "{err}");

        let forced = EndpointChoice {
            region: Some("RegionOne".into()),
            compute_name: Some("nova".into()),
            network_url: Some("https://net.example.org/".into()),
            ..Default::default()
        };
        assert_eq!(
            endpoints(&cat, &forced).unwrap().network.as_deref(),
            Some("https://net.example.org")
        );
        let missing = EndpointChoice {
            compute_name: Some("other".into()),
            ..Default::default()
        };
        assert!(endpoints(&cat, &missing).is_err());
    }

    #[test]
    fn auth_bodies() {
        let p = AuthMethod::Password {
            username: "alice".into(),
            user_domain: "Default".into(),
            password: Secret::new("pw"),
            project: ProjectScope::Name {
                name: "proj".into(),
                domain: "Default".into(),
            },
        };
        let b = p.request_body();
        assert_eq!(b["auth"]["identity"]["methods"][0], "password");
        assert_eq!(b["auth"]["identity"]["password"]["user"]["name"], "alice");
        assert_eq!(
            b["auth"]["identity"]["password"]["user"]["domain"]["name"],
            "Default"
        );
        assert_eq!(b["auth"]["scope"]["project"]["name"], "proj");
        assert_eq!(b["auth"]["scope"]["project"]["domain"]["name"], "Default");
        let by_id = AuthMethod::Password {
            username: "alice".into(),
            user_domain: "Default".into(),
            password: Secret::new("pw"),
            project: ProjectScope::Id("p1".into()),
        };
        assert_eq!(by_id.request_body()["auth"]["scope"]["project"]["id"], "p1");
        let a = AuthMethod::AppCred {
            id: "ac1".into(),
            secret: Secret::new("s"),
        }
        .request_body();
        assert_eq!(
            a["auth"]["identity"]["methods"][0],
            "application_credential"
        );
        assert_eq!(a["auth"]["identity"]["application_credential"]["id"], "ac1");
        assert!(a["auth"].get("scope").is_none());
        assert!(!format!("{p:?}").contains("pw\""));
    }

    #[test]
    fn keystone_urls() {
        assert_eq!(
            tokens_url("https://k.example.org:5000").unwrap(),
            "https://k.example.org:5000/v3/auth/tokens"
        );
        assert_eq!(
            tokens_url("https://k.example.org:5000/v3/").unwrap(),
            "https://k.example.org:5000/v3/auth/tokens"
        );
        assert_eq!(
            tokens_url("http://127.0.0.1:1/identity").unwrap(),
            "http://127.0.0.1:1/identity/v3/auth/tokens"
        );
        assert!(tokens_url("k.example.org:5000").is_err());
        assert!(tokens_url("https://k.example.org:5000/v2.0").is_err());
        assert!(tokens_url("ftp://k").is_err());
        assert_eq!(
            url_host("https://K.example.org:5000/v3").as_deref(),
            Some("k.example.org")
        );
        assert_eq!(url_host("http://[::1]:5000").as_deref(), Some("::1"));
        assert_eq!(
            url_host("ost://127.0.0.1/abc").as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp("2015-11-09T01:42:57.527363Z").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_447_033_377, 527_363_000)
        );
        assert_eq!(format_timestamp(t), "2015-11-09T01:42:57.527363Z");
        assert_eq!(
            parse_timestamp("2015-11-09T02:42:57+01:00"),
            parse_timestamp("2015-11-09T01:42:57Z")
        );
        assert_eq!(
            parse_timestamp("2024-02-29T00:00:00.000000Z")
                .unwrap()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_709_164_800
        );
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
        for bad in [
            "",
            "2015-13-01T00:00:00Z",
            "yesterday",
            "2015-11-09T25:00:00Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        let now = SystemTime::now();
        let round = parse_timestamp(&format_timestamp(now)).unwrap();
        let diff = now.duration_since(round).unwrap_or_default();
        assert!(diff < Duration::from_millis(1));
    }
}
