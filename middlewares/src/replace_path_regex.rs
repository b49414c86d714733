//! ReplacePathRegex: rewrites the path with a regular expression and a replacement that uses
//! Go's `$1` / `${1}` / `${name}` expansion; the original goes to `X-Replaced-Path`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;

/// `replacePathRegex`: regular expression and replacement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct ReplacePathRegexSpec {
    /// Regular expression matched against the path. Required.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub regex: String,
    /// Replacement; `$1`, `${1}` and `${name}` refer to capture groups.
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "de::string"
    )]
    pub replacement: String,
}

/// `replacePathRegex`, compiled.
#[derive(Clone, Debug)]
pub struct ReplacePathRegex {
    regex: regex::Regex,
    replacement: String,
}

impl ReplacePathRegex {
    pub fn compile(spec: &ReplacePathRegexSpec) -> Result<Self, crate::SpecError> {
        if spec.regex.trim().is_empty() {
            return Err(crate::SpecError::Missing("replacePathRegex.regex"));
        }
        if spec.replacement.is_empty() {
            // Traefik silently does nothing without a replacement; say so instead.
            return Err(crate::SpecError::Missing("replacePathRegex.replacement"));
        }
        let regex = regex::Regex::new(spec.regex.trim())
            .map_err(|e| crate::SpecError::regex("replacePathRegex.regex", &e))?;
        Ok(ReplacePathRegex {
            regex,
            replacement: spec.replacement.clone(),
        })
    }

    /// As Traefik: on a match against the escaped path, every match is replaced (Go's template
    /// expansion: `$1`, `${1}`, `${name}`, `$$`; `$1x` names group `1x`, which is empty) and the
    /// original path goes to `X-Replaced-Path`. A result with a bad escape is a 500, as Go's
    /// `PathUnescape` fails; one holding a dot segment or an empty segment is a 400.
    pub fn on_request(&self, parts: &mut http::request::Parts) -> crate::Action {
        let path = parts.uri.path();
        if !self.regex.is_match(path) {
            return crate::Action::Continue;
        }
        let old = http::HeaderValue::from_str(path);
        let new_path = self
            .regex
            .replace_all(path, self.replacement.as_str())
            .into_owned();
        // Traefik 3.7: a result that path cleaning would change (`..`, `.`, `//` segments, which
        // the entry point removes from requests) is refused rather than forwarded.
        if crate::util::valid_escapes(&new_path)
            && crate::strip_path::changed_by_join_path(&new_path)
        {
            return crate::Action::Respond(crate::util::text(
                http::StatusCode::BAD_REQUEST,
                "Bad Request",
            ));
        }
        if !crate::util::valid_escapes(&new_path)
            || crate::util::set_path(parts, &new_path).is_err()
        {
            return crate::Action::Respond(crate::util::text(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ));
        }
        if let Ok(old) = old {
            parts
                .headers
                .append(crate::replace_path::X_REPLACED_PATH, old);
        }
        crate::Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(regex: &str, replacement: &str, uri: &str) -> (String, Option<String>) {
        let f = ReplacePathRegex::compile(&ReplacePathRegexSpec {
            regex: regex.into(),
            replacement: replacement.into(),
        })
        .expect("compile");
        let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
        assert!(matches!(f.on_request(&mut p), crate::Action::Continue));
        (
            p.uri.to_string(),
            p.headers
                .get("x-replaced-path")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    }

    #[test]
    fn go_template_expansion() {
        assert_eq!(
            run("^/foo/(.*)", "/bar/$1", "/foo/baz?q"),
            ("/bar/baz?q".into(), Some("/foo/baz".into()))
        );
        assert_eq!(run("^/foo/(.*)", "/bar/${1}x", "/foo/baz").0, "/bar/bazx");
        // `$1x` is the (missing) group named "1x": empty, as in Go.
        assert_eq!(run("^/foo/(.*)", "/bar/$1x", "/foo/baz").0, "/bar/");
        assert_eq!(
            run("^/(?P<v>v[0-9])/(.*)", "/api/${v}/$2", "/v2/users").0,
            "/api/v2/users"
        );
        assert_eq!(run("^/a", "/$$", "/a").0, "/$");
        assert_eq!(run("^/nomatch", "/x", "/a"), ("/a".into(), None));
    }

    #[test]
    fn replaces_every_match() {
        assert_eq!(run("o", "0", "/foo/boo").0, "/f00/b00");
    }

    #[test]
    fn errors() {
        let bad = ReplacePathRegex::compile(&ReplacePathRegexSpec {
            regex: "(".into(),
            replacement: "/".into(),
        });
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("replacePathRegex.regex"));
        let none = ReplacePathRegex::compile(&ReplacePathRegexSpec {
            regex: "a".into(),
            replacement: "".into(),
        });
        assert_eq!(
            none.unwrap_err().to_string(),
            "missing required option `replacePathRegex.replacement`"
        );
    }

    /// Traefik 3.7.15 (entry point with `sanitizePath: false`, regex `^/rp/(.*)`, replacement
    /// `/new/$1`): dot and empty segments in the result are a 400, encoded ones are kept.
    #[test]
    fn unclean_results_are_refused_as_traefik() {
        let code = |uri: &str| {
            let f = ReplacePathRegex::compile(&ReplacePathRegexSpec {
                regex: "^/rp/(.*)".into(),
                replacement: "/new/$1".into(),
            })
            .expect("compile");
            let (mut p, ()) = http::Request::get(uri).body(()).expect("req").into_parts();
            match f.on_request(&mut p) {
                crate::Action::Respond(r) => r.status().as_u16(),
                _ => 200,
            }
        };
        for uri in [
            "/rp/../b",
            "/rp/a/./b",
            "/rp//b",
            "/rp/b//",
            "/rp/b/..",
            "/rp/b%20c/./d",
        ] {
            assert_eq!(code(uri), 400, "{uri}");
        }
        assert_eq!(run("^/rp/(.*)", "/new/$1", "/rp/b/").0, "/new/b/");
        assert_eq!(run("^/rp/(.*)", "/new/$1", "/rp/..%2Fb").0, "/new/..%2Fb");
        assert_eq!(
            run("^/rp/(.*)", "/new/$1", "/rp/a%2F..%2Fb").0,
            "/new/a%2F..%2Fb"
        );
        assert_eq!(
            run("^/rp/(.*)", "/new/$1", "/rp/a%5C..%5Cb").0,
            "/new/a%5C..%5Cb"
        );
    }
}
