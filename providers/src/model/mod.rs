//! The dynamic configuration model: Traefik v3's file-provider shape as serde types.
//!
//! Every provider produces a `DynamicConfig`; aggregate merges them (qualifying names as
//! `name@provider`); compile turns the merged one into a snapshot. Field names are Traefik's
//! (camelCase in YAML/TOML/JSON); the spec types derive a JSON schema for CRDs and for the
//! case-insensitive key canonicalizer in `keys`.

mod http;
mod problem;
mod tls;

pub use http::*;
pub use problem::*;
pub use tls::*;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One provider's full view of the dynamic configuration (or the merged view of all of them).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct DynamicConfig {
    #[serde(skip_serializing_if = "HttpConfig::is_empty")]
    pub http: HttpConfig,
    #[serde(skip_serializing_if = "TlsConfig::is_empty")]
    pub tls: TlsConfig,
    /// `tcp` and `udp` sections: kept so they can be reported as "unsupported yet", not dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub udp: Option<serde_json::Value>,
    /// Problems the provider found while translating its source (a bad label, a file that did not
    /// parse). Compile attaches them to the named items, which are disabled (or warned) in the report.
    #[serde(skip)]
    pub problems: Vec<Problem>,
}

impl DynamicConfig {
    pub fn is_empty(&self) -> bool {
        self.http.is_empty() && self.tls.is_empty() && self.tcp.is_none() && self.udp.is_none()
    }

    /// Rebuilds the maps with full B-tree nodes before the view is kept (see [`compact`]).
    pub fn compact(&mut self) {
        compact(&mut self.http.routers);
        compact(&mut self.http.services);
        compact(&mut self.http.middlewares);
        compact(&mut self.http.servers_transports);
    }
}

/// Rebuilds a map with full nodes. Inserting keys in ascending order (merging or compiling a
/// sorted map) leaves every B-tree node about half full, and deserializing leaves them some
/// two-thirds full; building from a sorted sequence fills them. For 10,000 routers that is
/// some 100 bytes per router per copy kept. Only moves: no key or value is cloned.
pub fn compact<K: Ord, V>(map: &mut BTreeMap<K, V>) {
    if map.len() > 1 {
        *map = std::mem::take(map).into_iter().collect();
    }
}

#[cfg(test)]
mod compact_tests {
    use super::*;

    #[test]
    fn compact_keeps_every_entry_in_order() {
        let mut m: BTreeMap<String, usize> = (0..1000).map(|i| (format!("r{i}"), i)).collect();
        let before: Vec<(String, usize)> = m.clone().into_iter().collect();
        compact(&mut m);
        assert_eq!(m.into_iter().collect::<Vec<_>>(), before);
        let mut one = BTreeMap::from([("a".to_string(), 1)]);
        compact(&mut one);
        assert_eq!(one["a"], 1);
    }
}
