//! ForwardAuth: asks an authentication server about each request; 2xx lets it through (copying
//! chosen headers), anything else is returned to the client.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `forwardAuth`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ForwardAuthSpec {
    /// URL of the authentication server. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub address: String,
    /// TLS towards the authentication server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTlsSpec>,
    /// Forward the client's X-Forwarded-* headers as they are instead of setting them.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub trust_forward_header: bool,
    /// Headers copied from the auth response onto the forwarded request.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub auth_response_headers: Vec<String>,
    /// Regex of auth-response header names to copy (request headers matching it are removed first).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub auth_response_headers_regex: String,
    /// Request headers sent to the auth server; empty sends all.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub auth_request_headers: Vec<String>,
    /// Cookies copied from the auth response onto the client response.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub add_auth_cookies_to_response: Vec<String>,
    /// Auth-response header whose value is the authenticated user (for the access log).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header_field: String,
    /// Send the request body to the auth server.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub forward_body: bool,
    /// Largest body forwarded when `forwardBody` is set (default -1: no limit).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub max_body_size: Option<i64>,
    /// Largest auth-server response body read (default -1: no limit); larger answers are
    /// refused with 401 (Traefik v2.11.x / v3.6+).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub max_response_body_size: Option<i64>,
    /// Return the auth server's `Location` header unchanged instead of making it absolute.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub preserve_location_header: bool,
    /// Use the client's method towards the auth server instead of GET.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub preserve_request_method: bool,
}

/// Client TLS options (ForwardAuth `tls`, RateLimit `redis.tls`): file paths or PEM contents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientTlsSpec {
    /// CA bundle to verify the server.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub ca: String,
    /// Client certificate.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub cert: String,
    /// Client private key.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub key: String,
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub insecure_skip_verify: bool,
    /// Deprecated in Traefik (a server-side option); accepted and ignored.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub ca_optional: Option<bool>,
}

/// Checks every option without building a filter yet.
pub fn validate(spec: &ForwardAuthSpec) -> Result<(), crate::SpecError> {
    use crate::SpecError;
    let address = spec.address.trim();
    if address.is_empty() {
        return Err(SpecError::Missing("forwardAuth.address"));
    }
    let uri: http::Uri = address.parse().map_err(|_| {
        SpecError::invalid("forwardAuth.address", format!("{address:?} is not a URL"))
    })?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(SpecError::invalid(
            "forwardAuth.address",
            format!("{address:?} must be an absolute http:// or https:// URL"),
        ));
    }
    if !spec.auth_response_headers_regex.is_empty() {
        regex::Regex::new(&spec.auth_response_headers_regex)
            .map_err(|e| SpecError::regex("forwardAuth.authResponseHeadersRegex", &e))?;
    }
    for (field, list) in [
        (
            "forwardAuth.authResponseHeaders",
            &spec.auth_response_headers,
        ),
        ("forwardAuth.authRequestHeaders", &spec.auth_request_headers),
    ] {
        for h in list {
            http::HeaderName::from_bytes(h.trim().as_bytes()).map_err(|_| {
                SpecError::invalid(field, format!("{h:?} is not a valid header name"))
            })?;
        }
    }
    if let Some(tls) = &spec.tls {
        // As Traefik's ClientTLS: a certificate needs its key and the other way round.
        if tls.cert.trim().is_empty() != tls.key.trim().is_empty() {
            return Err(SpecError::invalid(
                "forwardAuth.tls",
                "both TLS cert and key must be defined",
            ));
        }
    }
    for (field, v) in [
        ("forwardAuth.maxBodySize", spec.max_body_size),
        (
            "forwardAuth.maxResponseBodySize",
            spec.max_response_body_size,
        ),
    ] {
        if let Some(n) = v {
            if n < -1 {
                return Err(SpecError::invalid(
                    field,
                    format!("must be -1 (no limit) or more (got {n})"),
                ));
            }
        }
    }
    Ok(())
}

// ---- compiled form -------------------------------------------------------------------------

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, LOCATION, SET_COOKIE};
use http::{request, response, Method, StatusCode};

use crate::{Action, ConnInfo, FlowState, SpecError};

/// Hop-by-hop headers never copied to the auth request (Proxy-Authorization is, RFC 7235 §4.4).
const HOP_TO_AUTH: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];
/// Hop-by-hop headers never copied from a refusing auth response to the client.
const HOP_FROM_AUTH: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// `forwardAuth`, compiled. The call itself is the proxy's: `on_request` returns
/// `Action::Call(auth request)`, the proxy sends it (with the body when `forward_body()`), and
/// hands the answer to `on_call_response`.
#[derive(Debug)]
pub struct ForwardAuth {
    address: http::Uri,
    trust_forward_header: bool,
    auth_response_headers: Vec<HeaderName>,
    auth_response_headers_regex: Option<regex::Regex>,
    auth_request_headers: Vec<HeaderName>,
    add_auth_cookies: Vec<String>,
    header_field: Option<HeaderName>,
    forward_body: bool,
    max_body_size: i64,
    max_response_body_size: i64,
    preserve_location_header: bool,
    preserve_request_method: bool,
    /// TLS towards the auth server, for the proxy's client.
    pub tls: Option<ClientTlsSpec>,
    /// The proxy's client for these calls when `tls` needs one of its own (opaque here: the
    /// proxy's compiler builds it from `tls` and the loaded files, see `set_client`).
    client: Option<CallClient>,
}

/// A client the proxy attaches to a compiled ForwardAuth (its type is the proxy's).
pub type CallClient = std::sync::Arc<dyn std::any::Any + Send + Sync>;

impl ClientTlsSpec {
    /// Whether anything differs from the default client (system roots, no certificate).
    pub fn is_set(&self) -> bool {
        !self.ca.is_empty()
            || !self.cert.is_empty()
            || !self.key.is_empty()
            || self.insecure_skip_verify
    }
}

impl ForwardAuth {
    pub fn compile(spec: &ForwardAuthSpec) -> Result<Self, SpecError> {
        validate(spec)?;
        let names = |list: &[String]| -> Vec<HeaderName> {
            list.iter()
                .filter_map(|h| HeaderName::from_bytes(h.trim().as_bytes()).ok())
                .collect()
        };
        Ok(ForwardAuth {
            address: spec
                .address
                .trim()
                .parse()
                .map_err(|_| SpecError::invalid("forwardAuth.address", "not a URL"))?,
            trust_forward_header: spec.trust_forward_header,
            auth_response_headers: names(&spec.auth_response_headers),
            auth_response_headers_regex: if spec.auth_response_headers_regex.is_empty() {
                None
            } else {
                Some(
                    regex::Regex::new(&spec.auth_response_headers_regex).map_err(|e| {
                        SpecError::regex("forwardAuth.authResponseHeadersRegex", &e)
                    })?,
                )
            },
            auth_request_headers: names(&spec.auth_request_headers),
            add_auth_cookies: spec.add_auth_cookies_to_response.clone(),
            header_field: match spec.header_field.trim() {
                "" => None,
                h => Some(HeaderName::from_bytes(h.as_bytes()).map_err(|_| {
                    SpecError::invalid(
                        "forwardAuth.headerField",
                        format!("{h:?} is not a valid header name"),
                    )
                })?),
            },
            forward_body: spec.forward_body,
            max_body_size: spec.max_body_size.unwrap_or(-1),
            max_response_body_size: spec.max_response_body_size.unwrap_or(-1),
            preserve_location_header: spec.preserve_location_header,
            preserve_request_method: spec.preserve_request_method,
            tls: spec.tls.clone(),
            client: None,
        })
    }

    /// The client the proxy built for `tls` (see [`CallClient`]).
    pub fn client(&self) -> Option<&CallClient> {
        self.client.as_ref()
    }

    /// Attaches the proxy's client for `tls`.
    pub fn set_client(&mut self, client: CallClient) {
        self.client = Some(client);
    }

    /// `Some(limit)` when the request body must be sent to the auth server; `limit` < 0 means
    /// no limit. A body over the limit must be answered 401 (as Traefik).
    pub fn forward_body(&self) -> Option<i64> {
        self.forward_body.then_some(self.max_body_size)
    }

    /// Largest auth-server answer body the proxy reads (< 0: no limit). Over it, the client
    /// gets 401, as Traefik.
    pub fn max_response_body_size(&self) -> i64 {
        self.max_response_body_size
    }

    /// The auth request, as Traefik builds it: method GET (or the client's with
    /// `preserveRequestMethod`), the client's headers minus hop-by-hop ones (only
    /// `authRequestHeaders` when set), and `X-Forwarded-For/-Method/-Proto/-Host/-Uri` from the
    /// request, or from the client's own values with `trustForwardHeader`.
    pub fn auth_request(&self, req: &request::Parts, conn: &ConnInfo) -> request::Parts {
        let (mut out, ()) = http::Request::new(()).into_parts();
        out.method = if self.preserve_request_method {
            req.method.clone()
        } else {
            Method::GET
        };
        out.uri = self.address.clone();
        let mut headers = req.headers.clone();
        let listed: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for n in listed {
            headers.remove(n);
        }
        for n in HOP_TO_AUTH {
            headers.remove(*n);
        }
        // Host and framing come from the auth request itself.
        headers.remove(http::header::HOST);
        headers.remove(http::header::CONTENT_LENGTH);
        if !self.auth_request_headers.is_empty() {
            let mut filtered = HeaderMap::new();
            for n in &self.auth_request_headers {
                for v in headers.get_all(n) {
                    filtered.append(n.clone(), v.clone());
                }
            }
            headers = filtered;
        }
        let trusted = |name: &str| -> Option<HeaderValue> {
            if !self.trust_forward_header {
                return None;
            }
            req.headers.get(name).filter(|v| !v.is_empty()).cloned()
        };
        let client = HeaderValue::from_str(&conn.remote_ip.to_string()).ok();
        let xff = if self.trust_forward_header && req.headers.contains_key("x-forwarded-for") {
            let prior: Vec<&str> = req
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            HeaderValue::from_str(&format!("{}, {}", prior.join(", "), conn.remote_ip)).ok()
        } else {
            client
        };
        if let Some(v) = xff {
            headers.insert("x-forwarded-for", v);
        }
        let method = trusted("x-forwarded-method")
            .or_else(|| HeaderValue::from_str(req.method.as_str()).ok());
        if let Some(v) = method {
            headers.insert("x-forwarded-method", v);
        }
        let proto = trusted("x-forwarded-proto")
            .unwrap_or_else(|| HeaderValue::from_static(if conn.tls { "https" } else { "http" }));
        headers.insert("x-forwarded-proto", proto);
        if let Some(v) = trusted("x-forwarded-port") {
            headers.insert("x-forwarded-port", v);
        }
        match trusted("x-forwarded-host")
            .or_else(|| HeaderValue::from_str(crate::util::host(req)).ok())
        {
            Some(v) if !v.is_empty() => {
                headers.insert("x-forwarded-host", v);
            }
            _ => {
                headers.remove("x-forwarded-host");
            }
        }
        if let Some(v) = trusted("x-forwarded-uri")
            .or_else(|| HeaderValue::from_str(crate::util::request_uri(req)).ok())
        {
            headers.insert("x-forwarded-uri", v);
        }
        out.headers = headers;
        out
    }

    /// The auth server's answer. 2xx: copy `authResponseHeaders` (and regex matches) onto the
    /// request, replacing the client's, keep the cookies listed in `addAuthCookiesToResponse`
    /// for the response phase, and go on. Otherwise answer the client with the auth response
    /// (hop-by-hop headers removed, `Location` made absolute unless `preserveLocationHeader`).
    pub fn on_call_response(
        &self,
        auth: &response::Parts,
        body: Bytes,
        req: &mut request::Parts,
        flow: &mut FlowState,
    ) -> Action {
        if let Some(h) = &self.header_field {
            if let Some(u) = auth.headers.get(h).and_then(|v| v.to_str().ok()) {
                flow.user = Some(u.into());
            }
        }
        if !auth.status.is_success() {
            let mut resp = http::Response::new(body);
            *resp.status_mut() = auth.status;
            let hm = resp.headers_mut();
            for (k, v) in &auth.headers {
                hm.append(k.clone(), v.clone());
            }
            for n in HOP_FROM_AUTH {
                hm.remove(*n);
            }
            if let Some(loc) = auth.headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
                let loc = if self.preserve_location_header {
                    loc.to_string()
                } else {
                    resolve(&self.address, loc)
                };
                match HeaderValue::from_str(&loc) {
                    Ok(v) => {
                        hm.insert(LOCATION, v);
                    }
                    Err(_) => return Action::Respond(empty(StatusCode::INTERNAL_SERVER_ERROR)),
                }
            }
            return Action::Respond(resp);
        }
        for n in &self.auth_response_headers {
            req.headers.remove(n);
            for v in auth.headers.get_all(n) {
                req.headers.append(n.clone(), v.clone());
            }
        }
        if let Some(re) = &self.auth_response_headers_regex {
            let drop: Vec<HeaderName> = req
                .headers
                .keys()
                .filter(|k| re.is_match(&canonical(k.as_str())))
                .cloned()
                .collect();
            for k in drop {
                req.headers.remove(k);
            }
            for (k, v) in &auth.headers {
                if re.is_match(&canonical(k.as_str())) {
                    req.headers.append(k.clone(), v.clone());
                }
            }
        }
        if !self.add_auth_cookies.is_empty() {
            for v in auth.headers.get_all(SET_COOKIE) {
                if self
                    .add_auth_cookies
                    .iter()
                    .any(|c| cookie_name(v) == Some(c.as_str()))
                {
                    flow.auth_cookies.push(v.clone());
                }
            }
        }
        Action::Continue
    }

    /// Response phase: the backend's cookies named in `addAuthCookiesToResponse` are replaced by
    /// the auth server's.
    pub fn on_response(&self, parts: &mut response::Parts, flow: &FlowState) {
        if flow.auth_cookies.is_empty() {
            return;
        }
        let keep: Vec<HeaderValue> = parts
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter(|v| {
                !self
                    .add_auth_cookies
                    .iter()
                    .any(|c| cookie_name(v) == Some(c.as_str()))
            })
            .cloned()
            .collect();
        parts.headers.remove(SET_COOKIE);
        for v in keep.into_iter().chain(flow.auth_cookies.iter().cloned()) {
            parts.headers.append(SET_COOKIE, v);
        }
    }
}

/// The 500 Traefik answers when the auth server cannot be reached.
pub fn call_failed() -> http::Response<Bytes> {
    empty(StatusCode::INTERNAL_SERVER_ERROR)
}

fn empty(status: StatusCode) -> http::Response<Bytes> {
    let mut r = http::Response::new(Bytes::new());
    *r.status_mut() = status;
    r
}

/// Go's canonical header key (`x-auth-user` → `X-Auth-User`), which regexes are written against.
fn canonical(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

fn cookie_name(v: &HeaderValue) -> Option<&str> {
    v.to_str()
        .ok()?
        .split(';')
        .next()?
        .split_once('=')
        .map(|(n, _)| n.trim())
}

/// Go's `Response.Location()`: a relative Location resolved against the auth server URL.
fn resolve(base: &http::Uri, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let scheme = base.scheme_str().unwrap_or("http");
    if let Some(rest) = loc.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let authority = base.authority().map(|a| a.as_str()).unwrap_or("");
    if loc.starts_with('/') {
        return format!("{scheme}://{authority}{loc}");
    }
    let dir = base.path().rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    format!("{scheme}://{authority}{dir}/{loc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONN: ConnInfo = ConnInfo {
        remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7)),
        tls: true,
    };

    fn fa(yaml: &str) -> ForwardAuth {
        ForwardAuth::compile(&serde_norway::from_str(yaml).unwrap()).unwrap()
    }

    fn client_req() -> request::Parts {
        http::Request::post("/api/x?y=1")
            .header("host", "app.example")
            .header("cookie", "a=1")
            .header("connection", "keep-alive, x-drop")
            .header("x-drop", "1")
            .header("x-forwarded-for", "1.1.1.1")
            .header("x-forwarded-host", "spoofed")
            .header("content-length", "5")
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn auth_request_headers() {
        let f = fa("address: http://auth:9000/verify");
        let a = f.auth_request(&client_req(), &CONN);
        assert_eq!(a.method, Method::GET);
        assert_eq!(a.uri, "http://auth:9000/verify");
        let h = &a.headers;
        assert_eq!(h["cookie"], "a=1");
        assert!(
            !h.contains_key("x-drop") && !h.contains_key("connection") && !h.contains_key("host")
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.7");
        assert_eq!(h["x-forwarded-method"], "POST");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.example");
        assert_eq!(h["x-forwarded-uri"], "/api/x?y=1");

        let f = fa("address: http://auth/\ntrustForwardHeader: true\npreserveRequestMethod: true\nauthRequestHeaders: [Cookie]");
        let a = f.auth_request(&client_req(), &CONN);
        assert_eq!(a.method, Method::POST);
        assert_eq!(a.headers["x-forwarded-for"], "1.1.1.1, 10.0.0.7");
        assert_eq!(a.headers["x-forwarded-host"], "spoofed");
        assert_eq!(a.headers["cookie"], "a=1");
        assert!(!a.headers.contains_key("x-drop"));
    }

    #[test]
    fn success_copies_headers_and_cookies() {
        let f = fa("address: http://auth/\nauthResponseHeaders: [X-User]\nauthResponseHeadersRegex: '^X-Auth-'\naddAuthCookiesToResponse: [session]\nheaderField: X-User");
        let mut req = http::Request::get("/")
            .header("x-user", "spoof")
            .header("x-auth-role", "spoof")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let (auth, ()) = http::Response::builder()
            .header("x-user", "alice")
            .header("x-auth-role", "admin")
            .header("set-cookie", "session=abc; Path=/")
            .header("set-cookie", "other=1")
            .body(())
            .unwrap()
            .into_parts();
        let mut flow = FlowState::default();
        assert!(matches!(
            f.on_call_response(&auth, Bytes::new(), &mut req, &mut flow),
            Action::Continue
        ));
        assert_eq!(req.headers["x-user"], "alice");
        assert_eq!(req.headers["x-auth-role"], "admin");
        assert_eq!(flow.user.as_deref(), Some("alice"));
        let (mut resp, ()) = http::Response::builder()
            .header("set-cookie", "session=backend")
            .header("set-cookie", "keep=1")
            .body(())
            .unwrap()
            .into_parts();
        f.on_response(&mut resp, &flow);
        let cookies: Vec<_> = resp
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(cookies, ["keep=1", "session=abc; Path=/"]);
    }

    #[test]
    fn refusal_is_returned_with_absolute_location() {
        let f = fa("address: http://auth:9000/oauth/verify");
        let (auth, ()) = http::Response::builder()
            .status(302)
            .header("location", "/login?rd=x")
            .header("connection", "close")
            .header("x-reason", "no session")
            .body(())
            .unwrap()
            .into_parts();
        let mut req = client_req();
        match f.on_call_response(
            &auth,
            Bytes::from_static(b"go away"),
            &mut req,
            &mut FlowState::default(),
        ) {
            Action::Respond(r) => {
                assert_eq!(r.status(), 302);
                assert_eq!(r.headers()["location"], "http://auth:9000/login?rd=x");
                assert_eq!(r.headers()["x-reason"], "no session");
                assert!(!r.headers().contains_key("connection"));
                assert_eq!(r.body().as_ref(), b"go away");
            }
            other => panic!("{other:?}"),
        }
        let keep = fa("address: http://auth:9000/oauth/verify\npreserveLocationHeader: true");
        match keep.on_call_response(
            &auth,
            Bytes::new(),
            &mut client_req(),
            &mut FlowState::default(),
        ) {
            Action::Respond(r) => assert_eq!(r.headers()["location"], "/login?rd=x"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            resolve(&"http://a/b/c".parse().unwrap(), "d"),
            "http://a/b/d"
        );
    }
}
