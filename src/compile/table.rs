//! The route table of one entry point: built at compile time, read per request.
//!
//! Routes are sorted once in the global order (priority descending, then name ascending). Each
//! exact host and each wildcard suffix gets its own candidate list: its own routes, the routes of
//! every suffix that covers it, and the host-less routes, merged in that global order. So a
//! lookup is one hash probe (or one per label of the host for suffixes) plus a linear walk over
//! that host's candidates, and the first match is exactly the route Traefik's single sorted list
//! would pick (a host-less route with a higher priority still wins over a Host route).
//!
//! A long candidate list (many path routes on one host, or many host-less path routes) also gets
//! a path index (`PathIndex`): the literal prefixes its rules require (`Path`, `PathPrefix`),
//! each mapped to the positions of every route whose prefix it extends. A lookup probes the
//! request path once per distinct prefix length, takes the longest known prefix, and walks the
//! positions of those routes merged with the routes that have no path bound, in list order: the
//! same first match as the linear walk, without visiting routes whose prefix cannot match.

use std::collections::HashMap;

/// The tables' maps hash with foldhash: keys are hosts and path prefixes (short strings), and
/// every request hashes one; SipHash, std's default, costs several times more per key. foldhash
/// is seeded per process, so a client cannot aim its lookups at colliding keys.
type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::ops::Deref;
use std::sync::Arc;

use crate::rule::{HostKeys, RequestInfo};

use super::Route;

/// The routes of one entry point, indexed by host.
#[derive(Debug, Default)]
pub struct RouteTable {
    /// Routes that may match any host, in global order.
    pub hostless: Candidates,
    /// Exact host (normalized) → its candidates (own + covering suffixes + host-less), in order.
    pub exact: Map<Box<str>, Candidates>,
    /// Suffix `example.com` (for hosts ending in `.example.com`) → candidates, in order.
    pub suffixes: Map<Box<str>, Candidates>,
}

/// One candidate list, in global order, with its path index when it is long enough to pay.
/// Derefs to the routes.
#[derive(Debug, Default)]
pub struct Candidates {
    routes: Box<[Arc<Route>]>,
    /// Boxed: most lists are short and carry none, and an inline index would triple the size
    /// of every entry of the exact-host map (10,000 hosts: 1.9 MB instead of 0.7 MB).
    paths: Option<Box<PathIndex>>,
}

/// Lists shorter than this are walked linearly: a few rule evaluations cost less than the
/// index's hash probes.
const PATH_INDEX_MIN: usize = 16;

/// The path index of one candidate list (see the module doc). Positions are indices into the
/// list, so ascending positions are the global order.
#[derive(Debug)]
struct PathIndex {
    /// Distinct byte lengths of the prefixes, longest first.
    lengths: Box<[usize]>,
    /// Prefix → ascending positions of every route bounded by this prefix or by one of its own
    /// prefixes (so the longest prefix of a path found here lists every bounded route that the
    /// path can match).
    by_prefix: Map<Box<str>, Box<[u32]>>,
    /// Ascending positions of the routes without a path bound.
    unbounded: Box<[u32]>,
}

impl Deref for Candidates {
    type Target = [Arc<Route>];
    fn deref(&self) -> &[Arc<Route>] {
        &self.routes
    }
}

impl<'a> IntoIterator for &'a Candidates {
    type Item = &'a Arc<Route>;
    type IntoIter = std::slice::Iter<'a, Arc<Route>>;
    fn into_iter(self) -> Self::IntoIter {
        self.routes.iter()
    }
}

impl Candidates {
    fn new(routes: Box<[Arc<Route>]>) -> Candidates {
        let paths = if routes.len() >= PATH_INDEX_MIN {
            PathIndex::build(&routes).map(Box::new)
        } else {
            None
        };
        Candidates { routes, paths }
    }

    /// The first route of the list whose rule matches.
    pub fn find(&self, req: &RequestInfo<'_>) -> Option<&Arc<Route>> {
        let Some(ix) = &self.paths else {
            return self.routes.iter().find(|r| r.rule.matches(req));
        };
        let bounded: &[u32] = ix
            .lengths
            .iter()
            .filter_map(|&l| ix.by_prefix.get(req.path.get(..l)?))
            .next()
            .map_or(&[], |v| v);
        // Merge of two ascending position lists, evaluated in that (global) order.
        let (mut a, mut b) = (bounded.iter().peekable(), ix.unbounded.iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => return None,
            };
            let r = &self.routes[*next? as usize];
            if r.rule.matches(req) {
                return Some(r);
            }
        }
    }

    /// Whether the list carries a path index (tests, benchmarks).
    pub fn has_path_index(&self) -> bool {
        self.paths.is_some()
    }
}

impl PathIndex {
    /// `None` when too few routes have a path bound for the index to pay, or when prefixes nest
    /// so deeply that the per-prefix lists would grow quadratically.
    fn build(routes: &[Arc<Route>]) -> Option<PathIndex> {
        let Ok(_) = u32::try_from(routes.len()) else {
            return None;
        };
        let mut own: Map<String, Vec<u32>> = Map::default();
        let mut unbounded = Vec::new();
        for (i, r) in routes.iter().enumerate() {
            match r.rule.path_keys() {
                Some(keys) => {
                    for k in keys {
                        own.entry(k).or_default().push(i as u32);
                    }
                }
                None => unbounded.push(i as u32),
            }
        }
        if routes.len() - unbounded.len() < PATH_INDEX_MIN {
            return None;
        }
        let mut lengths: Vec<usize> = own.keys().map(String::len).collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        lengths.dedup();
        let budget = 4 * routes.len() + 1024;
        let mut total = 0;
        let mut by_prefix = Map::with_capacity_and_hasher(own.len(), Default::default());
        for key in own.keys() {
            let mut pos: Vec<u32> = Vec::new();
            for &l in lengths.iter().filter(|&&l| l <= key.len()) {
                if let Some(p) = key.get(..l).and_then(|k| own.get(k)) {
                    pos.extend_from_slice(p);
                }
            }
            pos.sort_unstable();
            pos.dedup();
            total += pos.len();
            if total > budget {
                return None;
            }
            by_prefix.insert(key.clone().into_boxed_str(), pos.into_boxed_slice());
        }
        Some(PathIndex {
            lengths: lengths.into_boxed_slice(),
            by_prefix,
            unbounded: unbounded.into_boxed_slice(),
        })
    }
}

impl RouteTable {
    /// Builds the table from enabled routes (any order). Routes whose `host_keys` are `Any` are
    /// host-less.
    pub fn build(mut routes: Vec<Arc<Route>>) -> RouteTable {
        routes.sort_by(|a, b| route_order(a, b));
        // Global rank of each route; lists are built from ranks so merging is a sort of integers.
        let mut hostless: Vec<usize> = Vec::new();
        let mut by_exact: Map<String, Vec<usize>> = Map::default();
        let mut by_suffix: Map<String, Vec<usize>> = Map::default();
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
        let materialize = |mut idx: Vec<usize>| -> Candidates {
            idx.sort_unstable();
            idx.dedup();
            Candidates::new(idx.into_iter().map(|i| routes[i].clone()).collect())
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
        let mut suffixes = Map::with_capacity_and_hasher(by_suffix.len(), Default::default());
        for s in by_suffix.keys() {
            let mut idx = covering(s, true);
            idx.extend_from_slice(&hostless);
            suffixes.insert(s.clone().into_boxed_str(), materialize(idx));
        }
        let mut exact = Map::with_capacity_and_hasher(by_exact.len(), Default::default());
        for (h, own) in &by_exact {
            let mut idx = own.clone();
            idx.extend(covering(h, false));
            idx.extend_from_slice(&hostless);
            exact.insert(h.clone().into_boxed_str(), materialize(idx));
        }
        let hostless = materialize(hostless);
        RouteTable {
            hostless,
            exact,
            suffixes,
        }
    }

    /// The candidates for a normalized host, in global order.
    pub fn candidates(&self, host: &str) -> &Candidates {
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
        self.candidates(req.host).find(req)
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
