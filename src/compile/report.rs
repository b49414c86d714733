//! The compile report: every router, service and middleware of the merged config with its status
//! (enabled / warning / disabled), its errors, who uses it, and its provider. The API serves it
//! as Traefik's runtime view (`/api/http/routers` ...); `wharf check` prints its errors.

use std::collections::BTreeMap;

use serde::Serialize;
use wharf_providers::Problem;

/// Traefik's three runtime statuses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Enabled,
    /// Serving, with a problem worth showing (an unknown entry point among valid ones).
    Warning,
    /// Not serving; `errors` says why.
    Disabled,
}

/// One item's runtime facts. Field names follow Traefik's API (`error`, `status`, `using`,
/// `usedBy`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReport {
    pub status: Status,
    #[serde(rename = "error", skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Routers: the entry points it is served on. Unused for services and middlewares.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub using: Vec<String>,
    /// Services and middlewares: the routers (qualified names) that refer to it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    pub provider: String,
    /// Routers: the effective priority (explicit or the rule's length).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

impl ItemReport {
    pub fn new(provider: &str) -> Self {
        ItemReport {
            provider: provider.to_string(),
            ..Default::default()
        }
    }
    /// Records an error that disables the item.
    pub fn disable(&mut self, msg: impl Into<String>) {
        self.status = Status::Disabled;
        self.errors.push(msg.into());
    }
    /// Records a problem that leaves the item serving.
    pub fn warn(&mut self, msg: impl Into<String>) {
        if self.status == Status::Enabled {
            self.status = Status::Warning;
        }
        self.errors.push(msg.into());
    }
    pub fn is_disabled(&self) -> bool {
        self.status == Status::Disabled
    }
}

/// The report of one compile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub routers: BTreeMap<String, ItemReport>,
    pub services: BTreeMap<String, ItemReport>,
    pub middlewares: BTreeMap<String, ItemReport>,
    /// Problems not tied to a router/service/middleware (a file that did not parse, a bad TLS item).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

impl Report {
    /// Every error as `kind name: message` lines, for `wharf check` and logs.
    pub fn error_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (kind, items) in [
            ("router", &self.routers),
            ("service", &self.services),
            ("middleware", &self.middlewares),
        ] {
            for (name, it) in items {
                for e in &it.errors {
                    let sev = if it.is_disabled() { "error" } else { "warning" };
                    out.push(format!("{sev}: {kind} `{name}`: {e}"));
                }
            }
        }
        for p in &self.problems {
            let sev = match p.severity {
                wharf_providers::Severity::Error => "error",
                wharf_providers::Severity::Warning => "warning",
            };
            out.push(format!("{sev}: {p}"));
        }
        out
    }

    /// True when some item is disabled or some source-level problem is an error.
    pub fn has_errors(&self) -> bool {
        self.routers
            .values()
            .chain(self.services.values())
            .chain(self.middlewares.values())
            .any(|i| i.is_disabled())
            || self
                .problems
                .iter()
                .any(|p| p.severity == wharf_providers::Severity::Error)
    }
}
