//! AddPrefix: prepends a fixed prefix to the request path before it is forwarded.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `addPrefix`: the string added before the request path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AddPrefixSpec {
    /// The prefix to add, with a leading slash (`/api`). Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub prefix: String,
}

/// `addPrefix`, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct AddPrefix {
    prefix: String,
}

impl AddPrefix {
    pub fn compile(spec: &AddPrefixSpec) -> Result<Self, crate::SpecError> {
        if spec.prefix.is_empty() {
            return Err(crate::SpecError::Missing("addPrefix.prefix"));
        }
        if !crate::util::valid_escapes(&spec.prefix) || spec.prefix.contains(['?', '#', ' ']) {
            return Err(crate::SpecError::invalid(
                "addPrefix.prefix",
                format!("{:?} is not a valid path prefix", spec.prefix),
            ));
        }
        Ok(AddPrefix {
            prefix: spec.prefix.clone(),
        })
    }

    /// As Traefik: the prefix is prepended as is, and a leading slash is ensured.
    pub fn on_request(&self, parts: &mut http::request::Parts) -> crate::Action {
        let slash = if self.prefix.starts_with('/') {
            ""
        } else {
            "/"
        };
        match crate::util::set_path_from(parts, &[slash, &self.prefix], 0) {
            Ok(()) => crate::Action::Continue,
            Err(_) => crate::Action::Respond(crate::util::text(
                http::StatusCode::BAD_REQUEST,
                "Bad Request",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(prefix: &str, uri: &str) -> String {
        let f = AddPrefix::compile(&AddPrefixSpec {
            prefix: prefix.into(),
        })
        .expect("compile");
        let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
        assert!(matches!(f.on_request(&mut p), crate::Action::Continue));
        p.uri.to_string()
    }

    #[test]
    fn prepends() {
        assert_eq!(run("/api", "/foo?x=1"), "/api/foo?x=1");
        assert_eq!(run("api", "/foo"), "/api/foo");
        assert_eq!(run("/api/", "/foo"), "/api//foo");
        assert_eq!(run("/api", "/"), "/api/");
    }

    #[test]
    fn empty_is_an_error() {
        let e = AddPrefix::compile(&AddPrefixSpec::default()).unwrap_err();
        assert_eq!(e.to_string(), "missing required option `addPrefix.prefix`");
    }
}
