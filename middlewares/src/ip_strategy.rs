//! Client-address selection shared by IPAllowList, RateLimit and InFlightReq: `ipStrategy`
//! (the remote address, or an X-Forwarded-For entry by depth or by excluding known proxies) and
//! `sourceCriterion` (IP strategy, request host or a request header).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `ipStrategy`: how the client IP is chosen. Unset means the connection's remote address.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct IpStrategySpec {
    /// Take the X-Forwarded-For entry at this position from the right (1 = last). Overrides
    /// `excludedIPs`. 0 means unused.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub depth: i64,
    /// Scan X-Forwarded-For from the right and take the first address not in these ranges.
    #[serde(
        rename = "excludedIPs",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de::list"
    )]
    pub excluded_ips: Vec<String>,
    /// Group IPv6 clients by this prefix length (1..=128); applies to the remote-address and depth
    /// strategies.
    #[serde(
        rename = "ipv6Subnet",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub ipv6_subnet: Option<i64>,
}

/// `sourceCriterion`: what groups requests into one source. At most one may be set; none means
/// the remote address for RateLimit and the request host for InFlightReq (as in Traefik).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceCriterionSpec {
    #[serde(
        rename = "ipStrategy",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub ip_strategy: Option<IpStrategySpec>,
    /// Group by the value of this request header.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub request_header_name: String,
    /// Group by the request host.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub request_host: bool,
    /// wharf: group by the consumer a `jwt` or `apiKey` middleware earlier in the chain
    /// identified (requests without one share the empty source).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub consumer: bool,
}

// ---- compiled forms ------------------------------------------------------------------------

use std::net::IpAddr;

use http::request;
use ipnet::IpNet;

use crate::SpecError;

/// A set of addresses and CIDR ranges (Traefik's `ip.Checker`).
#[derive(Clone, Debug, PartialEq)]
pub struct IpChecker {
    nets: Vec<IpNet>,
}

impl IpChecker {
    /// Parses addresses and CIDRs; `field` names the option in errors.
    pub fn parse(field: &str, entries: &[String]) -> Result<Self, SpecError> {
        if entries.is_empty() {
            return Err(SpecError::invalid(field, "no addresses or ranges given"));
        }
        let mut nets = Vec::with_capacity(entries.len());
        for raw in entries {
            let s = raw.trim();
            let net = if s.contains('/') {
                s.parse::<IpNet>().map(|n| n.trunc()).ok()
            } else {
                s.parse::<IpAddr>().map(IpNet::from).ok()
            };
            let net = net.ok_or_else(|| {
                SpecError::invalid(
                    field,
                    format!("{s:?} is neither an IP address nor a CIDR range"),
                )
            })?;
            nets.push(canonical_net(net));
        }
        Ok(IpChecker { nets })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Parses `addr` (an IP, or `ip:port`) and checks it.
    pub fn contains_str(&self, addr: &str) -> bool {
        parse_ip(addr).is_some_and(|ip| self.contains(ip))
    }
}

/// IPv4-mapped IPv6 ranges behave as their IPv4 form, as Go's `net.IP` does.
fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) => match v6.addr().to_ipv4_mapped() {
            Some(v4) if v6.prefix_len() >= 96 => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            _ => net,
        },
        v4 => v4,
    }
}

/// An IP from `1.2.3.4`, `::1`, `[::1]:80` or `1.2.3.4:80`.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    s.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// The client address chosen by a strategy: an IP, or the raw text of an X-Forwarded-For entry
/// that is not one (Traefik keys rate limits by that text and refuses it in allow lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAddr<'a> {
    Ip(IpAddr),
    Raw(&'a str),
    /// No address (X-Forwarded-For shorter than `depth`, or only excluded entries).
    None,
}

/// `ipStrategy`, compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum IpStrategy {
    RemoteAddr {
        ipv6_subnet: Option<u8>,
    },
    Depth {
        depth: usize,
        ipv6_subnet: Option<u8>,
    },
    Excluded(IpChecker),
}

impl Default for IpStrategy {
    fn default() -> Self {
        IpStrategy::RemoteAddr { ipv6_subnet: None }
    }
}

impl IpStrategy {
    /// As Traefik: `depth` wins over `excludedIPs`; neither means the remote address.
    pub fn compile(field: &str, spec: Option<&IpStrategySpec>) -> Result<Self, SpecError> {
        let Some(spec) = spec else {
            return Ok(IpStrategy::default());
        };
        if spec.depth < 0 {
            return Err(SpecError::invalid(
                format!("{field}.depth"),
                format!("must not be negative (got {})", spec.depth),
            ));
        }
        let ipv6_subnet = match spec.ipv6_subnet {
            None => None,
            Some(n @ 1..=128) => Some(n as u8),
            Some(n) => {
                return Err(SpecError::invalid(
                    format!("{field}.ipv6Subnet"),
                    format!("must be between 1 and 128 (got {n})"),
                ))
            }
        };
        if spec.depth > 0 {
            return Ok(IpStrategy::Depth {
                depth: spec.depth as usize,
                ipv6_subnet,
            });
        }
        if !spec.excluded_ips.is_empty() {
            let checker = IpChecker::parse(&format!("{field}.excludedIPs"), &spec.excluded_ips)?;
            return Ok(IpStrategy::Excluded(checker));
        }
        Ok(IpStrategy::RemoteAddr { ipv6_subnet })
    }

    /// The client address of a request. X-Forwarded-For is read from its first header line, as
    /// Go's `Header.Get` does.
    pub fn client<'a>(&self, parts: &'a request::Parts, remote: IpAddr) -> ClientAddr<'a> {
        match self {
            IpStrategy::RemoteAddr { ipv6_subnet } => {
                ClientAddr::Ip(mask_v6(remote.to_canonical(), *ipv6_subnet))
            }
            IpStrategy::Depth { depth, ipv6_subnet } => {
                let xff = xff(parts);
                let count = xff.split(',').count();
                if xff.is_empty() || count < *depth {
                    return ClientAddr::None;
                }
                match xff.split(',').nth(count - depth).map(str::trim) {
                    Some(entry) => match parse_ip(entry) {
                        Some(ip) => ClientAddr::Ip(mask_v6(ip, *ipv6_subnet)),
                        None if entry.is_empty() => ClientAddr::None,
                        None => ClientAddr::Raw(entry),
                    },
                    None => ClientAddr::None,
                }
            }
            IpStrategy::Excluded(checker) => {
                for entry in xff(parts).rsplit(',').map(str::trim) {
                    if entry.is_empty() {
                        continue;
                    }
                    match parse_ip(entry) {
                        Some(ip) if checker.contains(ip) => continue,
                        Some(ip) => return ClientAddr::Ip(ip),
                        None => return ClientAddr::Raw(entry),
                    }
                }
                ClientAddr::None
            }
        }
    }
}

fn xff(parts: &request::Parts) -> &str {
    parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Groups IPv6 clients by prefix (`ipv6Subnet`); IPv4 is unchanged.
fn mask_v6(ip: IpAddr, subnet: Option<u8>) -> IpAddr {
    match (ip, subnet) {
        (IpAddr::V6(v6), Some(bits)) => {
            let mask = if bits >= 128 {
                u128::MAX
            } else {
                !(u128::MAX >> bits)
            };
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        _ => ip,
    }
}

/// What groups requests into one source for RateLimit and InFlightReq.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceCriterion {
    Ip(IpStrategy),
    Host,
    Header(http::HeaderName),
    /// `FlowState::consumer` (set by `jwt` / `apiKey`).
    Consumer,
}

/// A source's identity in a bucket map. IP sources allocate nothing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SourceKey {
    Ip(IpAddr),
    Text(Box<str>),
}

impl SourceCriterion {
    /// `default` applies when no criterion is set (remote address for RateLimit, host for
    /// InFlightReq). Two criteria at once are an error, as in Traefik.
    pub fn compile(
        field: &str,
        spec: Option<&SourceCriterionSpec>,
        default: SourceCriterion,
    ) -> Result<Self, SpecError> {
        let Some(spec) = spec else { return Ok(default) };
        let set = [
            spec.ip_strategy.is_some(),
            !spec.request_header_name.is_empty(),
            spec.request_host,
            spec.consumer,
        ];
        match set.iter().filter(|b| **b).count() {
            0 => return Ok(default),
            1 => {}
            _ => return Err(SpecError::invalid(
                field,
                "ipStrategy, requestHeaderName, requestHost and consumer are mutually exclusive",
            )),
        }
        if spec.ip_strategy.is_some() {
            return Ok(SourceCriterion::Ip(IpStrategy::compile(
                &format!("{field}.ipStrategy"),
                spec.ip_strategy.as_ref(),
            )?));
        }
        if spec.consumer {
            return Ok(SourceCriterion::Consumer);
        }
        if spec.request_host {
            return Ok(SourceCriterion::Host);
        }
        let name = http::HeaderName::from_bytes(spec.request_header_name.trim().as_bytes())
            .map_err(|_| {
                SpecError::invalid(
                    format!("{field}.requestHeaderName"),
                    format!("{:?} is not a valid header name", spec.request_header_name),
                )
            })?;
        Ok(SourceCriterion::Header(name))
    }

    /// The source of a request. An absent header or host is the empty source, as in Traefik.
    pub fn key(&self, parts: &request::Parts, remote: IpAddr) -> SourceKey {
        self.key_with(parts, remote, None)
    }

    /// `key` with the consumer an auth filter identified (for `SourceCriterion::Consumer`).
    pub fn key_with(
        &self,
        parts: &request::Parts,
        remote: IpAddr,
        consumer: Option<&str>,
    ) -> SourceKey {
        match self {
            SourceCriterion::Consumer => SourceKey::Text(consumer.unwrap_or("").into()),
            SourceCriterion::Ip(strategy) => match strategy.client(parts, remote) {
                ClientAddr::Ip(ip) => SourceKey::Ip(ip),
                ClientAddr::Raw(s) => SourceKey::Text(s.into()),
                ClientAddr::None => SourceKey::Text("".into()),
            },
            SourceCriterion::Host => SourceKey::Text(crate::util::host(parts).into()),
            SourceCriterion::Header(name) => SourceKey::Text(
                parts
                    .headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(xff: Option<&str>) -> request::Parts {
        let mut b = http::Request::get("/");
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        b.body(()).expect("request").into_parts().0
    }

    const REMOTE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 9));

    #[test]
    fn depth_counts_from_the_right() {
        let s = IpStrategy::compile(
            "s",
            Some(&IpStrategySpec {
                depth: 2,
                ..Default::default()
            }),
        )
        .unwrap();
        let p = req(Some("1.1.1.1, 2.2.2.2, 3.3.3.3"));
        assert_eq!(
            s.client(&p, REMOTE),
            ClientAddr::Ip("2.2.2.2".parse().unwrap())
        );
        let p = req(Some("3.3.3.3"));
        assert_eq!(s.client(&p, REMOTE), ClientAddr::None);
        assert_eq!(s.client(&req(None), REMOTE), ClientAddr::None);
    }

    #[test]
    fn excluded_ips_skip_known_proxies() {
        let spec = IpStrategySpec {
            excluded_ips: vec!["3.3.3.0/24".into(), "2.2.2.2".into()],
            ..Default::default()
        };
        let s = IpStrategy::compile("s", Some(&spec)).unwrap();
        let p = req(Some("1.1.1.1, 2.2.2.2, 3.3.3.3"));
        assert_eq!(
            s.client(&p, REMOTE),
            ClientAddr::Ip("1.1.1.1".parse().unwrap())
        );
        let p = req(Some("2.2.2.2,3.3.3.4"));
        assert_eq!(s.client(&p, REMOTE), ClientAddr::None);
    }

    #[test]
    fn remote_and_ipv6_subnet() {
        let spec = IpStrategySpec {
            ipv6_subnet: Some(64),
            ..Default::default()
        };
        let s = IpStrategy::compile("s", Some(&spec)).unwrap();
        let p = req(Some("1.1.1.1"));
        assert_eq!(
            s.client(&p, REMOTE),
            ClientAddr::Ip(REMOTE),
            "XFF ignored without depth"
        );
        let v6: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        assert_eq!(
            s.client(&p, v6),
            ClientAddr::Ip("2001:db8:1:2::".parse().unwrap())
        );
        let mapped: IpAddr = "::ffff:10.0.0.9".parse().unwrap();
        assert_eq!(s.client(&p, mapped), ClientAddr::Ip(REMOTE));
    }

    #[test]
    fn bad_values_are_errors() {
        let e = IpStrategy::compile(
            "ipAllowList.ipStrategy",
            Some(&IpStrategySpec {
                depth: -1,
                ..Default::default()
            }),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "invalid `ipAllowList.ipStrategy.depth`: must not be negative (got -1)"
        );
        let e = IpStrategy::compile(
            "s",
            Some(&IpStrategySpec {
                ipv6_subnet: Some(129),
                ..Default::default()
            }),
        );
        assert!(e.unwrap_err().to_string().contains("between 1 and 128"));
        let e = IpChecker::parse("ipAllowList.sourceRange", &["10.0.0.0/33".into()]);
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("neither an IP address nor a CIDR"));
        let both = SourceCriterionSpec {
            request_host: true,
            request_header_name: "X".into(),
            ..Default::default()
        };
        assert!(SourceCriterion::compile(
            "rateLimit.sourceCriterion",
            Some(&both),
            SourceCriterion::Host
        )
        .is_err());
    }

    #[test]
    fn checker_matches_mapped_and_ranges() {
        let c = IpChecker::parse("f", &["192.168.1.7/24".into(), "::1".into()]).unwrap();
        assert!(c.contains("192.168.1.200".parse().unwrap()));
        assert!(c.contains("::ffff:192.168.1.3".parse().unwrap()));
        assert!(c.contains_str("[::1]:443"));
        assert!(!c.contains("192.168.2.1".parse().unwrap()));
    }
}
