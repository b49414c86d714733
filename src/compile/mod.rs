//! compile(): the only door into the data plane. Pure: merged config + file contents + `now` +
//! registries in, an immutable `Snapshot` out. A broken router/service/middleware is disabled
//! with a reason in the report; the rest serve.
//!
//! Contract used by the proxy (keep these signatures):
//! - `RouteTable::find(&self, &RequestInfo) -> Option<&Arc<Route>>`: exact host candidates, then
//!   wildcard suffixes, then host-less routes; each list pre-merged and sorted by priority.

use std::sync::Arc;

use crate::rule::{RequestInfo, Rule};
use crate::service::ServiceRuntime;

/// One enabled router, compiled.
#[derive(Debug)]
pub struct Route {
    /// Qualified name (`name@provider`).
    pub name: Arc<str>,
    pub rule: Rule,
    pub priority: i64,
    pub service: Arc<ServiceRuntime>,
}

/// The routes of one entry point, indexed by host.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub hostless: Vec<Arc<Route>>,
}

impl RouteTable {
    pub fn find(&self, req: &RequestInfo<'_>) -> Option<&Arc<Route>> {
        self.hostless.iter().find(|r| r.rule.matches(req))
    }
}
