//! StripPrefixRegex: removes the prefix matched by the first matching regular expression.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `stripPrefixRegex`: regular expressions matched at the start of the path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct StripPrefixRegexSpec {
    /// Regular expressions (Go RE2 syntax, which Rust's `regex` accepts). Required.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "de::list")]
    pub regex: Vec<String>,
}

/// `stripPrefixRegex`, compiled: each expression anchored at the start of the path.
#[derive(Clone, Debug)]
pub struct StripPrefixRegex {
    expressions: Vec<regex::bytes::Regex>,
}

impl StripPrefixRegex {
    pub fn compile(spec: &StripPrefixRegexSpec) -> Result<Self, crate::SpecError> {
        if spec.regex.is_empty() {
            return Err(crate::SpecError::Missing("stripPrefixRegex.regex"));
        }
        let expressions = spec
            .regex
            .iter()
            .map(|r| {
                regex::bytes::Regex::new(&format!("^(?:{})", r.trim()))
                    .map_err(|e| crate::SpecError::regex("stripPrefixRegex.regex", &e))
            })
            .collect::<Result<_, _>>()?;
        Ok(StripPrefixRegex { expressions })
    }

    /// As Traefik 3.7: the first expression with a non-empty match at the start of the decoded
    /// path strips it; the stripped text goes to `X-Forwarded-Prefix`. A result that path
    /// cleaning would change is refused with 400 (see `strip_path`).
    pub fn on_request(&self, parts: &mut http::request::Parts) -> crate::Action {
        let raw = parts.uri.path();
        let decoded = crate::strip_path::decode(raw);
        for re in &self.expressions {
            let Some(m) = re.find(&decoded) else { continue };
            if m.as_bytes().is_empty() {
                continue;
            }
            let Ok(prefix) = http::HeaderValue::from_bytes(m.as_bytes()) else {
                continue;
            };
            let stripped = crate::strip_path::strip(raw, &decoded, m.end(), false);
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
            parts.headers.append("x-forwarded-prefix", prefix);
            return crate::Action::Continue;
        }
        crate::Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(regex: &[&str], uri: &str) -> (String, Option<String>) {
        let spec = StripPrefixRegexSpec {
            regex: regex.iter().map(|s| s.to_string()).collect(),
        };
        let f = StripPrefixRegex::compile(&spec).expect("compile");
        let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
        f.on_request(&mut p);
        let xfp = p
            .headers
            .get("x-forwarded-prefix")
            .map(|v| v.to_str().expect("ascii").to_string());
        (p.uri.to_string(), xfp)
    }

    #[test]
    fn strips_matched_prefix() {
        assert_eq!(
            run(&["/foo/[a-z0-9]+/"], "/foo/abc12/bar?q=1"),
            ("/bar?q=1".into(), Some("/foo/abc12/".into()))
        );
        assert_eq!(run(&["/foo/[a-z0-9]+"], "/foo/abc12/bar").0, "/bar");
        assert_eq!(
            run(&["/a/[0-9]+"], "/b/a/1"),
            ("/b/a/1".into(), None),
            "anchored at the start"
        );
        assert_eq!(run(&["/api"], "/apiary").0, "/ary");
        assert_eq!(run(&["/x*"], "/y").0, "/y");
    }

    #[test]
    fn bad_regex_is_an_error() {
        let e = StripPrefixRegex::compile(&StripPrefixRegexSpec {
            regex: vec!["/(a".into()],
        })
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid regular expression in `stripPrefixRegex.regex`"),
            "{e}"
        );
    }

    #[test]
    fn matches_the_decoded_path_and_refuses_traversal_as_traefik() {
        assert_eq!(
            run(&["/rx/[a-z]+"], "/rx/ab%2Fc"),
            ("/c".into(), Some("/rx/ab".into()))
        );
        assert_eq!(run(&["/rx/[a-z]+"], "/rx/ab/c%2Fd").0, "/c%2Fd");
        assert_eq!(run(&["/rx/[a-z]+"], "/rx/ab/..%2Fc").0, "/..%2Fc");
        for uri in [
            "/rx/ab%2F..%2Fc",
            "/rx/ab%2F%2E%2E%2Fc",
            "/rx/ab../c",
            "/rx/ab//c",
        ] {
            let f = StripPrefixRegex::compile(&StripPrefixRegexSpec {
                regex: vec!["/rx/[a-z]+".into()],
            })
            .expect("compile");
            let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
            match f.on_request(&mut p) {
                crate::Action::Respond(r) => assert_eq!(r.status(), 400, "{uri}"),
                _ => panic!("{uri} forwarded as {}", p.uri),
            }
        }
    }
}
