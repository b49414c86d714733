//! ApiKey: admits requests carrying a known key (header, query parameter or cookie), names the
//! consumer it belongs to (forwarded as a header, kept in `FlowState` for per-consumer rate
//! limits) and can admit only some groups. Keys are stored as SHA-256 digests.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::{HeaderName, HeaderValue, COOKIE};
use http::{request, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::{de, Action, CompileCtx, FlowState, SpecError};

/// `apiKey.keySource`: where the key is read (first found wins: header, query, cookie).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct KeySourceSpec {
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header: String,
    /// Scheme before the key in the header (`Bearer` for `Authorization: Bearer <key>`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub header_auth_scheme: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub query: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub cookie: String,
}

/// One consumer: a name, its keys (`sha256:<hex>` or plain text) and groups.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerSpec {
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub keys: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub groups: Vec<String>,
}

/// `apiKey`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiKeySpec {
    /// Default: header `X-API-Key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_source: Option<KeySourceSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consumers: Vec<ConsumerSpec>,
    /// File of `name:key[:group,group]` lines (`#` comments); loaded before compile, so a change
    /// recompiles.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub keys_file: String,
    /// Request header that receives the consumer's name (default `X-Consumer`).
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub consumer_header: String,
    /// Only consumers in one of these groups pass (403 otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub allowed_groups: Vec<String>,
    /// Remove the key (header) before forwarding.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub remove_key: bool,
}

#[derive(Debug)]
struct Consumer {
    name: Arc<str>,
    header: HeaderValue,
    groups: Vec<String>,
}

/// The compiled `apiKey` middleware.
#[derive(Debug)]
pub struct ApiKey {
    header: Option<HeaderName>,
    scheme: String,
    query: String,
    cookie: String,
    by_digest: HashMap<[u8; 32], usize>,
    consumers: Vec<Consumer>,
    consumer_header: HeaderName,
    allowed_groups: Vec<String>,
    remove_key: bool,
}

fn digest_of(key: &str, field: &str) -> Result<[u8; 32], SpecError> {
    if let Some(hex) = key.strip_prefix("sha256:") {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(SpecError::invalid(field, "sha256: needs 64 hex digits"));
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| SpecError::invalid(field, "sha256: needs 64 hex digits"))?;
        }
        return Ok(out);
    }
    if key.is_empty() {
        return Err(SpecError::invalid(field, "empty key"));
    }
    Ok(sha2::Sha256::digest(key.as_bytes()).into())
}

impl ApiKey {
    pub fn compile(spec: &ApiKeySpec, ctx: &CompileCtx<'_>) -> Result<ApiKey, SpecError> {
        let mut all = spec.consumers.clone();
        if !spec.keys_file.is_empty() {
            let text = ctx
                .files
                .read(&spec.keys_file)
                .ok_or_else(|| SpecError::FileNotLoaded(spec.keys_file.clone()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let mut it = line.splitn(3, ':');
                let (Some(name), Some(key)) = (it.next(), it.next()) else {
                    return Err(SpecError::invalid(
                        "apiKey.keysFile",
                        format!("line {}: expected name:key[:groups]", n + 1),
                    ));
                };
                // `sha256:<hex>` keys contain a colon: re-join.
                let (key, groups) = if key == "sha256" {
                    let rest = it.next().unwrap_or("");
                    let (hex, g) = rest.split_once(':').unwrap_or((rest, ""));
                    (format!("sha256:{hex}"), g)
                } else {
                    (key.to_string(), it.next().unwrap_or(""))
                };
                all.push(ConsumerSpec {
                    name: name.trim().to_string(),
                    keys: vec![key],
                    groups: groups
                        .split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_string)
                        .collect(),
                });
            }
        }
        if all.is_empty() {
            return Err(SpecError::Missing("apiKey.consumers (or apiKey.keysFile)"));
        }
        let mut consumers: Vec<Consumer> = Vec::new();
        let mut by_digest = HashMap::new();
        for c in &all {
            if c.name.is_empty() {
                return Err(SpecError::invalid(
                    "apiKey.consumers",
                    "a consumer has no name",
                ));
            }
            let idx = match consumers.iter().position(|x| *x.name == *c.name) {
                Some(i) => {
                    consumers[i].groups.extend(c.groups.iter().cloned());
                    i
                }
                None => {
                    let header = HeaderValue::from_str(&c.name).map_err(|_| {
                        SpecError::invalid("apiKey.consumers", format!("bad name {:?}", c.name))
                    })?;
                    consumers.push(Consumer {
                        name: c.name.as_str().into(),
                        header,
                        groups: c.groups.clone(),
                    });
                    consumers.len() - 1
                }
            };
            for k in &c.keys {
                let d = digest_of(k.trim(), "apiKey.consumers.keys")?;
                if by_digest.insert(d, idx).is_some_and(|old| old != idx) {
                    return Err(SpecError::invalid(
                        "apiKey.consumers.keys",
                        "one key belongs to two consumers",
                    ));
                }
            }
        }
        let src = spec.key_source.clone().unwrap_or_default();
        let header_name = if src.header.is_empty() && src.query.is_empty() && src.cookie.is_empty()
        {
            "X-API-Key"
        } else {
            src.header.as_str()
        };
        let header = if header_name.is_empty() {
            None
        } else {
            Some(
                HeaderName::from_bytes(header_name.trim().as_bytes()).map_err(|_| {
                    SpecError::invalid("apiKey.keySource.header", "not a valid header name")
                })?,
            )
        };
        let ch = if spec.consumer_header.is_empty() {
            "X-Consumer"
        } else {
            spec.consumer_header.as_str()
        };
        Ok(ApiKey {
            header,
            scheme: src.header_auth_scheme.trim().to_string(),
            query: src.query,
            cookie: src.cookie,
            by_digest,
            consumers,
            consumer_header: HeaderName::from_bytes(ch.trim().as_bytes()).map_err(|_| {
                SpecError::invalid("apiKey.consumerHeader", "not a valid header name")
            })?,
            allowed_groups: spec.allowed_groups.clone(),
            remove_key: spec.remove_key,
        })
    }

    fn key<'a>(&self, parts: &'a request::Parts) -> Option<&'a str> {
        if let Some(h) = &self.header {
            if let Some(v) = parts.headers.get(h).and_then(|v| v.to_str().ok()) {
                if self.scheme.is_empty() {
                    return Some(v.trim());
                }
                let (s, rest) = v.trim().split_once(' ')?;
                return s.eq_ignore_ascii_case(&self.scheme).then(|| rest.trim());
            }
        }
        if !self.query.is_empty() {
            for pair in parts.uri.query().unwrap_or("").split('&') {
                if let Some((k, v)) = pair.split_once('=') {
                    if k == self.query {
                        return Some(v);
                    }
                }
            }
        }
        if !self.cookie.is_empty() {
            for h in parts.headers.get_all(COOKIE) {
                let Ok(h) = h.to_str() else { continue };
                for c in h.split(';') {
                    if let Some((k, v)) = c.trim().split_once('=') {
                        if k == self.cookie {
                            return Some(v);
                        }
                    }
                }
            }
        }
        None
    }

    pub fn on_request(&self, parts: &mut request::Parts, flow: &mut FlowState) -> Action {
        // Client-sent consumer headers never reach the service.
        parts.headers.remove(&self.consumer_header);
        let Some(key) = self.key(parts) else {
            tracing::debug!("apiKey: no key");
            return Action::Respond(unauthorized());
        };
        let d: [u8; 32] = sha2::Sha256::digest(key.as_bytes()).into();
        let Some(c) = self.by_digest.get(&d).map(|i| &self.consumers[*i]) else {
            tracing::debug!("apiKey: unknown key");
            return Action::Respond(unauthorized());
        };
        if !self.allowed_groups.is_empty()
            && !c.groups.iter().any(|g| self.allowed_groups.contains(g))
        {
            tracing::debug!(consumer = %c.name, "apiKey: consumer not in allowedGroups");
            return Action::Respond(crate::util::status_text(StatusCode::FORBIDDEN));
        }
        if self.remove_key {
            if let Some(h) = &self.header {
                parts.headers.remove(h);
            }
        }
        parts
            .headers
            .insert(self.consumer_header.clone(), c.header.clone());
        flow.user = Some(c.name.clone());
        flow.consumer = Some(c.name.clone());
        Action::Continue
    }
}

fn unauthorized() -> http::Response<bytes::Bytes> {
    let mut r = crate::util::status_text(StatusCode::UNAUTHORIZED);
    r.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        HeaderValue::from_static("ApiKey"),
    );
    r
}
