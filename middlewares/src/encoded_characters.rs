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

// ---- compiled form -------------------------------------------------------------------------

/// `encodedCharacters`, compiled: the set of decoded bytes refused when percent-encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedCharacters {
    denied: [bool; 256],
}

impl EncodedCharacters {
    pub fn compile(spec: &EncodedCharactersSpec) -> Self {
        let mut denied = [false; 256];
        let rules = [
            (b'/', spec.allow_encoded_slash),
            (b'\\', spec.allow_encoded_back_slash),
            (0u8, spec.allow_encoded_null_character),
            (b';', spec.allow_encoded_semicolon),
            (b'%', spec.allow_encoded_percent),
            (b'?', spec.allow_encoded_question_mark),
            (b'#', spec.allow_encoded_hash),
        ];
        for (byte, allowed) in rules {
            denied[byte as usize] = !allowed;
        }
        EncodedCharacters { denied }
    }

    /// 400 when the raw path holds a refused `%XX` escape.
    pub fn on_request(&self, parts: &http::request::Parts) -> crate::Action {
        let b = parts.uri.path().as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = |c: u8| (c as char).to_digit(16);
                if let (Some(h), Some(l)) = (
                    b.get(i + 1).and_then(|c| hex(*c)),
                    b.get(i + 2).and_then(|c| hex(*c)),
                ) {
                    if self.denied[(h * 16 + l) as usize] {
                        return crate::Action::Respond(crate::util::text(
                            http::StatusCode::BAD_REQUEST,
                            "Bad Request",
                        ));
                    }
                    i += 3;
                    continue;
                }
            }
            i += 1;
        }
        crate::Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(f: &EncodedCharacters, path: &str) -> u16 {
        let (p, ()) = http::Request::get(path).body(()).unwrap().into_parts();
        match f.on_request(&p) {
            crate::Action::Continue => 200,
            crate::Action::Respond(r) => r.status().as_u16(),
            _ => 0,
        }
    }

    #[test]
    fn rejects_unless_allowed() {
        let deny_all = EncodedCharacters::compile(&EncodedCharactersSpec::default());
        for p in [
            "/a%2Fb", "/a%2fb", "/a%5C", "/%00", "/a%3Bb", "/a%25", "/a%3F", "/a%23",
        ] {
            assert_eq!(code(&deny_all, p), 400, "{p}");
        }
        assert_eq!(code(&deny_all, "/a%20b%41"), 200);
        let slash_ok = EncodedCharacters::compile(&EncodedCharactersSpec {
            allow_encoded_slash: true,
            ..Default::default()
        });
        assert_eq!(code(&slash_ok, "/a%2Fb"), 200);
        assert_eq!(code(&slash_ok, "/a%3Fb"), 400);
    }
}
