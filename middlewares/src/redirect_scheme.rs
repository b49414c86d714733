//! RedirectScheme: redirects requests to another scheme (and port).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `redirectScheme`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RedirectSchemeSpec {
    /// Target scheme (`https`). Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub scheme: String,
    /// Target port; empty keeps none (the scheme's default port).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub port: String,
    /// Permanent redirection (301/308) instead of temporary (302/307).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub permanent: bool,
}

/// `redirectScheme`, compiled.
#[derive(Clone, Debug)]
pub struct RedirectScheme {
    scheme: String,
    /// `:port`, or "" when none is configured or it is the scheme's default.
    port: String,
    permanent: bool,
    /// Traefik's pattern over the client URL.
    pattern: regex::Regex,
}

/// `^(https?://)?(\[[\w:.]+\]|[\w._-]+)?(:\d+)?(.*)$` with Go's ASCII `\w`.
const URI_PATTERN: &str = r"^(https?://)?(\[[0-9A-Za-z_:.]+\]|[0-9A-Za-z_._-]+)?(:[0-9]+)?(.*)$";

impl RedirectScheme {
    pub fn compile(spec: &RedirectSchemeSpec) -> Result<Self, crate::SpecError> {
        let scheme = spec.scheme.trim();
        if scheme.is_empty() {
            return Err(crate::SpecError::Missing("redirectScheme.scheme"));
        }
        if !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err(crate::SpecError::invalid(
                "redirectScheme.scheme",
                format!("{scheme:?} is not a URL scheme"),
            ));
        }
        let port = spec.port.trim();
        if !port.is_empty() && port.parse::<u16>().is_err() {
            return Err(crate::SpecError::invalid(
                "redirectScheme.port",
                format!("{port:?} is not a port number"),
            ));
        }
        let default_port =
            (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
        let pattern = regex::Regex::new(URI_PATTERN)
            .map_err(|e| crate::SpecError::regex("redirectScheme", &e))?;
        Ok(RedirectScheme {
            scheme: scheme.to_string(),
            port: if port.is_empty() || default_port {
                String::new()
            } else {
                format!(":{port}")
            },
            permanent: spec.permanent,
            pattern,
        })
    }

    /// As Traefik: the client URL is built from the Host header (or an absolute-form target),
    /// `https` when on TLS, then `X-Forwarded-Proto` (ws/wss read as http/https); the default
    /// port of the scheme is dropped. The target keeps host and path, takes the configured
    /// scheme and port; an unchanged URL (already on the target) passes through.
    pub fn on_request(
        &self,
        parts: &mut http::request::Parts,
        conn: &crate::ConnInfo,
    ) -> crate::Action {
        let (scheme, host_header, abs_port, uri) = crate::redirect_regex::url_pieces(parts);
        let (host, mut port) = if abs_port.is_empty() {
            crate::redirect_regex::split_port(host_header)
        } else {
            (host_header, abs_port)
        };
        let mut scheme_owned: &str = if conn.tls { "https" } else { scheme };
        if let Some(xp) = parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
        {
            if !xp.is_empty() {
                scheme_owned = if xp.eq_ignore_ascii_case("ws") {
                    "http"
                } else if xp.eq_ignore_ascii_case("wss") {
                    "https"
                } else {
                    xp
                };
            }
        }
        if (scheme_owned == "http" && port == ":80") || (scheme_owned == "https" && port == ":443")
        {
            port = "";
        }
        let old = format!("{scheme_owned}://{host}{port}{uri}");
        let Some(caps) = self.pattern.captures(&old) else {
            return crate::Action::Continue;
        };
        let new = format!(
            "{}://{}{}{}",
            self.scheme,
            caps.get(2).map_or("", |m| m.as_str()),
            self.port,
            caps.get(4).map_or("", |m| m.as_str())
        );
        if new == old {
            return crate::Action::Continue;
        }
        crate::redirect_regex::moved(&parts.method, self.permanent, &new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, ConnInfo};

    fn conn(tls: bool) -> ConnInfo {
        ConnInfo {
            remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            tls,
        }
    }

    fn run(
        scheme: &str,
        port: &str,
        permanent: bool,
        req: http::Request<()>,
        tls: bool,
    ) -> Option<(u16, String)> {
        let f = RedirectScheme::compile(&RedirectSchemeSpec {
            scheme: scheme.into(),
            port: port.into(),
            permanent,
        })
        .expect("compile");
        let (mut p, ()) = req.into_parts();
        match f.on_request(&mut p, &conn(tls)) {
            Action::Respond(r) => Some((
                r.status().as_u16(),
                r.headers()["location"].to_str().unwrap().to_string(),
            )),
            Action::Continue => None,
            _ => panic!("unexpected action"),
        }
    }

    fn get(host: &str, uri: &str) -> http::Request<()> {
        http::Request::get(uri)
            .header("host", host)
            .body(())
            .unwrap()
    }

    #[test]
    fn http_to_https() {
        assert_eq!(
            run("https", "", false, get("a.example", "/p?q=1"), false),
            Some((302, "https://a.example/p?q=1".into()))
        );
        assert_eq!(
            run("https", "", true, get("a.example", "/p"), false),
            Some((301, "https://a.example/p".into()))
        );
        let post = http::Request::post("/p")
            .header("host", "a.example")
            .body(())
            .unwrap();
        assert_eq!(
            run("https", "", true, post, false),
            Some((308, "https://a.example/p".into()))
        );
        let put = http::Request::put("/p")
            .header("host", "a.example")
            .body(())
            .unwrap();
        assert_eq!(
            run("https", "", false, put, false),
            Some((307, "https://a.example/p".into()))
        );
    }

    #[test]
    fn ports() {
        // The client's port is dropped; a configured port is added unless it is the default.
        assert_eq!(
            run("https", "", false, get("a.example:8080", "/"), false),
            Some((302, "https://a.example/".into()))
        );
        assert_eq!(
            run("https", "8443", false, get("a.example:8080", "/"), false),
            Some((302, "https://a.example:8443/".into()))
        );
        assert_eq!(
            run("https", "443", false, get("a.example", "/"), false),
            Some((302, "https://a.example/".into()))
        );
        assert_eq!(
            run("https", "", false, get("[::1]:80", "/x"), false),
            Some((302, "https://[::1]/x".into()))
        );
    }

    #[test]
    fn no_loop_when_already_there() {
        assert_eq!(run("https", "", false, get("a.example", "/"), true), None);
        assert_eq!(
            run("https", "443", false, get("a.example:443", "/"), true),
            None
        );
        let behind = http::Request::get("/")
            .header("host", "a.example")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap();
        assert_eq!(run("https", "", false, behind, false), None);
        let ws = http::Request::get("/")
            .header("host", "a.example")
            .header("x-forwarded-proto", "wss")
            .body(())
            .unwrap();
        assert_eq!(run("https", "", false, ws, false), None);
        // On TLS with a non-default port, redirecting to https without a port changes the URL.
        assert_eq!(
            run("https", "", false, get("a.example:8443", "/"), true),
            Some((302, "https://a.example/".into()))
        );
    }

    #[test]
    fn bad_options() {
        assert!(RedirectScheme::compile(&RedirectSchemeSpec::default()).is_err());
        let e = RedirectScheme::compile(&RedirectSchemeSpec {
            scheme: "https".into(),
            port: "-1".into(),
            permanent: false,
        });
        assert!(e.unwrap_err().to_string().contains("redirectScheme.port"));
    }
}
