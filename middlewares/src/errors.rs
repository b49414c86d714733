//! Errors: replaces responses with chosen statuses by a page fetched from another service.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `errors`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorsSpec {
    /// Statuses that trigger the error page: `500`, `500,502`, `500-599`, `404,418,500-599`.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub status: Vec<String>,
    /// Status (or range) → status sent to the client instead: `{"418": 404, "500-599": 503}`.
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::int_map"
    )]
    pub status_rewrites: BTreeMap<String, i64>,
    /// Service that serves the error page. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub service: String,
    /// Path of the error page; `{status}`, `{originalStatus}` and `{url}` are replaced.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub query: String,
}

/// Parses `500`, `500,502`, `500-599` into inclusive ranges.
pub fn parse_status_ranges(
    field: &str,
    entries: &[String],
) -> Result<Vec<(u16, u16)>, crate::SpecError> {
    let bad = |s: &str| {
        crate::SpecError::invalid(
            field,
            format!("{s:?} is not a status code or a range like 500-599"),
        )
    };
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
    };
    let mut out = Vec::new();
    for entry in entries {
        for part in entry.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let range = match part.split_once('-') {
                Some((a, b)) => (
                    code(a).ok_or_else(|| bad(part))?,
                    code(b).ok_or_else(|| bad(part))?,
                ),
                None => {
                    let c = code(part).ok_or_else(|| bad(part))?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(bad(part));
            }
            out.push(range);
        }
    }
    Ok(out)
}

/// Checks every option without building a filter yet.
pub fn validate(spec: &ErrorsSpec) -> Result<(), crate::SpecError> {
    use crate::SpecError;
    if spec.status.is_empty() {
        return Err(SpecError::Missing("errors.status"));
    }
    parse_status_ranges("errors.status", &spec.status)?;
    if spec.service.trim().is_empty() {
        return Err(SpecError::Missing("errors.service"));
    }
    for (from, to) in &spec.status_rewrites {
        parse_status_ranges("errors.statusRewrites", std::slice::from_ref(from))?;
        if !(100..=599).contains(to) {
            return Err(SpecError::invalid(
                "errors.statusRewrites",
                format!("{to} is not an HTTP status code"),
            ));
        }
    }
    Ok(())
}
