//! StripPrefix: removes the first matching prefix from the request path and records it in
//! `X-Forwarded-Prefix`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `stripPrefix`: prefixes to remove from the request path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct StripPrefixSpec {
    /// Prefixes to strip, tried in order; the first that matches is removed. Required.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub prefixes: Vec<String>,
    /// Deprecated in Traefik v3 (default true): when false, stripping a whole path leaves it
    /// empty instead of `/`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de::opt_bool"
    )]
    pub force_slash: Option<bool>,
}

/// `stripPrefix`, compiled.
#[derive(Clone, Debug, PartialEq)]
pub struct StripPrefix {
    prefixes: Vec<(String, http::HeaderValue)>,
    force_slash: bool,
}

impl StripPrefix {
    pub fn compile(spec: &StripPrefixSpec) -> Result<Self, crate::SpecError> {
        if spec.prefixes.is_empty() {
            return Err(crate::SpecError::Missing("stripPrefix.prefixes"));
        }
        let prefixes = spec
            .prefixes
            .iter()
            .map(|p| {
                let hv = http::HeaderValue::from_str(p.trim()).map_err(|_| {
                    crate::SpecError::invalid(
                        "stripPrefix.prefixes",
                        format!("{p:?} is not a valid prefix"),
                    )
                })?;
                Ok((p.clone(), hv))
            })
            .collect::<Result<_, crate::SpecError>>()?;
        // Traefik v3: deprecated, false unless explicitly set.
        Ok(StripPrefix {
            prefixes,
            force_slash: spec.force_slash == Some(true),
        })
    }

    /// As Traefik: the first prefix the path starts with (a plain string prefix, so `/api` also
    /// strips `/apiary` to `/ary`) is removed, a leading slash is ensured, and the prefix is
    /// appended to `X-Forwarded-Prefix`.
    pub fn on_request(&self, parts: &mut http::request::Parts) -> crate::Action {
        let path = parts.uri.path();
        let Some((prefix, hv)) = self
            .prefixes
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
        else {
            return crate::Action::Continue;
        };
        let rest = &path[prefix.len()..];
        // Traefik: forceSlash gives "/" + rest minus one leading slash; otherwise a leading
        // slash is ensured on a non-empty rest.
        let (lead, skip) = if self.force_slash {
            ("/", prefix.len() + usize::from(rest.starts_with('/')))
        } else if rest.is_empty() || rest.starts_with('/') {
            ("", prefix.len())
        } else {
            ("/", prefix.len())
        };
        if crate::util::set_path_from(parts, &[lead], skip).is_err() {
            return crate::Action::Respond(crate::util::text(
                http::StatusCode::BAD_REQUEST,
                "Bad Request",
            ));
        }
        parts.headers.append("x-forwarded-prefix", hv.clone());
        crate::Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: StripPrefixSpec, uri: &str) -> (String, Vec<String>) {
        let f = StripPrefix::compile(&spec).expect("compile");
        let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
        assert!(matches!(f.on_request(&mut p), crate::Action::Continue));
        let xfp = p
            .headers
            .get_all("x-forwarded-prefix")
            .iter()
            .map(|v| v.to_str().expect("ascii").to_string())
            .collect();
        (p.uri.to_string(), xfp)
    }

    fn spec(prefixes: &[&str]) -> StripPrefixSpec {
        StripPrefixSpec {
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            force_slash: None,
        }
    }

    #[test]
    fn strips_first_matching_prefix() {
        assert_eq!(
            run(spec(&["/api"]), "/api/users?x=1"),
            ("/users?x=1".into(), vec!["/api".into()])
        );
        assert_eq!(run(spec(&["/foo", "/api"]), "/api/x").0, "/x");
        assert_eq!(run(spec(&["/api"]), "/other").0, "/other");
        assert!(run(spec(&["/api"]), "/other").1.is_empty());
    }

    #[test]
    fn boundaries_and_trailing_slashes_as_traefik() {
        // A plain string prefix: /api also matches /apiary.
        assert_eq!(run(spec(&["/api"]), "/apiary").0, "/ary");
        assert_eq!(run(spec(&["/api/"]), "/api/x").0, "/x");
        assert_eq!(
            run(spec(&["/api/"]), "/api").0,
            "/api",
            "no match without the slash"
        );
        // The whole path stripped: Go sends an empty path as "/".
        assert_eq!(run(spec(&["/api"]), "/api").0, "/");
        assert_eq!(run(spec(&["/api"]), "/api/").0, "/");
    }

    #[test]
    fn force_slash_option() {
        let mut s = spec(&["/api"]);
        s.force_slash = Some(true);
        assert_eq!(run(s.clone(), "/api").0, "/");
        assert_eq!(run(s.clone(), "/api//x").0, "//x");
        assert_eq!(run(s, "/apiary").0, "/ary");
    }

    #[test]
    fn appends_to_existing_forwarded_prefix() {
        let f = StripPrefix::compile(&spec(&["/b"])).expect("compile");
        let (mut p, ()) = http::Request::get("/b/c")
            .header("x-forwarded-prefix", "/a")
            .body(())
            .unwrap()
            .into_parts();
        f.on_request(&mut p);
        let all: Vec<_> = p.headers.get_all("x-forwarded-prefix").iter().collect();
        assert_eq!(all, ["/a", "/b"]);
    }

    #[test]
    fn missing_prefixes_is_an_error() {
        let e = StripPrefix::compile(&spec(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing required option `stripPrefix.prefixes`"
        );
    }
}
