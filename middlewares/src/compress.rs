//! Compress: the spec and every decision of response compression (zstd, br, gzip). The request
//! phase negotiates the coding from `Accept-Encoding` (`CompressPolicy::on_request`, stored in
//! `FlowState`); the proxy asks `CompressPolicy::plan` about the response head and encodes the
//! body itself (src/proxy/compress.rs), since body bytes never pass through filters.

use http::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
};
use http::{HeaderMap, Method, StatusCode};
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
    /// Smallest body compressed, in bytes (default 1024; 0 also means 1024, as in Traefik).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_int"
    )]
    pub min_response_body_bytes: Option<i64>,
    /// Supported encodings in preference order (default `gzip, br, zstd`, what Traefik 3.7
    /// does for a `compress` section without `encodings`).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub encodings: Vec<String>,
    /// Encoding used when `Accept-Encoding` is absent or its best choice is `*`.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub default_encoding: String,
}

/// Encodings wharf knows for `encodings` / `defaultEncoding`.
pub const KNOWN_ENCODINGS: &[&str] = &["zstd", "br", "gzip"];

/// The preference order without `encodings`.
pub const DEFAULT_ENCODINGS: [Encoding; 3] = [Encoding::Gzip, Encoding::Br, Encoding::Zstd];

/// `minResponseBodyBytes` when unset or 0.
pub const DEFAULT_MIN_BYTES: u64 = 1024;

/// Checks every option (the same checks and messages whether or not the proxy compresses).
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
            if media_type(ct).is_none() {
                return Err(SpecError::invalid(
                    field,
                    format!("{ct:?} is not a media type (type/subtype)"),
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
        if Encoding::parse(e.trim().as_bytes()).is_none() {
            return Err(SpecError::invalid(
                "compress.encodings",
                format!("unsupported encoding {e:?} (use zstd, br, gzip)"),
            ));
        }
    }
    let d = spec.default_encoding.trim();
    if !d.is_empty() {
        let Some(enc) = Encoding::parse(d.as_bytes()) else {
            return Err(SpecError::invalid(
                "compress.defaultEncoding",
                format!("unsupported encoding {d:?} (use zstd, br, gzip)"),
            ));
        };
        // Traefik refuses a default that `encodings` does not list.
        let listed = if spec.encodings.is_empty() {
            DEFAULT_ENCODINGS.contains(&enc)
        } else {
            spec.encodings.iter().any(|e| e.trim() == d)
        };
        if !listed {
            return Err(SpecError::invalid(
                "compress.defaultEncoding",
                format!("{d:?} is not one of `encodings`"),
            ));
        }
    }
    Ok(())
}

// ---- compiled policy (for the proxy's body encoder) ----------------------------------------

/// A content coding wharf can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    Gzip,
    Br,
    Zstd,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Zstd => "zstd",
            Encoding::Br => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// Exact, case-sensitive names, as Traefik compares them (`GZIP` is not `gzip`).
    fn parse(s: &[u8]) -> Option<Self> {
        match s {
            b"zstd" => Some(Encoding::Zstd),
            b"br" => Some(Encoding::Br),
            b"gzip" => Some(Encoding::Gzip),
            _ => None,
        }
    }

    /// Two bits for `FlowState` (0 means "no encoding").
    pub(crate) fn code(self) -> u8 {
        match self {
            Encoding::Gzip => 1,
            Encoding::Br => 2,
            Encoding::Zstd => 3,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(Encoding::Gzip),
            2 => Some(Encoding::Br),
            3 => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

/// What to do with one response whose request negotiated an encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Send it as it is (status without a body, already encoded, range, content type not
    /// wanted, or shorter than `minResponseBodyBytes`).
    Skip,
    /// Compress it.
    Compress,
    /// Its length is unknown: read the body up to `min_response_body_bytes()` first; compress
    /// if it reaches that much (or is still streaming), else send it as it is.
    Measure,
}

/// `compress`, compiled: encoding negotiation and the "compress this response?" decision.
#[derive(Clone, Debug, PartialEq)]
pub struct CompressPolicy {
    /// Preference order (index = priority at equal q-values).
    encodings: Vec<Encoding>,
    default_encoding: Option<Encoding>,
    min_bytes: u64,
    /// Lower-case media types; `application/grpc` is always first.
    excluded: Vec<String>,
    /// Lower-case media types; empty: every type not excluded.
    included: Vec<String>,
}

/// The media type of a `Content-Type` value (`text/html; charset=utf-8` → `text/html`), as Go's
/// `mime.ParseMediaType` accepts it: `token/token`; parameters are not compared (Traefik keeps
/// only the media type of the configured lists).
fn media_type(ct: &str) -> Option<&str> {
    let mt = ct.split(';').next().unwrap_or("").trim();
    let (t, s) = mt.split_once('/')?;
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b) && b != b' ')
    };
    (token(t) && token(s)).then_some(mt)
}

fn listed(list: &[String], mt: &str) -> bool {
    list.iter().any(|l| l.eq_ignore_ascii_case(mt))
}

/// One coding named in `Accept-Encoding` that the policy knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coding {
    /// `*`: any coding (sorts first among equal q-values, as in Traefik).
    Any,
    Enc(Encoding),
    /// `identity`: no coding (sorts last among equal q-values).
    Identity,
}

impl CompressPolicy {
    pub fn compile(spec: &CompressSpec) -> Result<Self, crate::SpecError> {
        validate(spec)?;
        let mut encodings: Vec<Encoding> = Vec::new();
        for e in &spec.encodings {
            if let Some(enc) = Encoding::parse(e.trim().as_bytes()) {
                if !encodings.contains(&enc) {
                    encodings.push(enc);
                }
            }
        }
        if encodings.is_empty() {
            encodings = DEFAULT_ENCODINGS.to_vec();
        }
        let lower = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter_map(|c| media_type(c))
                .map(str::to_ascii_lowercase)
                .collect()
        };
        let mut excluded = vec!["application/grpc".to_string()];
        excluded.extend(lower(&spec.excluded_content_types));
        Ok(CompressPolicy {
            encodings,
            default_encoding: Encoding::parse(spec.default_encoding.trim().as_bytes()),
            min_bytes: match spec.min_response_body_bytes {
                Some(n) if n > 0 => n as u64,
                _ => DEFAULT_MIN_BYTES,
            },
            excluded,
            included: lower(&spec.included_content_types),
        })
    }

    /// Smallest body compressed.
    pub fn min_response_body_bytes(&self) -> u64 {
        self.min_bytes
    }

    /// The configured preference order.
    pub fn encodings(&self) -> &[Encoding] {
        &self.encodings
    }

    /// Request phase: the coding for this request, or `None` to leave the response alone
    /// (and without `Vary`): HEAD requests, requests whose own `Content-Type` is excluded
    /// (gRPC always), and what `negotiate` refuses.
    pub fn on_request(&self, method: &Method, headers: &HeaderMap) -> Option<Encoding> {
        if method == Method::HEAD {
            return None;
        }
        if let Some(mt) = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(media_type)
        {
            if listed(&self.excluded, mt) {
                return None;
            }
        }
        self.negotiate(headers)
    }

    /// The coding for a request's `Accept-Encoding` header(s), as Traefik chooses it:
    /// - no header: `defaultEncoding` if set, else none; one empty header: none;
    /// - codings are matched exactly (`gzip`, `br`, `zstd` when configured, `*`, `identity`),
    ///   others are ignored; `q=` must follow the coding directly, a missing weight is 1, a
    ///   weight of 0 (or one that does not parse, or a negative one) refuses the coding;
    /// - the highest weight wins; at equal weight `*` first, then the `encodings` order, then
    ///   `identity`; `identity` winning means no coding;
    /// - `*` winning means `defaultEncoding`, else the first of `encodings` (skipping codings
    ///   the header refused with q=0);
    /// - nothing acceptable: none.
    ///
    /// No allocation: the header is scanned in place.
    pub fn negotiate(&self, headers: &HeaderMap) -> Option<Encoding> {
        let all = headers.get_all(ACCEPT_ENCODING);
        let mut lines = all.iter();
        let Some(first) = lines.next() else {
            // RFC 9110: no header means any coding is acceptable; Traefik then uses the
            // default encoding only when one is configured.
            return self.default_encoding;
        };
        if first.is_empty() && lines.next().is_none() {
            return None;
        }
        let n = self.encodings.len() as i32;
        let priority = |c: Coding| match c {
            Coding::Any => -1,
            Coding::Enc(e) => self
                .encodings
                .iter()
                .position(|x| *x == e)
                .map_or(n, |i| i as i32),
            Coding::Identity => n,
        };
        let mut best: Option<(f64, i32, Coding)> = None;
        let mut refused = [false; 3];
        for value in all.iter() {
            for item in value.as_bytes().split(|b| *b == b',') {
                let (name, rest) = match item.iter().position(|b| *b == b';') {
                    Some(i) => (&item[..i], Some(&item[i + 1..])),
                    None => (item, None),
                };
                let name = name.trim_ascii();
                let coding = match name {
                    b"*" => Coding::Any,
                    b"identity" => Coding::Identity,
                    other => match Encoding::parse(other) {
                        Some(e) if self.encodings.contains(&e) => Coding::Enc(e),
                        _ => continue,
                    },
                };
                let weight = rest.map_or(1.0, weight);
                if weight <= 0.0 {
                    if let Coding::Enc(e) = coding {
                        refused[e.code() as usize - 1] = true;
                    }
                    continue;
                }
                let key = (weight, priority(coding));
                let better = match best {
                    None => true,
                    Some((bw, bp, _)) => key.0 > bw || (key.0 == bw && key.1 < bp),
                };
                if better {
                    best = Some((key.0, key.1, coding));
                }
            }
        }
        match best?.2 {
            Coding::Identity => None,
            Coding::Enc(e) => Some(e),
            Coding::Any => {
                let ok = |e: &Encoding| !refused[e.code() as usize - 1];
                self.default_encoding
                    .filter(ok)
                    .or_else(|| self.encodings.iter().copied().find(ok))
            }
        }
    }

    /// Response phase, for a request that negotiated a coding: compress, skip, or measure the
    /// body first. `len` is the body length when known (the `Content-Length` header, or the
    /// size of a body wharf holds whole).
    pub fn plan(&self, status: StatusCode, headers: &HeaderMap, len: Option<u64>) -> Plan {
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || status == StatusCode::PARTIAL_CONTENT
            || headers.contains_key(CONTENT_RANGE)
        {
            return Plan::Skip;
        }
        if headers.get(CONTENT_ENCODING).is_some_and(|v| !v.is_empty()) {
            return Plan::Skip;
        }
        match headers.get(CONTENT_TYPE) {
            Some(v) => {
                let Some(mt) = v.to_str().ok().and_then(media_type) else {
                    // Unparsable type: not compressed (Traefik's br/zstd handler).
                    return Plan::Skip;
                };
                if (!self.included.is_empty() && !listed(&self.included, mt))
                    || listed(&self.excluded, mt)
                {
                    return Plan::Skip;
                }
            }
            // Without a type nothing can be "one of includedContentTypes".
            None if !self.included.is_empty() => return Plan::Skip,
            None => {}
        }
        let len = len.or_else(|| {
            headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        });
        match len {
            Some(n) if n < self.min_bytes => Plan::Skip,
            Some(_) => Plan::Compress,
            None => Plan::Measure,
        }
    }
}

/// The weight of one `Accept-Encoding` item from what follows its `;`: spaces are ignored,
/// the rest must be `q=<float>`; anything else after `;` leaves the weight at 1 (Traefik's
/// parser). A value that does not parse counts as 0 (refused), as Go's failed `ParseFloat`.
fn weight(rest: &[u8]) -> f64 {
    let mut buf = [0u8; 24];
    let mut n = 0;
    for &b in rest {
        if b == b' ' || b == b'\t' {
            continue;
        }
        if n == buf.len() {
            return 0.0;
        }
        buf[n] = b;
        n += 1;
    }
    let Some(v) = buf[..n].strip_prefix(b"q=") else {
        return 1.0;
    };
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|w| !w.is_nan())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(yaml: &str) -> CompressPolicy {
        CompressPolicy::compile(&serde_norway::from_str(yaml).unwrap()).unwrap()
    }

    fn ae(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT_ENCODING, v.parse().unwrap());
        }
        h
    }

    fn neg(p: &CompressPolicy, v: &str) -> Option<&'static str> {
        p.negotiate(&ae(&[v])).map(Encoding::as_str)
    }

    #[test]
    fn negotiation_follows_traefik() {
        let p = policy("{}");
        // Equal weights: the configured order (default gzip, br, zstd).
        assert_eq!(neg(&p, "gzip, br"), Some("gzip"));
        assert_eq!(neg(&p, "zstd, br"), Some("br"));
        assert_eq!(neg(&p, "zstd, gzip, br"), Some("gzip"));
        assert_eq!(neg(&p, "zstd"), Some("zstd"));
        // q-values.
        assert_eq!(neg(&p, "gzip;q=0.5, br"), Some("br"));
        assert_eq!(neg(&p, "gzip, br;q=0.5"), Some("gzip"));
        assert_eq!(neg(&p, "gzip ; q=0.5, br ; q = 0.4"), Some("gzip"));
        assert_eq!(neg(&p, "br;q=1.5, gzip"), Some("br"));
        assert_eq!(neg(&p, "br;q=0, gzip"), Some("gzip"));
        assert_eq!(neg(&p, "gzip;q=0"), None, "q=0 refuses");
        assert_eq!(neg(&p, "gzip;q=-1"), None);
        assert_eq!(neg(&p, "gzip;q=abc, br;q=0.1"), Some("br"), "bad q refuses");
        assert_eq!(neg(&p, "gzip;Q=0.5, br;q=0.6"), Some("gzip"), "only `q=`");
        assert_eq!(neg(&p, "br;level=1;q=0.5, gzip;q=0.4"), Some("br"));
        // identity and unknown codings.
        assert_eq!(neg(&p, "identity"), None);
        assert_eq!(neg(&p, "identity;q=0"), None);
        assert_eq!(neg(&p, "identity, gzip;q=0.5"), None);
        assert_eq!(neg(&p, "identity;q=0, br"), Some("br"));
        assert_eq!(
            neg(&p, "gzip, identity"),
            Some("gzip"),
            "identity sorts last"
        );
        assert_eq!(neg(&p, "deflate"), None);
        assert_eq!(neg(&p, "x-gzip"), None);
        assert_eq!(neg(&p, "GZIP"), None, "case-sensitive, as Traefik");
        // Empty and absent.
        assert_eq!(neg(&p, ""), None);
        assert_eq!(p.negotiate(&HeaderMap::new()), None);
        // `*`: the default encoding, else the first configured; it wins ties.
        assert_eq!(neg(&p, "*"), Some("gzip"));
        assert_eq!(neg(&p, "*;q=0"), None);
        assert_eq!(
            neg(&p, "br, *"),
            Some("gzip"),
            "* sorts first at equal weight"
        );
        assert_eq!(neg(&p, "br, *;q=0.5"), Some("br"));
        assert_eq!(
            neg(&p, "*, gzip;q=0"),
            Some("br"),
            "refused codings are skipped"
        );
        // Several header lines are one list.
        assert_eq!(
            p.negotiate(&ae(&["br;q=0.5", "gzip;q=0.9"]))
                .map(Encoding::as_str),
            Some("gzip")
        );
        assert_eq!(
            p.negotiate(&ae(&["", "br"])).map(Encoding::as_str),
            Some("br")
        );
    }

    #[test]
    fn negotiation_with_options() {
        let p = policy("encodings: [zstd, br, gzip]");
        assert_eq!(neg(&p, "gzip, br, zstd"), Some("zstd"));
        assert_eq!(neg(&p, "gzip, br"), Some("br"));
        assert_eq!(neg(&p, "*"), Some("zstd"));
        let d = policy("encodings: [gzip]\ndefaultEncoding: gzip");
        assert_eq!(d.negotiate(&HeaderMap::new()), Some(Encoding::Gzip));
        assert_eq!(neg(&d, "br"), None, "br not configured");
        assert_eq!(neg(&d, "br, gzip;q=0.1"), Some("gzip"));
        let z = policy("defaultEncoding: zstd");
        assert_eq!(z.negotiate(&HeaderMap::new()), Some(Encoding::Zstd));
        assert_eq!(neg(&z, "*"), Some("zstd"));
        assert_eq!(neg(&z, "gzip, br"), Some("gzip"));
    }

    #[test]
    fn request_gate() {
        let p = policy("excludedContentTypes: [text/event-stream]");
        let mut h = ae(&["gzip"]);
        assert_eq!(p.on_request(&Method::GET, &h), Some(Encoding::Gzip));
        assert_eq!(p.on_request(&Method::HEAD, &h), None, "HEAD is left alone");
        h.insert(CONTENT_TYPE, "application/grpc".parse().unwrap());
        assert_eq!(p.on_request(&Method::POST, &h), None, "gRPC requests");
        h.insert(CONTENT_TYPE, "Text/Event-Stream; x=1".parse().unwrap());
        assert_eq!(
            p.on_request(&Method::POST, &h),
            None,
            "excluded request type"
        );
        h.insert(CONTENT_TYPE, "application/json".parse().unwrap());
        assert_eq!(p.on_request(&Method::POST, &h), Some(Encoding::Gzip));
    }

    fn head(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn response_plan() {
        let p = policy(
            "excludedContentTypes: ['text/plain; charset=utf-8']\nminResponseBodyBytes: 100",
        );
        let ok = StatusCode::OK;
        let html = |len: &str| head(&[("content-type", "text/html"), ("content-length", len)]);
        assert_eq!(
            p.plan(ok, &html("100"), None),
            Plan::Compress,
            "at the threshold"
        );
        assert_eq!(p.plan(ok, &html("99"), None), Plan::Skip);
        assert_eq!(
            p.plan(ok, &head(&[("content-type", "text/html")]), None),
            Plan::Measure
        );
        assert_eq!(
            p.plan(ok, &head(&[]), Some(5000)),
            Plan::Compress,
            "no type"
        );
        assert_eq!(p.plan(ok, &head(&[]), Some(5)), Plan::Skip);
        assert_eq!(
            p.plan(StatusCode::NOT_FOUND, &html("5000"), None),
            Plan::Compress,
            "any status with a body"
        );
        for s in [204, 304, 206, 101] {
            let s = StatusCode::from_u16(s).unwrap();
            assert_eq!(p.plan(s, &html("5000"), None), Plan::Skip, "{s}");
        }
        let mut h = html("5000");
        h.insert(CONTENT_RANGE, "bytes 0-4999/9000".parse().unwrap());
        assert_eq!(p.plan(ok, &h, None), Plan::Skip, "range");
        let mut h = html("5000");
        h.insert(CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(p.plan(ok, &h, None), Plan::Skip, "never double-compress");
        let t = |ct: &str| p.plan(ok, &head(&[("content-type", ct)]), Some(5000));
        // Configured parameters are ignored: the media type alone is excluded.
        assert_eq!(t("text/plain"), Plan::Skip);
        assert_eq!(t("TEXT/PLAIN; charset=ISO-8859-1"), Plan::Skip);
        assert_eq!(t("application/grpc"), Plan::Skip, "gRPC always");
        assert_eq!(t("application/grpc+proto"), Plan::Compress);
        assert_eq!(
            t("text/event-stream"),
            Plan::Compress,
            "not excluded by default"
        );
        assert_eq!(t("bad type"), Plan::Skip, "unparsable type");
        let only = policy("includedContentTypes: [application/json, 'text/html; charset=utf-8']");
        let t = |ct: Option<&str>| {
            let h = ct.map_or_else(HeaderMap::new, |ct| head(&[("content-type", ct)]));
            only.plan(ok, &h, Some(5000))
        };
        assert_eq!(t(Some("application/json")), Plan::Compress);
        assert_eq!(t(Some("text/html")), Plan::Compress);
        assert_eq!(t(Some("Application/JSON; charset=utf-8")), Plan::Compress);
        assert_eq!(t(Some("text/css")), Plan::Skip);
        assert_eq!(t(None), Plan::Skip, "no type is not included");
    }

    #[test]
    fn options_and_defaults() {
        let p = policy("{}");
        assert_eq!(p.min_response_body_bytes(), 1024);
        assert_eq!(p.encodings(), &DEFAULT_ENCODINGS);
        assert_eq!(
            policy("minResponseBodyBytes: 0").min_response_body_bytes(),
            1024
        );
        assert_eq!(
            policy("minResponseBodyBytes: '10'").min_response_body_bytes(),
            10
        );
        assert_eq!(
            policy("encodings: 'br,gzip'").encodings(),
            &[Encoding::Br, Encoding::Gzip]
        );
        let bad = |yaml: &str| {
            CompressPolicy::compile(&serde_norway::from_str(yaml).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(bad("encodings: [lzma]").contains("compress.encodings"));
        assert!(bad("encodings: [GZIP]").contains("compress.encodings"));
        assert!(bad("defaultEncoding: deflate").contains("compress.defaultEncoding"));
        assert!(bad("{encodings: [gzip], defaultEncoding: br}").contains("not one of"));
        assert!(bad("minResponseBodyBytes: -1").contains("must not be negative"));
        assert!(bad("excludedContentTypes: [html]").contains("not a media type"));
        assert!(
            bad("{excludedContentTypes: [a/b], includedContentTypes: [c/d]}")
                .contains("mutually exclusive")
        );
    }

    #[test]
    fn weights() {
        assert_eq!(weight(b"q=0.5"), 0.5);
        assert_eq!(weight(b" q = 1 "), 1.0);
        assert_eq!(weight(b"level=1"), 1.0);
        assert_eq!(weight(b"q=x"), 0.0);
        assert_eq!(weight(b"q=NaN"), 0.0);
        assert_eq!(weight(&[b'q', b'='].repeat(20)), 0.0, "overlong");
    }
}
