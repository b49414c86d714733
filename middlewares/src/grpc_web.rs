//! GrpcWeb: converts gRPC-Web requests to gRPC over HTTP/2 and back.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `grpcWeb`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcWebSpec {
    /// Allowed origins for CORS (`*` for any).
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub allow_origins: Vec<String>,
}
