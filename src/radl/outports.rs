//! `outports` values: `8899`, `8899/tcp`, `8899/tcp-8899/tcp` (remote to
//! local mapping), `1:10/udp` (a range), with an optional source CIDR in
//! front (`10.0.0.0/8-22/tcp`); several separated by commas. The same
//! forms IM's `outport.parseOutPorts` accepts.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutPort {
    pub remote_cidr: Option<String>,
    /// First port (for a mapping: the remote, public port).
    pub start: u16,
    /// Last port (for a mapping: the local port on the VM).
    pub end: u16,
    pub protocol: String,
    /// `start:end` range rather than a `remote-local` mapping.
    pub range: bool,
}

/// Parses an outports string; the error says which part is wrong.
pub fn parse(s: &str) -> Result<Vec<OutPort>, String> {
    s.split(',').map(|p| parse_one(p.trim())).collect()
}

fn parse_one(p: &str) -> Result<OutPort, String> {
    let bad = || {
        format!(
            "`{p}` is not a port: expected PORT[/tcp|/udp|/icmp], PORT:PORT[/PROTO] or PORT[/PROTO]-PORT[/PROTO], optionally after CIDR-"
        )
    };
    let (cidr, rest) = match p.find('/').zip(p.find('-')) {
        // `a.b.c.d/n-...`: a CIDR ends at the first dash after a slash.
        Some((slash, dash)) if slash < dash && p[..slash].contains('.') => {
            (Some(p[..dash].to_string()), &p[dash + 1..])
        }
        _ => (None, p),
    };
    if let Some(c) = &cidr {
        check_cidr(c).ok_or_else(bad)?;
    }
    let (left, right) = match rest.split_once('-') {
        Some((l, r)) => (l, Some(r)),
        None => (rest, None),
    };
    let (lport, lproto) = port_proto(left).ok_or_else(bad)?;
    let (rport, rproto) = match right {
        Some(r) => {
            let (port, proto) = port_proto(r).ok_or_else(bad)?;
            (Some(port), proto)
        }
        None => (None, None),
    };
    let proto = lproto.clone().unwrap_or_else(|| "tcp".into());
    let rproto = rproto.unwrap_or_else(|| proto.clone());
    if rproto != proto {
        return Err(format!("`{p}` uses different protocols on its two sides"));
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("`{s}` in `{p}` is not a port number (0-65535)"))
    };
    match (lport.split_once(':'), rport) {
        (Some(_), Some(_)) => Err(format!(
            "`{p}`: a port range (:) and a port mapping (-) cannot be combined"
        )),
        (Some((a, b)), None) => Ok(OutPort {
            remote_cidr: cidr,
            start: num(a)?,
            end: num(b)?,
            protocol: proto,
            range: true,
        }),
        (None, r) => {
            let start = num(&lport)?;
            let end = match r {
                Some(r) if r.contains(':') => {
                    return Err(format!(
                        "`{p}`: a port range (:) and a port mapping (-) cannot be combined"
                    ));
                }
                Some(r) => num(&r)?,
                None => start,
            };
            Ok(OutPort {
                remote_cidr: cidr,
                start,
                end,
                protocol: proto,
                range: false,
            })
        }
    }
}

fn port_proto(s: &str) -> Option<(String, Option<String>)> {
    let (port, proto) = match s.split_once('/') {
        Some((p, proto)) => (p, Some(proto)),
        None => (s, None),
    };
    let ok_port = !port.is_empty()
        && port.split(':').count() <= 2
        && port
            .split(':')
            .all(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()));
    let ok_proto = proto.is_none_or(|p| matches!(p, "tcp" | "udp" | "icmp"));
    (ok_port && ok_proto).then(|| (port.to_string(), proto.map(str::to_string)))
}

fn check_cidr(c: &str) -> Option<()> {
    let (addr, bits) = c.split_once('/')?;
    let octets: Vec<_> = addr.split('.').collect();
    (octets.len() == 4
        && octets.iter().all(|o| o.parse::<u8>().is_ok())
        && bits.parse::<u8>().is_ok_and(|b| b <= 32))
    .then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_im_forms() {
        for s in [
            "8899",
            "8899,22",
            "8899/tcp,22/udp",
            "8899/tcp-8899/tcp,22/tcp-22/tcp",
            "8899-8899",
            "1:10/tcp,9:22/udp",
            "0.0.0.0/0-8899/tcp-8899/tcp",
            "10.0.0.0/8-22",
        ] {
            assert!(parse(s).is_ok(), "{s}: {:?}", parse(s));
        }
        let p = parse("1:10/udp").unwrap();
        assert_eq!(
            (p[0].start, p[0].end, p[0].range, p[0].protocol.as_str()),
            (1, 10, true, "udp")
        );
        let p = parse("80-8080").unwrap();
        assert_eq!((p[0].start, p[0].end, p[0].range), (80, 8080, false));
    }

    #[test]
    fn rejects_bad_forms() {
        for s in [
            "",
            "x",
            "22/sctp",
            "1:2-3",
            "22/tcp-22/udp",
            "70000",
            "300.0.0.0/0-22",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}
