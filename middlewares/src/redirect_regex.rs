//! RedirectRegex: redirects when the full request URL matches a regular expression.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `redirectRegex`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct RedirectRegexSpec {
    /// Regular expression matched against the full URL (`scheme://host/path?query`). Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub regex: String,
    /// The target URL; `$1`, `${1}` and `${name}` refer to capture groups. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub replacement: String,
    /// Permanent redirection (301/308) instead of temporary (302/307).
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub permanent: bool,
}

/// `redirectRegex`, compiled.
#[derive(Clone, Debug)]
pub struct RedirectRegex {
    regex: regex::Regex,
    replacement: String,
    permanent: bool,
}

impl RedirectRegex {
    pub fn compile(spec: &RedirectRegexSpec) -> Result<Self, crate::SpecError> {
        if spec.regex.trim().is_empty() {
            return Err(crate::SpecError::Missing("redirectRegex.regex"));
        }
        if spec.replacement.trim().is_empty() {
            return Err(crate::SpecError::Missing("redirectRegex.replacement"));
        }
        let regex = regex::Regex::new(spec.regex.trim())
            .map_err(|e| crate::SpecError::regex("redirectRegex.regex", &e))?;
        Ok(RedirectRegex {
            regex,
            replacement: spec.replacement.trim().to_string(),
            permanent: spec.permanent,
        })
    }

    /// As Traefik: the regex runs on `scheme://host[:port]/path?query` (scheme `https` on TLS,
    /// host as the client sent it); a changed URL is a redirect, an unchanged one passes.
    pub fn on_request(
        &self,
        parts: &mut http::request::Parts,
        conn: &crate::ConnInfo,
    ) -> crate::Action {
        let old = raw_url(parts, conn.tls);
        if !self.regex.is_match(&old) {
            return crate::Action::Continue;
        }
        let new = self.regex.replace_all(&old, self.replacement.as_str());
        if new == old {
            return crate::Action::Continue;
        }
        moved(&parts.method, self.permanent, &new)
    }
}

/// Go's view of the URL for RedirectRegex: an absolute-form request target (HTTP/1 only) gives
/// scheme, host and port; otherwise the Host header as is.
fn raw_url(parts: &http::request::Parts, tls: bool) -> String {
    let (mut scheme, host, port, uri) = url_pieces(parts);
    if tls {
        scheme = "https";
    }
    let mut s = String::with_capacity(scheme.len() + 3 + host.len() + port.len() + uri.len());
    s.push_str(scheme);
    s.push_str("://");
    s.push_str(host);
    s.push_str(port);
    s.push_str(uri);
    s
}

/// (scheme, host, port with its colon or "", request URI) before TLS/forwarded adjustments.
/// Host and port come from the Host header unsplit (port ""), or from an HTTP/1 absolute-form
/// target.
pub(crate) fn url_pieces(parts: &http::request::Parts) -> (&'static str, &str, &str, &str) {
    let uri = crate::util::request_uri(parts);
    if parts.version < http::Version::HTTP_2 {
        if let (Some(s), Some(auth)) = (parts.uri.scheme_str(), parts.uri.authority()) {
            let scheme = if s.eq_ignore_ascii_case("https") {
                "https"
            } else {
                "http"
            };
            let a = auth.as_str();
            let a = a.rsplit_once('@').map(|(_, h)| h).unwrap_or(a);
            let (host, port) = split_port(a);
            return (scheme, host, port, uri);
        }
    }
    ("http", crate::util::host(parts), "", uri)
}

/// Splits `host:port` / `[v6]:port` into host and `:port` ("" when there is no port).
pub(crate) fn split_port(hostport: &str) -> (&str, &str) {
    if hostport.starts_with('[') {
        return match hostport.find(']') {
            Some(end) if hostport[end + 1..].starts_with(':') => {
                (&hostport[..=end], &hostport[end + 1..])
            }
            _ => (hostport, ""),
        };
    }
    match hostport.rfind(':') {
        Some(i) if !hostport[..i].contains(':') => (&hostport[..i], &hostport[i..]),
        _ => (hostport, ""),
    }
}

/// Traefik's redirect response: 302/307 temporary, 301/308 permanent (the 30x that keeps the
/// method for anything but GET), `Location`, and the status text as body.
pub(crate) fn moved(method: &http::Method, permanent: bool, location: &str) -> crate::Action {
    use http::StatusCode as S;
    let Ok(loc) = http::HeaderValue::from_str(location) else {
        return crate::Action::Respond(crate::util::text(
            S::INTERNAL_SERVER_ERROR,
            "Internal Server Error",
        ));
    };
    let get = method == http::Method::GET;
    let status = match (permanent, get) {
        (false, true) => S::FOUND,
        (false, false) => S::TEMPORARY_REDIRECT,
        (true, true) => S::MOVED_PERMANENTLY,
        (true, false) => S::PERMANENT_REDIRECT,
    };
    let mut resp = crate::util::status_text(status);
    resp.headers_mut().insert(http::header::LOCATION, loc);
    crate::Action::Respond(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, ConnInfo};

    const PLAIN: ConnInfo = ConnInfo {
        remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: false,
    };

    fn run(regex: &str, replacement: &str, permanent: bool, req: http::Request<()>) -> Action {
        let f = RedirectRegex::compile(&RedirectRegexSpec {
            regex: regex.into(),
            replacement: replacement.into(),
            permanent,
        })
        .expect("compile");
        let (mut p, ()) = req.into_parts();
        f.on_request(&mut p, &PLAIN)
    }

    fn location(a: &Action) -> (u16, String) {
        match a {
            Action::Respond(r) => (
                r.status().as_u16(),
                r.headers()["location"].to_str().unwrap().to_string(),
            ),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn redirects_with_groups() {
        let req = http::Request::get("/foo/bar?x=1")
            .header("host", "a.example:8080")
            .body(())
            .unwrap();
        let a = run(
            "^http://a.example:8080/foo/(.*)",
            "https://b.example/${1}",
            false,
            req,
        );
        assert_eq!(location(&a), (302, "https://b.example/bar?x=1".into()));
        let req = http::Request::post("/foo/bar")
            .header("host", "a.example")
            .body(())
            .unwrap();
        let a = run(
            "^http://a.example/foo/(.*)",
            "http://a.example/$1",
            true,
            req,
        );
        assert_eq!(location(&a), (308, "http://a.example/bar".into()));
    }

    #[test]
    fn unchanged_url_passes() {
        let req = http::Request::get("/x")
            .header("host", "h")
            .body(())
            .unwrap();
        assert!(matches!(
            run("^http://h/(.*)", "http://h/$1", false, req),
            Action::Continue
        ));
        let req = http::Request::get("/x")
            .header("host", "h")
            .body(())
            .unwrap();
        assert!(matches!(
            run("^https://", "http://", false, req),
            Action::Continue
        ));
    }

    #[test]
    fn split_port_forms() {
        assert_eq!(split_port("a:80"), ("a", ":80"));
        assert_eq!(split_port("a"), ("a", ""));
        assert_eq!(split_port("[::1]:443"), ("[::1]", ":443"));
        assert_eq!(split_port("[::1]"), ("[::1]", ""));
        assert_eq!(split_port("::1"), ("::1", ""));
    }
}
