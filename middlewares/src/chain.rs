//! Chain: a named list of other middlewares. Chains are flattened by the router compiler (with
//! cycle detection, see `expand_chains`); they have no filter of their own.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `chain`: the middlewares, in order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ChainSpec {
    /// Middleware names; unqualified names refer to the chain's own provider.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub middlewares: Vec<String>,
}
