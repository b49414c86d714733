//! The route table of one entry point: built at compile time, read per request.
//!
//! Routes are sorted once in the global order (priority descending, then name ascending). Each
//! exact host and each wildcard suffix gets its own candidate list: its own routes, the routes of
//! every suffix that covers it, and the host-less routes, merged in that global order. So a
//! lookup is one hash probe (or one per label of the host for suffixes) plus a linear walk over
//! that host's candidates, and the first match is exactly the route Traefik's single sorted list
//! would pick (a host-less route with a higher priority still wins over a Host route).

use std::collections::HashMap;
use std::sync::Arc;

use crate::rule::{HostKeys, RequestInfo};

use super::Route;

/// The routes of one entry point, indexed by host.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Routes that may match any host, in global order.
    pub hostless: Vec<Arc<Route>>,
    /// Exact host (normalized) → its candidates (own + covering suffixes + host-less), in order.
    pub exact: HashMap<Box<str>, Box<[Arc<Route>]>>,
    /// Suffix `example.com` (for hosts ending in `.example.com`) → candidates, in order.
    pub suffixes: HashMap<Box<str>, Box<[Arc<Route>]>>,
}

impl RouteTable {
    /// Builds the table from enabled routes (any order). Routes whose `host_keys` are `Any` are
    /// host-less.
    pub fn build(mut routes: Vec<Arc<Route>>) -> RouteTable {
        routes.sort_by(|a, b| route_order(a, b));
        // Global rank of each route; lists are built from ranks so merging is a sort of integers.
        let mut hostless: Vec<usize> = Vec::new();
        let mut by_exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_suffix: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            match r.rule.host_keys() {
                HostKeys::Any => hostless.push(i),
                HostKeys::Hosts { exact, suffixes } => {
                    for h in exact {
                        by_exact.entry(h).or_default().push(i);
                    }
                    for s in suffixes {
                        by_suffix.entry(s).or_default().push(i);
                    }
                }
            }
        }
        let materialize = |mut idx: Vec<usize>| -> Box<[Arc<Route>]> {
            idx.sort_unstable();
            idx.dedup();
            idx.into_iter().map(|i| routes[i].clone()).collect()
        };
        // The suffixes covering a name: every proper dot-suffix that is a key of `by_suffix`.
        let covering = |name: &str, own: bool| -> Vec<usize> {
            let mut v = Vec::new();
            if own {
                if let Some(l) = by_suffix.get(name) {
                    v.extend_from_slice(l);
                }
            }
            for (i, b) in name.bytes().enumerate() {
                if b == b'.' {
                    if let Some(l) = by_suffix.get(&name[i + 1..]) {
                        v.extend_from_slice(l);
                    }
                }
            }
            v
        };
        let mut suffixes = HashMap::with_capacity(by_suffix.len());
        for s in by_suffix.keys() {
            let mut idx = covering(s, true);
            idx.extend_from_slice(&hostless);
            suffixes.insert(s.clone().into_boxed_str(), materialize(idx));
        }
        let mut exact = HashMap::with_capacity(by_exact.len());
        for (h, own) in &by_exact {
            let mut idx = own.clone();
            idx.extend(covering(h, false));
            idx.extend_from_slice(&hostless);
            exact.insert(h.clone().into_boxed_str(), materialize(idx));
        }
        let hostless = hostless.into_iter().map(|i| routes[i].clone()).collect();
        RouteTable {
            hostless,
            exact,
            suffixes,
        }
    }

    /// The candidates for a normalized host, in global order.
    pub fn candidates(&self, host: &str) -> &[Arc<Route>] {
        if let Some(l) = self.exact.get(host) {
            return l;
        }
        if !self.suffixes.is_empty() {
            // Longest covering suffix first: its list already holds the shorter ones.
            for (i, b) in host.bytes().enumerate() {
                if b == b'.' {
                    if let Some(l) = self.suffixes.get(&host[i + 1..]) {
                        return l;
                    }
                }
            }
        }
        &self.hostless
    }

    /// The first route (in global priority order) whose rule matches the request.
    pub fn find(&self, req: &RequestInfo<'_>) -> Option<&Arc<Route>> {
        self.candidates(req.host)
            .iter()
            .find(|r| r.rule.matches(req))
    }

    /// Number of distinct routes in the table.
    pub fn len(&self) -> usize {
        let mut names: std::collections::HashSet<&str> =
            self.hostless.iter().map(|r| &*r.name).collect();
        for l in self.exact.values().chain(self.suffixes.values()) {
            names.extend(l.iter().map(|r| &*r.name));
        }
        names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hostless.is_empty() && self.exact.is_empty() && self.suffixes.is_empty()
    }
}

/// Traefik's order: higher priority first. Traefik leaves ties to its unstable sort over a map's
/// iteration order (in recent versions after a provider precedence); wharf breaks them by the
/// qualified router name, ascending, so the order is the same on every compile and every run.
pub fn route_order(a: &Route, b: &Route) -> std::cmp::Ordering {
    b.priority
        .cmp(&a.priority)
        .then_with(|| a.name.cmp(&b.name))
}
