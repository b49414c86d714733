//! GrpcWeb: converts gRPC-Web requests to gRPC over HTTP/2 and back. The filter rewrites the
//! heads in the chain's request and response phases and answers CORS preflights; the proxy
//! (src/proxy/grpc_web.rs) translates the bodies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `grpcWeb`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcWebSpec {
    /// Allowed origins for CORS (`*` for any).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub allow_origins: Vec<String>,
}

// ---- compiled form -------------------------------------------------------------------------

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{request, response, Method, Response, StatusCode};

use crate::{Action, FlowState, SpecError};

/// What the proxy must do with a gRPC-Web exchange (set by the request phase in `FlowState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrpcWebExchange {
    /// `application/grpc-web-text`: the request body arrives base64-encoded and the answer
    /// (messages and trailer frame) goes back base64-encoded.
    pub text: bool,
}

/// `grpcWeb`, compiled: improbable-eng's grpcweb wrapper as Traefik configures it (CORS for
/// every endpoint, origins from `allowOrigins`, credentials allowed, preflight max age 600 s).
#[derive(Debug)]
pub struct GrpcWeb {
    any_origin: bool,
    origins: Vec<String>,
}

static VARY: HeaderName = header::VARY;
const PREFLIGHT_MAX_AGE: &str = "600";

impl GrpcWeb {
    pub fn compile(spec: &GrpcWebSpec) -> Result<Self, SpecError> {
        let origins: Vec<String> = spec
            .allow_origins
            .iter()
            .map(|o| o.trim().to_string())
            .filter(|o| !o.is_empty())
            .collect();
        Ok(GrpcWeb {
            any_origin: origins.iter().any(|o| o == "*"),
            origins,
        })
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.any_origin || self.origins.iter().any(|o| o == origin)
    }

    /// Request phase. gRPC-Web requests (POST with a `application/grpc-web*` content type) are
    /// turned into gRPC (content type `application/grpc[+codec]`, no Content-Length) and marked
    /// in `flow` for the proxy's body translation; CORS preflights that ask for `x-grpc-web` are
    /// answered here. Everything else passes untouched.
    pub fn on_request(&self, parts: &mut request::Parts, flow: &mut FlowState) -> Action {
        let first = |name: &HeaderName| {
            parts
                .headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let content_type = first(&header::CONTENT_TYPE).unwrap_or_default();
        let is_web =
            parts.method == Method::POST && content_type.starts_with("application/grpc-web");
        let is_preflight = parts.method == Method::OPTIONS
            && first(&header::ACCESS_CONTROL_REQUEST_HEADERS)
                .is_some_and(|h| h.to_ascii_lowercase().contains("x-grpc-web"));
        if !is_web && !is_preflight {
            return Action::Continue;
        }
        let origin = first(&header::ORIGIN).unwrap_or_default();
        let request_method = first(&header::ACCESS_CONTROL_REQUEST_METHOD).unwrap_or_default();
        if parts.method == Method::OPTIONS && !request_method.is_empty() {
            return Action::Respond(self.preflight(&origin, &request_method, parts));
        }
        // An actual request (rs/cors): `Vary: Origin` always, the origin echoed with
        // credentials when allowed and the method is a simple one.
        flow.grpc_web_cors = Some(
            (!origin.is_empty()
                && self.origin_allowed(&origin)
                && is_simple_method(parts.method.as_str()))
            .then(|| HeaderValue::from_str(&origin).ok())
            .flatten(),
        );
        let text = content_type.starts_with("application/grpc-web-text");
        let from = if text {
            "application/grpc-web-text"
        } else {
            "application/grpc-web"
        };
        let grpc = content_type.replacen(from, "application/grpc", 1);
        if let Ok(v) = HeaderValue::from_str(&grpc) {
            parts.headers.insert(header::CONTENT_TYPE, v);
        }
        // The HTTP/1.1 length of a (base64) body is not the gRPC payload's.
        parts.headers.remove(header::CONTENT_LENGTH);
        flow.grpc_web = Some(GrpcWebExchange { text });
        Action::Continue
    }

    /// rs/cors's preflight answer: 200, empty, `Vary` on the three request headers; the CORS
    /// headers only when the origin is allowed and the method is GET, POST or HEAD.
    fn preflight(&self, origin: &str, method: &str, parts: &request::Parts) -> Response<Bytes> {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::OK;
        let h = r.headers_mut();
        for v in [
            "Origin",
            "Access-Control-Request-Method",
            "Access-Control-Request-Headers",
        ] {
            h.append(VARY.clone(), HeaderValue::from_static(v));
        }
        if origin.is_empty() || !self.origin_allowed(origin) || !is_simple_method(method) {
            return r;
        }
        let Ok(o) = HeaderValue::from_str(origin) else {
            return r;
        };
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        if let Ok(m) = HeaderValue::from_str(&method.to_ascii_uppercase()) {
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        let requested = parts
            .headers
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let list: Vec<String> = requested
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(canonical_header)
            .collect();
        if !list.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
        r
    }

    /// Response phase of a translated exchange: CORS headers, the content type back to
    /// `application/grpc-web[-text]`, `Trailer` and `Content-Length` dropped (the body gains a
    /// trailer frame), and `Access-Control-Expose-Headers` listing every response header so a
    /// browser client can read them (as improbable-eng's wrapper does).
    pub fn on_response(&self, parts: &mut response::Parts, flow: &FlowState) {
        let Some(ex) = flow.grpc_web else {
            return;
        };
        if let Some(cors) = &flow.grpc_web_cors {
            parts
                .headers
                .append(VARY.clone(), HeaderValue::from_static("Origin"));
            if let Some(origin) = cors {
                parts
                    .headers
                    .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                parts.headers.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
        let web = if ex.text {
            "application/grpc-web-text"
        } else {
            "application/grpc-web"
        };
        if let Some(ct) = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
        {
            if ct.starts_with("application/grpc") && !ct.starts_with("application/grpc-web") {
                if let Ok(v) = HeaderValue::from_str(&ct.replacen("application/grpc", web, 1)) {
                    parts.headers.insert(header::CONTENT_TYPE, v);
                }
            }
        }
        parts.headers.remove(header::TRAILER);
        parts.headers.remove(header::CONTENT_LENGTH);
        let mut names: Vec<String> = parts
            .headers
            .keys()
            .filter(|k| *k != header::ACCESS_CONTROL_EXPOSE_HEADERS)
            .map(|k| canonical_header(k.as_str()))
            .collect();
        names.sort();
        names.dedup();
        // The wrapper always adds the two gRPC trailer names (lower-case, after the others),
        // since they may arrive as headers of a trailers-only answer.
        names.push("grpc-status".to_string());
        names.push("grpc-message".to_string());
        if let Ok(v) = HeaderValue::from_str(&names.join(", ")) {
            parts
                .headers
                .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
}

/// rs/cors's default allowed methods.
fn is_simple_method(m: &str) -> bool {
    matches!(m.to_ascii_uppercase().as_str(), "GET" | "POST" | "HEAD")
}

/// Go's `http.CanonicalHeaderKey`: upper-case the first letter and each one after `-`.
fn canonical_header(name: &str) -> String {
    let mut up = true;
    name.chars()
        .map(|c| {
            let out = if up {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            up = c == '-';
            out
        })
        .collect()
}

/// The gRPC-Web trailer frame for `trailers`: flag byte 0x80, a big-endian 32-bit length, then
/// `name: value\r\n` lines with lower-case names in sorted order (improbable-eng writes Go's
/// `http.Header` with lower-cased keys).
pub fn trailer_frame(trailers: &http::HeaderMap) -> Bytes {
    let mut lines: Vec<(String, &[u8])> = trailers
        .iter()
        .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_bytes()))
        .collect();
    // Stable sort: values of one name keep their order.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut payload = Vec::new();
    for (k, v) in lines {
        payload.extend_from_slice(k.as_bytes());
        payload.extend_from_slice(b": ");
        payload.extend_from_slice(v);
        payload.extend_from_slice(b"\r\n");
    }
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(0x80);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(origins: &[&str]) -> GrpcWeb {
        GrpcWeb::compile(&GrpcWebSpec {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> request::Parts {
        let mut b = http::Request::builder().method(method).uri("/pkg.Svc/Call");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn translates_content_types_and_marks_the_exchange() {
        let f = web(&["https://app.test"]);
        for (ct, grpc, text) in [
            ("application/grpc-web", "application/grpc", false),
            (
                "application/grpc-web+proto",
                "application/grpc+proto",
                false,
            ),
            ("application/grpc-web-text", "application/grpc", true),
            (
                "application/grpc-web-text+proto",
                "application/grpc+proto",
                true,
            ),
        ] {
            let mut p = req(
                "POST",
                &[
                    ("content-type", ct),
                    ("content-length", "12"),
                    ("origin", "https://app.test"),
                ],
            );
            let mut flow = FlowState::default();
            assert!(matches!(f.on_request(&mut p, &mut flow), Action::Continue));
            assert_eq!(p.headers["content-type"], grpc);
            assert!(!p.headers.contains_key("content-length"));
            assert_eq!(flow.grpc_web, Some(GrpcWebExchange { text }));

            let mut resp = http::Response::new(()).into_parts().0;
            resp.headers.insert(
                "content-type",
                HeaderValue::from_static("application/grpc+proto"),
            );
            resp.headers
                .insert("trailer", HeaderValue::from_static("Grpc-Status"));
            resp.headers
                .insert("grpc-encoding", HeaderValue::from_static("identity"));
            f.on_response(&mut resp, &flow);
            let web_ct = if text {
                "application/grpc-web-text+proto"
            } else {
                "application/grpc-web+proto"
            };
            assert_eq!(resp.headers["content-type"], web_ct);
            assert!(!resp.headers.contains_key("trailer"));
            assert_eq!(
                resp.headers["access-control-allow-origin"],
                "https://app.test"
            );
            assert_eq!(resp.headers["access-control-allow-credentials"], "true");
            assert_eq!(resp.headers["vary"], "Origin");
            assert_eq!(
                resp.headers["access-control-expose-headers"],
                "Access-Control-Allow-Credentials, Access-Control-Allow-Origin, Content-Type, Grpc-Encoding, Vary, grpc-status, grpc-message"
            );
        }
    }

    #[test]
    fn other_requests_pass_untouched() {
        let f = web(&["*"]);
        for p in [
            req("POST", &[("content-type", "application/grpc")]),
            req("GET", &[("content-type", "application/grpc-web")]),
            req("OPTIONS", &[("access-control-request-method", "POST")]),
        ] {
            let mut p2 = p;
            let before = p2.headers.clone();
            let mut flow = FlowState::default();
            assert!(matches!(f.on_request(&mut p2, &mut flow), Action::Continue));
            assert_eq!(p2.headers, before);
            assert!(flow.grpc_web.is_none());
        }
    }

    #[test]
    fn preflight_as_rs_cors() {
        let f = web(&["https://app.test"]);
        let ask = |origin: &str, method: &str| {
            let mut p = req(
                "OPTIONS",
                &[
                    ("origin", origin),
                    ("access-control-request-method", method),
                    (
                        "access-control-request-headers",
                        "x-grpc-web,content-type, x-user-agent",
                    ),
                ],
            );
            match f.on_request(&mut p, &mut FlowState::default()) {
                Action::Respond(r) => r,
                other => panic!("{other:?}"),
            }
        };
        let r = ask("https://app.test", "post");
        assert_eq!(r.status(), 200);
        assert!(r.body().is_empty());
        let h = r.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.test");
        assert_eq!(h["access-control-allow-methods"], "POST");
        assert_eq!(
            h["access-control-allow-headers"],
            "X-Grpc-Web, Content-Type, X-User-Agent"
        );
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["access-control-max-age"], "600");
        let vary: Vec<_> = h.get_all("vary").iter().collect();
        assert_eq!(
            vary,
            [
                "Origin",
                "Access-Control-Request-Method",
                "Access-Control-Request-Headers"
            ]
        );
        // Unknown origin, or a method rs/cors does not allow by default: 200 without CORS.
        for r in [
            ask("https://evil.test", "POST"),
            ask("https://app.test", "PUT"),
        ] {
            assert_eq!(r.status(), 200);
            assert!(!r.headers().contains_key("access-control-allow-origin"));
        }
        // `*` allows any origin, echoed (credentials forbid a literal `*`).
        let any = web(&["*"]);
        let mut p = req(
            "OPTIONS",
            &[
                ("origin", "https://x.test"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-grpc-web"),
            ],
        );
        let Action::Respond(r) = any.on_request(&mut p, &mut FlowState::default()) else {
            panic!()
        };
        assert_eq!(r.headers()["access-control-allow-origin"], "https://x.test");
    }

    #[test]
    fn trailer_frames() {
        let mut t = http::HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("0"));
        t.insert("grpc-message", HeaderValue::from_static("ok"));
        let f = trailer_frame(&t);
        let payload = b"grpc-message: ok\r\ngrpc-status: 0\r\n";
        assert_eq!(f[0], 0x80);
        assert_eq!(&f[1..5], &(payload.len() as u32).to_be_bytes());
        assert_eq!(&f[5..], payload);
        assert_eq!(
            &trailer_frame(&http::HeaderMap::new())[..],
            &[0x80, 0, 0, 0, 0]
        );
    }
}
