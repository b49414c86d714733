//! Headers: custom request/response headers (an empty value removes the header), CORS (with
//! preflight requests answered here) and security headers.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `headers`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct HeadersSpec {
    /// Headers set on the request; an empty value removes the header.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub custom_request_headers: BTreeMap<String, String>,
    /// Headers set on the response; an empty value removes the header.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub custom_response_headers: BTreeMap<String, String>,

    /// `Access-Control-Allow-Credentials: true`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub access_control_allow_credentials: bool,
    /// `Access-Control-Allow-Headers` in preflight responses.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_headers: Vec<String>,
    /// `Access-Control-Allow-Methods` in preflight responses.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_methods: Vec<String>,
    /// Allowed origins; `*` allows any.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_origin_list: Vec<String>,
    /// Allowed origins as regular expressions.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_allow_origin_list_regex: Vec<String>,
    /// `Access-Control-Expose-Headers`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub access_control_expose_headers: Vec<String>,
    /// `Access-Control-Max-Age` in seconds for preflight responses.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub access_control_max_age: i64,
    /// Add `Vary: Origin` when the allowed origin is echoed.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub add_vary_header: bool,

    /// Allowed hosts; other hosts get 400 (unless `isDevelopment`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub allowed_hosts: Vec<String>,
    /// Headers that may carry the original host (checked against `allowedHosts`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub hosts_proxy_headers: Vec<String>,
    /// Header → value pairs that mark a request as HTTPS (`X-Forwarded-Proto: https`).
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::string_map"
    )]
    pub ssl_proxy_headers: BTreeMap<String, String>,
    /// `Strict-Transport-Security` max-age; 0 sends no header.
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub sts_seconds: i64,
    /// Append `includeSubDomains` to STS.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub sts_include_subdomains: bool,
    /// Append `preload` to STS.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub sts_preload: bool,
    /// Send STS on plain HTTP too.
    #[serde(
        rename = "forceSTSHeader",
        skip_serializing_if = "de::is_false",
        deserialize_with = "de::bool"
    )]
    pub force_sts_header: bool,
    /// `X-Frame-Options: DENY`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub frame_deny: bool,
    /// `X-Frame-Options` value (overrides `frameDeny`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub custom_frame_options_value: String,
    /// `X-Content-Type-Options: nosniff`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub content_type_nosniff: bool,
    /// `X-XSS-Protection: 1; mode=block`.
    #[serde(
        rename = "browserXssFilter",
        skip_serializing_if = "de::is_false",
        deserialize_with = "de::bool"
    )]
    pub browser_xss_filter: bool,
    /// `X-XSS-Protection` value (overrides `browserXssFilter`).
    #[serde(
        rename = "customBrowserXSSValue",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub custom_browser_xss_value: String,
    /// `Content-Security-Policy`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub content_security_policy: String,
    /// `Content-Security-Policy-Report-Only`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub content_security_policy_report_only: String,
    /// `Public-Key-Pins` (HPKP).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub public_key: String,
    /// `Referrer-Policy`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub referrer_policy: String,
    /// `Permissions-Policy`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub permissions_policy: String,
    /// Relax `allowedHosts` and STS for development.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub is_development: bool,
}

// ---- compiled form -------------------------------------------------------------------------

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, HOST, ORIGIN, VARY};
use http::{request, response, Method, Response, StatusCode};

use crate::{Action, ConnInfo, FlowState, SpecError};

/// `headers`, compiled: names and values parsed once, CORS and security parts precomputed.
#[derive(Debug)]
pub struct Headers {
    request_set: Vec<(HeaderName, HeaderValue)>,
    request_remove: Vec<HeaderName>,
    request_host: Option<HeaderValue>,
    /// `X-Forwarded-For: ""` in Traefik means "send no X-Forwarded-For at all".
    suppress_forwarded_for: bool,
    response_set: Vec<(HeaderName, HeaderValue)>,
    response_remove: Vec<HeaderName>,
    cors: Option<Cors>,
    secure: Option<Secure>,
}

#[derive(Debug)]
struct Cors {
    allow_credentials: bool,
    allow_headers: Option<HeaderValue>,
    allow_methods: Option<HeaderValue>,
    origins: Vec<String>,
    origin_regexes: Vec<regex::Regex>,
    expose_headers: Option<HeaderValue>,
    max_age: HeaderValue,
    add_vary: bool,
}

#[derive(Debug)]
struct Secure {
    allowed_hosts: Vec<String>,
    hosts_proxy_headers: Vec<HeaderName>,
    ssl_proxy_headers: Vec<(HeaderName, String)>,
    sts: Option<HeaderValue>,
    force_sts: bool,
    is_development: bool,
    public_key: Option<HeaderValue>,
    /// Headers set on every response regardless of the scheme.
    always: Vec<(HeaderName, HeaderValue)>,
}

fn name(field: &str, n: &str) -> Result<HeaderName, SpecError> {
    HeaderName::from_bytes(n.trim().as_bytes())
        .map_err(|_| SpecError::invalid(field, format!("{n:?} is not a valid header name")))
}

fn value(field: &str, v: &str) -> Result<HeaderValue, SpecError> {
    HeaderValue::from_str(v)
        .map_err(|_| SpecError::invalid(field, format!("{v:?} is not a valid header value")))
}

fn joined(field: &str, list: &[String]) -> Result<Option<HeaderValue>, SpecError> {
    if list.is_empty() {
        return Ok(None);
    }
    value(field, &list.join(",")).map(Some)
}

impl Headers {
    pub fn compile(spec: &HeadersSpec) -> Result<Self, SpecError> {
        const REQ: &str = "headers.customRequestHeaders";
        const RESP: &str = "headers.customResponseHeaders";
        let mut h = Headers {
            request_set: Vec::new(),
            request_remove: Vec::new(),
            request_host: None,
            suppress_forwarded_for: false,
            response_set: Vec::new(),
            response_remove: Vec::new(),
            cors: None,
            secure: None,
        };
        for (k, v) in &spec.custom_request_headers {
            let n = name(REQ, k)?;
            if v.is_empty() {
                if n == "x-forwarded-for" {
                    h.suppress_forwarded_for = true;
                }
                h.request_remove.push(n);
            } else if n == HOST {
                h.request_host = Some(value(REQ, v)?);
            } else {
                h.request_set.push((n, value(REQ, v)?));
            }
        }
        for (k, v) in &spec.custom_response_headers {
            let n = name(RESP, k)?;
            if v.is_empty() {
                h.response_remove.push(n);
            } else {
                h.response_set.push((n, value(RESP, v)?));
            }
        }

        let has_cors = spec.access_control_allow_credentials
            || !spec.access_control_allow_headers.is_empty()
            || !spec.access_control_allow_methods.is_empty()
            || !spec.access_control_allow_origin_list.is_empty()
            || !spec.access_control_allow_origin_list_regex.is_empty()
            || !spec.access_control_expose_headers.is_empty()
            || spec.access_control_max_age != 0
            || spec.add_vary_header;
        if has_cors {
            if spec.access_control_max_age < 0 {
                return Err(SpecError::invalid(
                    "headers.accessControlMaxAge",
                    format!("must not be negative (got {})", spec.access_control_max_age),
                ));
            }
            let origin_regexes = spec
                .access_control_allow_origin_list_regex
                .iter()
                .map(|r| {
                    regex::Regex::new(r).map_err(|e| {
                        SpecError::regex("headers.accessControlAllowOriginListRegex", &e)
                    })
                })
                .collect::<Result<_, _>>()?;
            h.cors = Some(Cors {
                allow_credentials: spec.access_control_allow_credentials,
                allow_headers: joined(
                    "headers.accessControlAllowHeaders",
                    &spec.access_control_allow_headers,
                )?,
                allow_methods: joined(
                    "headers.accessControlAllowMethods",
                    &spec.access_control_allow_methods,
                )?,
                origins: spec.access_control_allow_origin_list.clone(),
                origin_regexes,
                expose_headers: joined(
                    "headers.accessControlExposeHeaders",
                    &spec.access_control_expose_headers,
                )?,
                max_age: HeaderValue::from(spec.access_control_max_age),
                add_vary: spec.add_vary_header,
            });
        }

        let has_secure = !spec.allowed_hosts.is_empty()
            || !spec.hosts_proxy_headers.is_empty()
            || !spec.ssl_proxy_headers.is_empty()
            || spec.sts_seconds != 0
            || spec.sts_include_subdomains
            || spec.sts_preload
            || spec.force_sts_header
            || spec.frame_deny
            || !spec.custom_frame_options_value.is_empty()
            || spec.content_type_nosniff
            || spec.browser_xss_filter
            || !spec.custom_browser_xss_value.is_empty()
            || !spec.content_security_policy.is_empty()
            || !spec.content_security_policy_report_only.is_empty()
            || !spec.public_key.is_empty()
            || !spec.referrer_policy.is_empty()
            || !spec.permissions_policy.is_empty()
            || spec.is_development;
        if has_secure {
            if spec.sts_seconds < 0 {
                return Err(SpecError::invalid(
                    "headers.stsSeconds",
                    format!("must not be negative (got {})", spec.sts_seconds),
                ));
            }
            let sts = (spec.sts_seconds != 0).then(|| {
                let mut s = format!("max-age={}", spec.sts_seconds);
                if spec.sts_include_subdomains {
                    s.push_str("; includeSubDomains");
                }
                if spec.sts_preload {
                    s.push_str("; preload");
                }
                HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("max-age=0"))
            });
            let mut always = Vec::new();
            if !spec.custom_frame_options_value.is_empty() {
                always.push((
                    HeaderName::from_static("x-frame-options"),
                    value(
                        "headers.customFrameOptionsValue",
                        &spec.custom_frame_options_value,
                    )?,
                ));
            } else if spec.frame_deny {
                always.push((
                    HeaderName::from_static("x-frame-options"),
                    HeaderValue::from_static("DENY"),
                ));
            }
            if spec.content_type_nosniff {
                always.push((
                    HeaderName::from_static("x-content-type-options"),
                    HeaderValue::from_static("nosniff"),
                ));
            }
            if !spec.custom_browser_xss_value.is_empty() {
                always.push((
                    HeaderName::from_static("x-xss-protection"),
                    value(
                        "headers.customBrowserXSSValue",
                        &spec.custom_browser_xss_value,
                    )?,
                ));
            } else if spec.browser_xss_filter {
                always.push((
                    HeaderName::from_static("x-xss-protection"),
                    HeaderValue::from_static("1; mode=block"),
                ));
            }
            let pairs = [
                (
                    "content-security-policy",
                    "headers.contentSecurityPolicy",
                    &spec.content_security_policy,
                ),
                (
                    "content-security-policy-report-only",
                    "headers.contentSecurityPolicyReportOnly",
                    &spec.content_security_policy_report_only,
                ),
                (
                    "referrer-policy",
                    "headers.referrerPolicy",
                    &spec.referrer_policy,
                ),
                (
                    "permissions-policy",
                    "headers.permissionsPolicy",
                    &spec.permissions_policy,
                ),
            ];
            for (header, field, v) in pairs {
                if !v.is_empty() {
                    always.push((HeaderName::from_static(header), value(field, v)?));
                }
            }
            h.secure = Some(Secure {
                allowed_hosts: spec
                    .allowed_hosts
                    .iter()
                    .map(|s| s.trim().to_string())
                    .collect(),
                hosts_proxy_headers: spec
                    .hosts_proxy_headers
                    .iter()
                    .map(|n| name("headers.hostsProxyHeaders", n))
                    .collect::<Result<_, _>>()?,
                ssl_proxy_headers: spec
                    .ssl_proxy_headers
                    .iter()
                    .map(|(k, v)| Ok((name("headers.sslProxyHeaders", k)?, v.clone())))
                    .collect::<Result<_, SpecError>>()?,
                sts,
                force_sts: spec.force_sts_header,
                is_development: spec.is_development,
                public_key: if spec.public_key.is_empty() {
                    None
                } else {
                    Some(value("headers.publicKey", &spec.public_key)?)
                },
                always,
            });
        }
        Ok(h)
    }

    /// Request phase: allowed hosts (500 "Bad Host", as Traefik's secure library), CORS
    /// preflight answered here, custom request headers.
    pub fn on_request(
        &self,
        index: usize,
        parts: &mut request::Parts,
        conn: &ConnInfo,
        flow: &mut FlowState,
    ) -> Action {
        if let Some(sec) = &self.secure {
            if !sec.allowed_hosts.is_empty() && !sec.is_development {
                let host = sec
                    .hosts_proxy_headers
                    .iter()
                    .filter_map(|n| parts.headers.get(n).and_then(|v| v.to_str().ok()))
                    .find(|v| !v.is_empty())
                    .unwrap_or_else(|| crate::util::host(parts));
                if !sec
                    .allowed_hosts
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(host))
                {
                    return Action::Respond(crate::util::text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Bad Host",
                    ));
                }
            }
            let ssl = conn.tls
                || parts.uri.scheme_str() == Some("https")
                || sec.ssl_proxy_headers.iter().any(|(n, v)| {
                    parts.headers.get(n).and_then(|h| h.to_str().ok()) == Some(v.as_str())
                });
            if ssl && index < 64 {
                flow.ssl |= 1 << index;
            }
        }

        if let Some(cors) = &self.cors {
            let preflight = parts.method == Method::OPTIONS
                && parts.headers.contains_key("access-control-request-method")
                && parts.headers.contains_key(ORIGIN);
            if preflight {
                // As Traefik: the preflight answer carries the CORS headers only (its security
                // headers are applied through a response writer the preflight never uses).
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::OK;
                let hm = resp.headers_mut();
                if cors.allow_credentials {
                    hm.insert(
                        "access-control-allow-credentials",
                        HeaderValue::from_static("true"),
                    );
                }
                if let Some(v) = &cors.allow_headers {
                    hm.insert("access-control-allow-headers", v.clone());
                }
                if let Some(v) = &cors.allow_methods {
                    hm.insert("access-control-allow-methods", v.clone());
                }
                if let Some(v) = cors.allowed_origin(parts.headers.get(ORIGIN)) {
                    hm.insert("access-control-allow-origin", v);
                }
                hm.insert("access-control-max-age", cors.max_age.clone());
                return Action::Respond(resp);
            }
        }

        for n in &self.request_remove {
            parts.headers.remove(n);
        }
        if self.suppress_forwarded_for {
            flow.suppress_forwarded_for = true;
        }
        if let Some(host) = &self.request_host {
            parts.headers.insert(HOST, host.clone());
        }
        for (n, v) in &self.request_set {
            parts.headers.insert(n.clone(), v.clone());
        }
        if self.cors.is_some() && flow.origin.is_none() {
            flow.origin = parts.headers.get(ORIGIN).cloned();
        }
        Action::Continue
    }

    /// Response phase: custom response headers, CORS headers, then security headers (which win
    /// over custom ones of the same name, as in Traefik).
    pub fn on_response(
        &self,
        index: usize,
        parts: &mut response::Parts,
        _conn: &ConnInfo,
        flow: &FlowState,
    ) {
        for n in &self.response_remove {
            parts.headers.remove(n);
        }
        for (n, v) in &self.response_set {
            parts.headers.insert(n.clone(), v.clone());
        }
        if let Some(cors) = &self.cors {
            if let Some(v) = cors.allowed_origin(flow.origin.as_ref()) {
                parts.headers.insert("access-control-allow-origin", v);
            }
            if cors.allow_credentials {
                parts.headers.insert(
                    "access-control-allow-credentials",
                    HeaderValue::from_static("true"),
                );
            }
            if let Some(v) = &cors.expose_headers {
                parts
                    .headers
                    .insert("access-control-expose-headers", v.clone());
            }
            if cors.add_vary {
                let current = parts
                    .headers
                    .get(VARY)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if current != "Origin" {
                    let v = if current.is_empty() {
                        HeaderValue::from_static("Origin")
                    } else {
                        HeaderValue::from_str(&format!("{current},Origin"))
                            .unwrap_or(HeaderValue::from_static("Origin"))
                    };
                    parts.headers.insert(VARY, v);
                }
            }
        }
        if let Some(sec) = &self.secure {
            sec.apply(parts, index < 64 && flow.ssl & (1 << index) != 0);
        }
    }
}

impl Cors {
    /// Traefik's `isOriginAllowed`: `*` or an exact entry is echoed as written; a regex match
    /// echoes the origin. A missing Origin is the empty string (so `*` still applies).
    fn allowed_origin(&self, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
        let o = origin.and_then(|v| v.to_str().ok()).unwrap_or("");
        for item in &self.origins {
            if item == "*" || item == o {
                return HeaderValue::from_str(item).ok();
            }
        }
        if self.origin_regexes.iter().any(|r| r.is_match(o)) {
            return HeaderValue::from_str(o).ok();
        }
        None
    }
}

impl Secure {
    fn apply(&self, parts: &mut response::Parts, ssl: bool) {
        if let Some(sts) = &self.sts {
            if (ssl || self.force_sts) && !self.is_development {
                parts
                    .headers
                    .insert("strict-transport-security", sts.clone());
            }
        }
        if let Some(pk) = &self.public_key {
            if ssl && !self.is_development {
                parts.headers.insert("public-key-pins", pk.clone());
            }
        }
        for (n, v) in &self.always {
            parts.headers.insert(n.clone(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{run_request, run_response, ChainOutcome, Filter};

    const PLAIN: ConnInfo = ConnInfo {
        remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: false,
    };
    const TLS: ConnInfo = ConnInfo { tls: true, ..PLAIN };

    fn compile(yaml: &str) -> Headers {
        let spec: HeadersSpec = serde_norway::from_str(yaml).expect("yaml");
        Headers::compile(&spec).expect("compile")
    }

    /// Runs one Headers filter around a backend answering `backend` headers.
    fn exchange(
        h: Headers,
        req: http::Request<()>,
        conn: ConnInfo,
        backend: &[(&str, &str)],
    ) -> (Option<request::Parts>, http::Response<Bytes>) {
        let chain = [Filter::Headers(Box::new(h))];
        let (mut parts, ()) = req.into_parts();
        let mut flow = FlowState::default();
        match run_request(&chain, 0, &mut parts, &conn, &mut flow) {
            ChainOutcome::Respond { response, .. } => (None, response),
            ChainOutcome::Forward => {
                let mut b = http::Response::builder();
                for (k, v) in backend {
                    b = b.header(*k, *v);
                }
                let (mut rp, body) = b.body(Bytes::new()).unwrap().into_parts();
                run_response(&chain, 1, &mut rp, &conn, &flow);
                (Some(parts), http::Response::from_parts(rp, body))
            }
            _ => panic!("unexpected outcome"),
        }
    }

    #[test]
    fn custom_headers_set_and_remove() {
        let h = compile(
            "customRequestHeaders: {X-Script-Name: test, X-Remove-Me: '', Host: backend.internal}\n\
             customResponseHeaders: {X-Custom: yes, Server: ''}\n",
        );
        let req = http::Request::get("/")
            .header("x-remove-me", "1")
            .header("x-script-name", "old")
            .header("host", "front")
            .body(())
            .unwrap();
        let (parts, resp) = exchange(h, req, PLAIN, &[("server", "nginx"), ("x-custom", "no")]);
        let parts = parts.expect("forwarded");
        assert_eq!(parts.headers["x-script-name"], "test");
        assert!(!parts.headers.contains_key("x-remove-me"));
        assert_eq!(parts.headers["host"], "backend.internal");
        assert_eq!(resp.headers()["x-custom"], "yes");
        assert!(!resp.headers().contains_key("server"));
    }

    #[test]
    fn empty_forwarded_for_suppresses_it() {
        let h = compile("customRequestHeaders: {X-Forwarded-For: ''}\n");
        let chain = [Filter::Headers(Box::new(h))];
        let (mut parts, ()) = http::Request::get("/")
            .header("x-forwarded-for", "1.2.3.4")
            .body(())
            .unwrap()
            .into_parts();
        let mut flow = FlowState::default();
        run_request(&chain, 0, &mut parts, &PLAIN, &mut flow);
        assert!(flow.suppress_forwarded_for);
        assert!(!parts.headers.contains_key("x-forwarded-for"));
    }

    #[test]
    fn cors_preflight_is_answered() {
        let h = compile(
            "accessControlAllowMethods: [GET, OPTIONS, PUT]\naccessControlAllowHeaders: ['*']\n\
             accessControlAllowOriginList: ['https://foo.bar.org', 'https://example.org']\n\
             accessControlMaxAge: 100\naddVaryHeader: true\nframeDeny: true\n",
        );
        let req = http::Request::builder()
            .method("OPTIONS")
            .uri("/")
            .header("origin", "https://example.org")
            .header("access-control-request-method", "PUT")
            .body(())
            .unwrap();
        let (parts, resp) = exchange(h, req, PLAIN, &[]);
        assert!(parts.is_none(), "preflight must not reach the backend");
        assert_eq!(resp.status(), 200);
        let hm = resp.headers();
        assert_eq!(hm["access-control-allow-origin"], "https://example.org");
        assert_eq!(hm["access-control-allow-methods"], "GET,OPTIONS,PUT");
        assert_eq!(hm["access-control-allow-headers"], "*");
        assert_eq!(hm["access-control-max-age"], "100");
        assert!(
            !hm.contains_key("x-frame-options"),
            "as Traefik: no security headers on preflight"
        );
        assert!(!hm.contains_key("vary"));
    }

    #[test]
    fn cors_actual_request() {
        let yaml = "accessControlAllowOriginList: ['https://example.org']\naccessControlAllowCredentials: true\n\
                    accessControlExposeHeaders: [X-A, X-B]\naddVaryHeader: true\n";
        let req = http::Request::get("/")
            .header("origin", "https://example.org")
            .body(())
            .unwrap();
        let (parts, resp) = exchange(compile(yaml), req, PLAIN, &[("vary", "Accept-Encoding")]);
        assert!(parts.is_some());
        let hm = resp.headers();
        assert_eq!(hm["access-control-allow-origin"], "https://example.org");
        assert_eq!(hm["access-control-allow-credentials"], "true");
        assert_eq!(hm["access-control-expose-headers"], "X-A,X-B");
        assert_eq!(hm["vary"], "Accept-Encoding,Origin");

        let req = http::Request::get("/")
            .header("origin", "https://evil.example")
            .body(())
            .unwrap();
        let (_, resp) = exchange(compile(yaml), req, PLAIN, &[]);
        assert!(!resp.headers().contains_key("access-control-allow-origin"));
        assert_eq!(resp.headers()["vary"], "Origin");

        // OPTIONS without Access-Control-Request-Method is an ordinary request.
        let req = http::Request::builder()
            .method("OPTIONS")
            .uri("/")
            .header("origin", "https://example.org")
            .body(())
            .unwrap();
        assert!(exchange(compile(yaml), req, PLAIN, &[]).0.is_some());
    }

    #[test]
    fn cors_wildcard_and_regex() {
        let req = http::Request::get("/").body(()).unwrap();
        let (_, resp) = exchange(
            compile("accessControlAllowOriginList: ['*']\n"),
            req,
            PLAIN,
            &[],
        );
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        let req = http::Request::get("/")
            .header("origin", "https://a.example.com")
            .body(())
            .unwrap();
        let (_, resp) = exchange(
            compile("accessControlAllowOriginListRegex: ['^https://[a-z]+\\.example\\.com$']\n"),
            req,
            PLAIN,
            &[],
        );
        assert_eq!(
            resp.headers()["access-control-allow-origin"],
            "https://a.example.com"
        );
    }

    #[test]
    fn security_headers() {
        let yaml = "stsSeconds: 31536000\nstsIncludeSubdomains: true\nstsPreload: true\ncontentTypeNosniff: true\n\
                    browserXssFilter: true\ncustomFrameOptionsValue: SAMEORIGIN\nframeDeny: true\n\
                    contentSecurityPolicy: \"default-src 'self'\"\nreferrerPolicy: no-referrer\n\
                    permissionsPolicy: camera=()\ncustomResponseHeaders: {X-Frame-Options: ALLOWALL}\n";
        let (_, resp) = exchange(
            compile(yaml),
            http::Request::get("/").body(()).unwrap(),
            TLS,
            &[],
        );
        let hm = resp.headers();
        assert_eq!(
            hm["strict-transport-security"],
            "max-age=31536000; includeSubDomains; preload"
        );
        assert_eq!(hm["x-content-type-options"], "nosniff");
        assert_eq!(hm["x-xss-protection"], "1; mode=block");
        assert_eq!(hm["x-frame-options"], "SAMEORIGIN");
        assert_eq!(hm["content-security-policy"], "default-src 'self'");
        assert_eq!(hm["referrer-policy"], "no-referrer");
        assert_eq!(hm["permissions-policy"], "camera=()");
        // No STS over plain HTTP unless forced or marked by sslProxyHeaders.
        let (_, resp) = exchange(
            compile(yaml),
            http::Request::get("/").body(()).unwrap(),
            PLAIN,
            &[],
        );
        assert!(!resp.headers().contains_key("strict-transport-security"));
        let forced = format!("{yaml}forceSTSHeader: true\n");
        let (_, resp) = exchange(
            compile(&forced),
            http::Request::get("/").body(()).unwrap(),
            PLAIN,
            &[],
        );
        assert!(resp.headers().contains_key("strict-transport-security"));
        let proxied = "stsSeconds: 60\nsslProxyHeaders: {X-Forwarded-Proto: https}\n";
        let req = http::Request::get("/")
            .header("x-forwarded-proto", "https")
            .body(())
            .unwrap();
        let (_, resp) = exchange(compile(proxied), req, PLAIN, &[]);
        assert_eq!(resp.headers()["strict-transport-security"], "max-age=60");
        let dev = "stsSeconds: 60\nisDevelopment: true\n";
        let (_, resp) = exchange(
            compile(dev),
            http::Request::get("/").body(()).unwrap(),
            TLS,
            &[],
        );
        assert!(!resp.headers().contains_key("strict-transport-security"));
    }

    #[test]
    fn allowed_hosts() {
        let yaml = "allowedHosts: [a.example]\nhostsProxyHeaders: [X-Forwarded-Host]\n";
        let ok = http::Request::get("/")
            .header("host", "A.example")
            .body(())
            .unwrap();
        assert!(exchange(compile(yaml), ok, PLAIN, &[]).0.is_some());
        let bad = http::Request::get("/")
            .header("host", "b.example")
            .body(())
            .unwrap();
        let (parts, resp) = exchange(compile(yaml), bad, PLAIN, &[]);
        assert!(parts.is_none());
        assert_eq!(resp.status(), 500);
        let proxied = http::Request::get("/")
            .header("host", "b.example")
            .header("x-forwarded-host", "a.example")
            .body(())
            .unwrap();
        assert!(exchange(compile(yaml), proxied, PLAIN, &[]).0.is_some());
    }

    #[test]
    fn invalid_values() {
        let spec = HeadersSpec {
            custom_request_headers: [("Bad Name".to_string(), "x".to_string())].into(),
            ..Default::default()
        };
        assert!(Headers::compile(&spec)
            .unwrap_err()
            .to_string()
            .contains("not a valid header name"));
        let spec = HeadersSpec {
            sts_seconds: -5,
            ..Default::default()
        };
        assert_eq!(
            Headers::compile(&spec).unwrap_err().to_string(),
            "invalid `headers.stsSeconds`: must not be negative (got -5)"
        );
        let spec = HeadersSpec {
            access_control_allow_origin_list_regex: vec!["(".into()],
            ..Default::default()
        };
        assert!(Headers::compile(&spec).is_err());
    }
}
