//! wharf-middlewares: one file per middleware holding its serde spec and its compiled filter.
//!
//! Flow: providers parse `MiddlewareSpec` (Traefik's shape: one key naming the type) → compile
//! builds a `Filter` per middleware → a router's chain is an `Arc<[Filter]>` walked per request.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A middleware definition as Traefik writes it: exactly one type key is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct MiddlewareSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strip_prefix: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<serde_json::Value>,
}
