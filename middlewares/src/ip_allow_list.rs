//! IPAllowList (and its old name IPWhiteList): admits only clients whose IP (chosen by the IP
//! strategy) is in the source ranges; others get 403 (or `rejectStatusCode`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::ip_strategy::IpStrategySpec;

/// `ipAllowList` / `ipWhiteList`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct IpAllowListSpec {
    /// Allowed addresses or CIDR ranges, IPv4 or IPv6. Required.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub source_range: Vec<String>,
    /// How the client IP is chosen (default: the remote address).
    #[serde(
        rename = "ipStrategy",
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::allow_empty"
    )]
    pub ip_strategy: Option<IpStrategySpec>,
    /// Status code for refused requests (default 403). `ipAllowList` only in Traefik.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub reject_status_code: Option<i64>,
}

// ---- compiled form -------------------------------------------------------------------------

use http::StatusCode;

use crate::ip_strategy::{ClientAddr, IpChecker, IpStrategy};
use crate::{Action, ConnInfo, SpecError};

/// `ipAllowList` / `ipWhiteList`, compiled.
#[derive(Clone, Debug)]
pub struct IpAllowList {
    checker: IpChecker,
    strategy: IpStrategy,
    reject: StatusCode,
}

impl IpAllowList {
    /// `key` is the name the definition used (`ipAllowList` or `ipWhiteList`), for messages.
    pub fn compile(key: &'static str, spec: &IpAllowListSpec) -> Result<Self, SpecError> {
        if spec.source_range.is_empty() {
            return Err(SpecError::Missing(if key == "ipWhiteList" {
                "ipWhiteList.sourceRange"
            } else {
                "ipAllowList.sourceRange"
            }));
        }
        let checker = IpChecker::parse(&format!("{key}.sourceRange"), &spec.source_range)?;
        let strategy =
            IpStrategy::compile(&format!("{key}.ipStrategy"), spec.ip_strategy.as_ref())?;
        let reject = match spec.reject_status_code {
            None | Some(0) => StatusCode::FORBIDDEN,
            Some(code) => u16::try_from(code)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .filter(|s| s.canonical_reason().is_some())
                .ok_or_else(|| {
                    SpecError::invalid(
                        format!("{key}.rejectStatusCode"),
                        format!("{code} is not an HTTP status code"),
                    )
                })?,
        };
        Ok(IpAllowList {
            checker,
            strategy,
            reject,
        })
    }

    /// Refuses clients whose address (by the IP strategy) is outside the ranges, or that have
    /// no usable address, with the status text as body.
    pub fn on_request(&self, parts: &http::request::Parts, conn: &ConnInfo) -> Action {
        match self.strategy.client(parts, conn.remote_ip) {
            ClientAddr::Ip(ip) if self.checker.contains(ip) => Action::Continue,
            _ => Action::Respond(crate::util::status_text(self.reject)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(ip: &str) -> ConnInfo {
        ConnInfo {
            remote_ip: ip.parse().unwrap(),
            tls: false,
        }
    }

    fn status(f: &IpAllowList, xff: Option<&str>, remote: &str) -> u16 {
        let mut b = http::Request::get("/");
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let (p, ()) = b.body(()).unwrap().into_parts();
        match f.on_request(&p, &conn(remote)) {
            Action::Continue => 200,
            Action::Respond(r) => r.status().as_u16(),
            _ => panic!("unexpected action"),
        }
    }

    fn spec(yaml: &str) -> IpAllowListSpec {
        serde_norway::from_str(yaml).unwrap()
    }

    #[test]
    fn remote_address() {
        let f = IpAllowList::compile(
            "ipAllowList",
            &spec("sourceRange: [127.0.0.1/32, 192.168.1.7, '2001:db8::/32']"),
        )
        .unwrap();
        assert_eq!(status(&f, None, "127.0.0.1"), 200);
        assert_eq!(
            status(&f, Some("192.168.1.7"), "10.0.0.1"),
            403,
            "XFF ignored by default"
        );
        assert_eq!(status(&f, None, "192.168.1.7"), 200);
        assert_eq!(status(&f, None, "2001:db8::5"), 200);
        assert_eq!(status(&f, None, "::ffff:127.0.0.1"), 200);
    }

    #[test]
    fn depth_and_excluded() {
        let f = IpAllowList::compile(
            "ipAllowList",
            &spec("sourceRange: [1.1.1.1]\nipStrategy: {depth: 2}"),
        )
        .unwrap();
        assert_eq!(status(&f, Some("1.1.1.1, 9.9.9.9"), "10.0.0.1"), 200);
        assert_eq!(status(&f, Some("9.9.9.9, 1.1.1.1"), "10.0.0.1"), 403);
        assert_eq!(
            status(&f, Some("1.1.1.1"), "1.1.1.1"),
            403,
            "too short: no address"
        );
        let f = IpAllowList::compile(
            "ipAllowList",
            &spec("sourceRange: [1.1.1.1]\nipStrategy: {excludedIPs: [10.0.0.0/8]}\nrejectStatusCode: 404"),
        )
        .unwrap();
        assert_eq!(
            status(&f, Some("1.1.1.1, 10.0.0.2, 10.0.0.3"), "10.0.0.1"),
            200
        );
        assert_eq!(status(&f, Some("10.0.0.2"), "1.1.1.1"), 404);
    }

    #[test]
    fn errors() {
        let e = IpAllowList::compile("ipWhiteList", &IpAllowListSpec::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing required option `ipWhiteList.sourceRange`"
        );
        let e = IpAllowList::compile("ipAllowList", &spec("sourceRange: [nope]")).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid `ipAllowList.sourceRange`"));
        let e = IpAllowList::compile(
            "ipAllowList",
            &spec("sourceRange: [1.1.1.1]\nrejectStatusCode: 999"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("rejectStatusCode"));
    }
}
