//! EncodedCharacters: rejects requests whose path contains ambiguous percent-encoded reserved
//! characters unless each is allowed (Traefik v3.6).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `encodedCharacters`. Every option defaults to false (rejected).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct EncodedCharactersSpec {
    /// `%2F` / `%2f`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_slash: bool,
    /// `%5C` / `%5c`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_back_slash: bool,
    /// `%00`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_null_character: bool,
    /// `%3B` / `%3b`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_semicolon: bool,
    /// `%25`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_percent: bool,
    /// `%3F` / `%3f`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_question_mark: bool,
    /// `%23`.
    #[serde(skip_serializing_if = "de::is_false", deserialize_with = "de::bool")]
    pub allow_encoded_hash: bool,
}
