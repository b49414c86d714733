//! Compress: compresses responses (zstd, br, gzip) chosen from `Accept-Encoding`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `compress`. May be declared empty (`compress: {}` or the label `...compress=true`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CompressSpec {
    /// Content types never compressed (`application/grpc` always is excluded). Exclusive with
    /// `includedContentTypes`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub excluded_content_types: Vec<String>,
    /// Only these content types are compressed.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub included_content_types: Vec<String>,
    /// Smallest body compressed, in bytes (default 1024).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub min_response_body_bytes: Option<i64>,
    /// Supported encodings in preference order (default `zstd, br, gzip`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub encodings: Vec<String>,
    /// Encoding used when `Accept-Encoding` is absent or `*`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub default_encoding: String,
}

/// Encodings wharf knows for `encodings` / `defaultEncoding`.
pub const KNOWN_ENCODINGS: &[&str] = &["zstd", "br", "gzip"];

/// Checks every option without building a filter yet.
pub fn validate(spec: &CompressSpec) -> Result<(), crate::SpecError> {
    use crate::SpecError;
    if !spec.excluded_content_types.is_empty() && !spec.included_content_types.is_empty() {
        return Err(SpecError::invalid(
            "compress",
            "excludedContentTypes and includedContentTypes are mutually exclusive",
        ));
    }
    for (field, list) in [
        (
            "compress.excludedContentTypes",
            &spec.excluded_content_types,
        ),
        (
            "compress.includedContentTypes",
            &spec.included_content_types,
        ),
    ] {
        for ct in list {
            let essence = ct.split(';').next().unwrap_or("").trim();
            let ok = essence
                .split_once('/')
                .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty());
            if !ok {
                return Err(SpecError::invalid(
                    field,
                    format!("{ct:?} is not a media type"),
                ));
            }
        }
    }
    if let Some(n) = spec.min_response_body_bytes {
        if n < 0 {
            return Err(SpecError::invalid(
                "compress.minResponseBodyBytes",
                format!("must not be negative (got {n})"),
            ));
        }
    }
    for e in &spec.encodings {
        if !KNOWN_ENCODINGS.contains(&e.trim()) {
            return Err(SpecError::invalid(
                "compress.encodings",
                format!("unknown encoding {e:?} (use zstd, br, gzip)"),
            ));
        }
    }
    let d = spec.default_encoding.trim();
    if !d.is_empty() && !KNOWN_ENCODINGS.contains(&d) {
        return Err(SpecError::invalid(
            "compress.defaultEncoding",
            format!("unknown encoding {d:?} (use zstd, br, gzip)"),
        ));
    }
    Ok(())
}

// ---- compiled policy (for the proxy's body encoder) ----------------------------------------

/// A content coding wharf can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Zstd,
    Br,
    Gzip,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "zstd" => Some(Encoding::Zstd),
            "br" => Some(Encoding::Br),
            "gzip" => Some(Encoding::Gzip),
            _ => None,
        }
    }
}

/// `compress`, compiled: encoding negotiation and the "compress this response?" decision.
/// Not a `Filter` yet: the compiler reports "not supported yet" until the proxy encodes bodies.
#[derive(Clone, Debug, PartialEq)]
pub struct CompressPolicy {
    encodings: Vec<Encoding>,
    default_encoding: Option<Encoding>,
    min_bytes: u64,
    excluded: Vec<String>,
    included: Vec<String>,
}

fn essence(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl CompressPolicy {
    pub fn compile(spec: &CompressSpec) -> Result<Self, crate::SpecError> {
        validate(spec)?;
        let encodings: Vec<Encoding> = if spec.encodings.is_empty() {
            vec![Encoding::Zstd, Encoding::Br, Encoding::Gzip]
        } else {
            spec.encodings
                .iter()
                .filter_map(|e| Encoding::parse(e))
                .collect()
        };
        Ok(CompressPolicy {
            encodings,
            default_encoding: Encoding::parse(&spec.default_encoding),
            min_bytes: spec.min_response_body_bytes.unwrap_or(1024).max(0) as u64,
            excluded: spec
                .excluded_content_types
                .iter()
                .map(|c| essence(c))
                .collect(),
            included: spec
                .included_content_types
                .iter()
                .map(|c| essence(c))
                .collect(),
        })
    }

    /// The coding for a request's `Accept-Encoding` (`None`: send as is). Highest q-value
    /// wins, ties go to the configured order; `q=0` refuses; `*` means the default encoding
    /// (else the first configured); no header means the default encoding, if one is set; an
    /// empty header means identity.
    pub fn negotiate(&self, accept_encoding: Option<&str>) -> Option<Encoding> {
        let Some(header) = accept_encoding else {
            return self.default_encoding;
        };
        let mut best: Option<(f32, usize, Encoding)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 || name.is_empty() {
                continue;
            }
            let candidate = if name == "*" {
                self.default_encoding
                    .or_else(|| self.encodings.first().copied())
            } else {
                Encoding::parse(&name).filter(|e| self.encodings.contains(e))
            };
            let Some(enc) = candidate else { continue };
            let rank = self
                .encodings
                .iter()
                .position(|e| *e == enc)
                .unwrap_or(usize::MAX);
            let better = match best {
                None => true,
                Some((bq, brank, _)) => q > bq || (q == bq && rank < brank),
            };
            if better {
                best = Some((q, rank, enc));
            }
        }
        best.map(|(_, _, e)| e)
    }

    /// Whether a response may be compressed: not already encoded, not gRPC, content type
    /// allowed (request and response types against `excludedContentTypes`, the response's
    /// against `includedContentTypes`), and a known length at least `minResponseBodyBytes`
    /// (an unknown length counts as large enough).
    pub fn should_compress(
        &self,
        request: &http::request::Parts,
        response: &http::response::Parts,
        body_len: Option<u64>,
    ) -> bool {
        use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
        if response.headers.contains_key(CONTENT_ENCODING)
            || response.status == http::StatusCode::NO_CONTENT
        {
            return false;
        }
        let ct = |h: &http::HeaderMap| {
            h.get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(essence)
        };
        let resp_ct = ct(&response.headers).unwrap_or_default();
        let req_ct = ct(&request.headers).unwrap_or_default();
        if resp_ct.starts_with("application/grpc") || req_ct.starts_with("application/grpc") {
            return false;
        }
        if !self.included.is_empty() && !self.included.contains(&resp_ct) {
            return false;
        }
        if self.excluded.contains(&resp_ct)
            || (!req_ct.is_empty() && self.excluded.contains(&req_ct))
        {
            return false;
        }
        body_len.is_none_or(|n| n >= self.min_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> CompressPolicy {
        CompressPolicy::compile(&serde_norway::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn negotiation() {
        let p = policy("{}");
        assert_eq!(
            p.negotiate(Some("gzip, br")),
            Some(Encoding::Br),
            "ties follow zstd, br, gzip"
        );
        assert_eq!(
            p.negotiate(Some("gzip;q=1.0, br;q=0.5")),
            Some(Encoding::Gzip)
        );
        assert_eq!(p.negotiate(Some("br;q=0, gzip")), Some(Encoding::Gzip));
        assert_eq!(p.negotiate(Some("identity")), None);
        assert_eq!(p.negotiate(Some("")), None);
        assert_eq!(p.negotiate(Some("*")), Some(Encoding::Zstd));
        assert_eq!(p.negotiate(None), None);
        let d = policy("encodings: [gzip]\ndefaultEncoding: gzip");
        assert_eq!(d.negotiate(None), Some(Encoding::Gzip));
        assert_eq!(d.negotiate(Some("br")), None, "br not configured");
    }

    #[test]
    fn decision() {
        let p = policy("excludedContentTypes: [text/event-stream]\nminResponseBodyBytes: 100");
        let req = http::Request::get("/").body(()).unwrap().into_parts().0;
        let resp = |ct: &str, enc: Option<&str>| {
            let mut b = http::Response::builder().header("content-type", ct);
            if let Some(e) = enc {
                b = b.header("content-encoding", e);
            }
            b.body(()).unwrap().into_parts().0
        };
        assert!(p.should_compress(&req, &resp("text/html; charset=utf-8", None), Some(100)));
        assert!(!p.should_compress(&req, &resp("text/html", None), Some(99)));
        assert!(p.should_compress(&req, &resp("text/html", None), None));
        assert!(
            !p.should_compress(&req, &resp("text/html", Some("gzip")), Some(1000)),
            "never double-compress"
        );
        assert!(!p.should_compress(&req, &resp("text/event-stream", None), Some(1000)));
        assert!(!p.should_compress(&req, &resp("application/grpc", None), Some(1000)));
        let only = policy("includedContentTypes: [application/json]");
        assert!(only.should_compress(&req, &resp("application/json", None), Some(5000)));
        assert!(!only.should_compress(&req, &resp("text/html", None), Some(5000)));
    }
}
