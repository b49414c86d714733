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

    /// As Traefik 3.7: the first prefix the decoded path starts with (a plain string prefix, so
    /// `/api` also strips `/apiary` to `/ary`, and `/api%2Fx` to `/x`) is removed, a leading slash
    /// is ensured, and the prefix is appended to `X-Forwarded-Prefix`. A result that path
    /// cleaning would change (`/api%2F..%2Fx`) is refused with 400 (see `strip_path`).
    pub fn on_request(&self, parts: &mut http::request::Parts) -> crate::Action {
        let raw = parts.uri.path();
        let decoded = crate::strip_path::decode(raw);
        let Some((prefix, hv)) = self
            .prefixes
            .iter()
            .find(|(p, _)| decoded.starts_with(p.as_bytes()))
        else {
            return crate::Action::Continue;
        };
        let stripped = crate::strip_path::strip(raw, &decoded, prefix.len(), self.force_slash);
        let set = stripped.map(|s| match s {
            crate::strip_path::Stripped::Cut(lead, skip) => {
                crate::util::set_path_from(parts, &[lead], skip)
            }
            crate::strip_path::Stripped::Path(p) => crate::util::set_path(parts, &p),
        });
        match set {
            Ok(Ok(())) => {}
            _ => {
                return crate::Action::Respond(crate::util::text(
                    http::StatusCode::BAD_REQUEST,
                    "Bad Request",
                ))
            }
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
        assert_eq!(run(s.clone(), "/api/x").0, "/x");
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

    /// The status and upstream target for `uri`, Traefik 3.7's figures beside each case.
    fn outcome(prefixes: &[&str], uri: &str) -> (u16, String) {
        let f = StripPrefix::compile(&spec(prefixes)).expect("compile");
        let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
        match f.on_request(&mut p) {
            crate::Action::Continue => (200, p.uri.to_string()),
            crate::Action::Respond(r) => (r.status().as_u16(), String::new()),
            _ => (0, String::new()),
        }
    }

    #[test]
    fn encoded_slash_after_prefix_is_a_separator_as_traefik() {
        // Matched on the decoded path: /api%2Fx is /api/x, sent as /x (was /%2Fx).
        assert_eq!(outcome(&["/api"], "/api%2Fx"), (200, "/x".into()));
        assert_eq!(outcome(&["/api"], "/api%2Fx?q=1"), (200, "/x?q=1".into()));
        // Escapes after the cut stay as they are.
        assert_eq!(outcome(&["/api"], "/apix%2Fy"), (200, "/x%2Fy".into()));
        assert_eq!(outcome(&["/api"], "/api/a%2Fb"), (200, "/a%2Fb".into()));
        assert_eq!(outcome(&["/api"], "/api%5Cx"), (200, "/%5Cx".into()));
        assert_eq!(
            outcome(&["/api"], "/api%5C..%5Cx"),
            (200, "/%5C..%5Cx".into())
        );
        // `..%2F` is one segment for the backend too: kept, as Traefik.
        assert_eq!(outcome(&["/api"], "/api/..%2Fx"), (200, "/..%2Fx".into()));
        // A prefix holding an escaped character matches its decoded form.
        assert_eq!(outcome(&["/a b"], "/a%20b/x"), (200, "/x".into()));
    }

    #[test]
    fn traversal_through_the_stripped_prefix_is_refused() {
        // Was forwarded as /%2F..%2Fx and /%2F..%2Fetc: a decoding backend saw `..`.
        assert_eq!(outcome(&["/api"], "/api%2F..%2Fx").0, 400);
        assert_eq!(outcome(&["/api"], "/api%2f..%2fx").0, 400);
        assert_eq!(outcome(&["/api"], "/api%2F%2E%2E%2Fetc").0, 400);
        assert_eq!(outcome(&["/api"], "/api%2F..").0, 400);
        // Dots glued to the prefix (`%2E%2E` is `..` once the entry point normalized it).
        assert_eq!(outcome(&["/api"], "/api../x").0, 400);
        assert_eq!(outcome(&["/api"], "/api%2F.%2Fx").0, 400);
        // Double slashes left by the cut (entry point with sanitizePath off).
        assert_eq!(outcome(&["/api"], "/api//x").0, 400);
        assert_eq!(outcome(&["/api"], "/api%2F%2Fx").0, 400);
    }
}
