//! ReplacePath: replaces the whole request path and records the original in `X-Replaced-Path`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `replacePath`: the new path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplacePathSpec {
    /// The path that replaces the request path. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub path: String,
}

/// `replacePath`, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplacePath {
    path: String,
}

impl ReplacePath {
    pub fn compile(spec: &ReplacePathSpec) -> Result<Self, crate::SpecError> {
        if spec.path.is_empty() {
            return Err(crate::SpecError::Missing("replacePath.path"));
        }
        if !crate::util::valid_escapes(&spec.path)
            || http::uri::PathAndQuery::try_from(spec.path.as_str()).is_err()
            || spec.path.contains('?')
        {
            return Err(crate::SpecError::invalid(
                "replacePath.path",
                format!("{:?} is not a valid path", spec.path),
            ));
        }
        Ok(ReplacePath {
            path: spec.path.clone(),
        })
    }

    /// As Traefik: the original (escaped) path goes to `X-Replaced-Path`; the query is kept.
    pub fn on_request(&self, parts: &mut http::request::Parts) -> crate::Action {
        let old = http::HeaderValue::from_str(parts.uri.path());
        if crate::util::set_path(parts, &self.path).is_err() {
            return crate::Action::Respond(crate::util::text(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ));
        }
        if let Ok(old) = old {
            parts.headers.append(X_REPLACED_PATH, old);
        }
        crate::Action::Continue
    }
}

/// Header that carries the path before ReplacePath / ReplacePathRegex.
pub const X_REPLACED_PATH: &str = "x-replaced-path";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_and_records() {
        let f = ReplacePath::compile(&ReplacePathSpec {
            path: "/new".into(),
        })
        .expect("compile");
        let (mut p, ()) = http::Request::get("/old%20x?a=b")
            .body(())
            .unwrap()
            .into_parts();
        f.on_request(&mut p);
        assert_eq!(p.uri.to_string(), "/new?a=b");
        assert_eq!(p.headers["x-replaced-path"], "/old%20x");
    }

    #[test]
    fn invalid_values() {
        assert!(ReplacePath::compile(&ReplacePathSpec::default()).is_err());
        let e = ReplacePath::compile(&ReplacePathSpec {
            path: "/a%zz".into(),
        })
        .unwrap_err();
        assert!(e.to_string().contains("not a valid path"));
    }
}
