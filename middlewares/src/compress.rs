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
