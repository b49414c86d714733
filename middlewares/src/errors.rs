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

// ---- compiled form (for the proxy's error-page call) ---------------------------------------

/// `errors`, compiled: which statuses get a page, what the client sees, where the page is.
/// Not a `Filter` yet: the compiler reports "not supported yet" until the proxy fetches pages.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorPages {
    ranges: Vec<(u16, u16)>,
    rewrites: Vec<((u16, u16), u16)>,
    service: String,
    query: String,
}

impl ErrorPages {
    pub fn compile(spec: &ErrorsSpec) -> Result<Self, crate::SpecError> {
        validate(spec)?;
        let mut rewrites = Vec::new();
        for (from, to) in &spec.status_rewrites {
            for r in parse_status_ranges("errors.statusRewrites", std::slice::from_ref(from))? {
                rewrites.push((r, *to as u16));
            }
        }
        Ok(ErrorPages {
            ranges: parse_status_ranges("errors.status", &spec.status)?,
            rewrites,
            service: spec.service.trim().to_string(),
            query: spec.query.clone(),
        })
    }

    /// The service (unqualified names take the middleware's provider) serving the pages.
    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn handles(&self, status: u16) -> bool {
        self.ranges.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }

    /// The status the client gets: a `statusRewrites` match, else the original.
    pub fn client_status(&self, status: u16) -> u16 {
        self.rewrites
            .iter()
            .find(|((a, b), _)| (*a..=*b).contains(&status))
            .map(|(_, to)| *to)
            .unwrap_or(status)
    }

    /// The page path: `{status}` (what the client gets), `{originalStatus}` (the backend's) and
    /// `{url}` (the query-escaped original request URI) replaced; a leading `/` ensured.
    pub fn page_uri(&self, status: u16, request_uri: &str) -> String {
        let url: String =
            percent_encoding::utf8_percent_encode(request_uri, QUERY_ESCAPE).to_string();
        let q = self
            .query
            .replace("{status}", &self.client_status(status).to_string())
            .replace("{originalStatus}", &status.to_string())
            .replace("{url}", &url);
        if q.starts_with('/') {
            q
        } else {
            format!("/{q}")
        }
    }
}

/// Go's `url.QueryEscape` set: everything but unreserved characters (space as `%20` here).
const QUERY_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_rewrites_and_query() {
        let spec: ErrorsSpec = serde_norway::from_str(
            "status: ['404', '500-503,505']\nstatusRewrites: {'500-503': 503, '404': 410}\nservice: pages\nquery: '{status}.html?from={originalStatus}&u={url}'",
        )
        .unwrap();
        let e = ErrorPages::compile(&spec).unwrap();
        assert!(
            e.handles(404)
                && e.handles(502)
                && e.handles(505)
                && !e.handles(504)
                && !e.handles(200)
        );
        assert_eq!(e.client_status(501), 503);
        assert_eq!(e.client_status(505), 505);
        assert_eq!(
            e.page_uri(404, "/a b?x=1"),
            "/410.html?from=404&u=%2Fa%20b%3Fx%3D1"
        );
        assert_eq!(e.service(), "pages");
    }
}
