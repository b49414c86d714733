//! Traefik v2 rule syntax (`ruleSyntax: v2`, for migration): the matchers of
//! `pkg/muxer/http/matcher_v2.go`, whose values are gorilla/mux templates with `{name:regex}`
//! placeholders, compiled here to the same anchored regexes gorilla builds.

use std::borrow::Cow;

use super::matcher::{self, decode, decodes_to, Matcher};
use super::parser::{Arg, Call};
use super::regex::{go_to_rust, HostBound, Re};
use super::RuleError;

/// What a gorilla template is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Whole host, anchored at both ends; default placeholder pattern `[^.]+`.
    Host,
    /// Whole path, anchored at both ends; default `[^/]+`.
    Path,
    /// Path prefix, anchored at the start only; default `[^/]+`.
    Prefix,
}

/// A compiled gorilla/mux template: a plain string when it has no placeholder.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Template {
    /// The template as written (printed back by `Display`).
    pub src: String,
    kind: Kind,
    literal: Option<String>,
    re: Option<Re>,
    /// The literal text after the last placeholder (host templates), for host keys.
    tail: String,
}

impl Template {
    #[inline]
    pub fn matches(&self, s: &str) -> bool {
        match (&self.literal, &self.re) {
            (Some(lit), _) => match self.kind {
                Kind::Host | Kind::Path => s == lit,
                Kind::Prefix => s.starts_with(lit.as_str()),
            },
            (None, Some(re)) => re.is_match(s.as_bytes()),
            (None, None) => false,
        }
    }

    /// Hosts a host template can match: its literal, or the suffix after the first dot of the
    /// literal text that ends it (the match is anchored at the end).
    pub fn host_bound(&self) -> Option<HostBound> {
        if let Some(lit) = &self.literal {
            return Some(HostBound::Exact(lit.clone()));
        }
        let dot = self.tail.find('.')?;
        let suffix = &self.tail[dot + 1..];
        if suffix.is_empty()
            || suffix.contains("..")
            || suffix.ends_with('.')
            || suffix.contains(':')
        {
            return None;
        }
        Some(HostBound::Suffix(suffix.to_string()))
    }
}

/// A v2 `Query(`key=value`)` template; several in one matcher must all match (gorilla adds one
/// query matcher per pair).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QueryTemplate {
    pub src: String,
    key: String,
    value: QueryValue,
}

#[derive(Clone, Debug, PartialEq)]
enum QueryValue {
    /// `key=`: any value, present key required.
    Any,
    Literal(String),
    Regex(Re),
}

impl QueryTemplate {
    /// gorilla: the first occurrence of the key (pairs split on `&` and `;`) decides.
    pub fn matches(&self, q: &str) -> bool {
        let Some(value) = first_value(q, &self.key) else {
            return false;
        };
        match &self.value {
            QueryValue::Any => true,
            QueryValue::Literal(lit) => *value == *lit.as_bytes(),
            QueryValue::Regex(re) => re.is_match(&value),
        }
    }
}

fn first_value<'q>(q: &'q str, key: &str) -> Option<Cow<'q, [u8]>> {
    for pair in q.split(['&', ';']) {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if !decodes_to(k, key) {
            continue;
        }
        if let Some(d) = decode(v) {
            return Some(d);
        }
    }
    None
}

/// One piece of a template: literal text or a `{name:pattern}` placeholder.
enum Piece<'t> {
    Raw(&'t str),
    Var { pattern: Option<&'t str> },
}

/// Splits a template at its top-level braces (gorilla's `braceIndices`, nesting allowed).
fn pieces(tpl: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut level = 0usize;
    let mut start = 0usize;
    let mut open = 0usize;
    for (i, c) in tpl.char_indices() {
        match c {
            '{' => {
                level += 1;
                if level == 1 {
                    if i > start {
                        out.push(Piece::Raw(&tpl[start..i]));
                    }
                    open = i;
                }
            }
            '}' => {
                level = level
                    .checked_sub(1)
                    .ok_or_else(|| format!("unbalanced braces in {}", matcher::quoted(tpl)))?;
                if level == 0 {
                    let inner = &tpl[open + 1..i];
                    let (name, pattern) = match inner.split_once(':') {
                        Some((n, p)) => (n, Some(p)),
                        None => (inner, None),
                    };
                    if name.is_empty() || pattern == Some("") {
                        return Err(format!(
                            "missing name or pattern in {}",
                            matcher::quoted(&tpl[open..=i])
                        ));
                    }
                    out.push(Piece::Var { pattern });
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    if level != 0 {
        return Err(format!("unbalanced braces in {}", matcher::quoted(tpl)));
    }
    if start < tpl.len() {
        out.push(Piece::Raw(&tpl[start..]));
    }
    Ok(out)
}

/// Go's `regexp.QuoteMeta`.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if r"\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The regex gorilla builds for a template: `^` literal parts quoted, placeholders as their
/// pattern (or `default`), `$` unless it is a prefix. `for_rust` wraps and translates
/// placeholder patterns for the `regex` crate; otherwise the result is the Go regex to show a
/// user in a hint. A template with broken braces is quoted whole.
pub(crate) fn template_regex(tpl: &str, default: &str, end: bool, for_rust: bool) -> String {
    let mut out = String::from("^");
    match pieces(tpl) {
        Ok(ps) => {
            for p in ps {
                match p {
                    Piece::Raw(raw) => out.push_str(&quote_meta(raw)),
                    Piece::Var { pattern } => {
                        let pat = pattern.unwrap_or(default);
                        if for_rust {
                            out.push_str("(?:");
                            out.push_str(&go_to_rust(pat));
                            out.push(')');
                        } else if pat.contains('|') {
                            out.push_str("(?:");
                            out.push_str(pat);
                            out.push(')');
                        } else {
                            out.push_str(pat);
                        }
                    }
                }
            }
        }
        Err(_) => out.push_str(&quote_meta(tpl)),
    }
    if end {
        out.push('$');
    }
    out
}

fn template(call: &Call<'_>, a: &Arg, kind: Kind) -> Result<Template, RuleError> {
    // Our request host is lower-case, so the literal parts of a host template are too.
    let src = a.value.clone();
    let text = if kind == Kind::Host {
        a.value.to_ascii_lowercase()
    } else {
        a.value.clone()
    };
    let ps = pieces(&text).map_err(|e| call.err(a.pos, format!("{}: {e}", call.name)))?;
    let tail = match ps.last() {
        Some(Piece::Raw(raw)) => raw.to_string(),
        _ => String::new(),
    };
    if ps.iter().all(|p| matches!(p, Piece::Raw(_))) {
        let mut lit = text.clone();
        if kind == Kind::Host && lit.len() > 1 {
            if let Some(s) = lit.strip_suffix('.') {
                lit = s.to_string();
            }
        }
        return Ok(Template {
            src,
            kind,
            literal: Some(lit),
            re: None,
            tail,
        });
    }
    let (default, end) = match kind {
        Kind::Host => ("[^.]+", true),
        Kind::Path => ("[^/]+", true),
        Kind::Prefix => ("[^/]+", false),
    };
    let mut pattern = template_regex(&text, default, end, true);
    if kind == Kind::Host {
        // gorilla/mux matches host templates case-insensitively (Traefik 3.7 with v2 syntax:
        // `HostRegexp(`{sub:[A-Z]+}.a.com`)` matches `x.a.com`).
        pattern.insert_str(0, "(?i)");
    }
    let re = Re::built(&src, &pattern).map_err(|e| {
        call.err(
            a.pos,
            format!(
                "invalid pattern in {} {}: {e}",
                call.name,
                matcher::quoted(&src)
            ),
        )
    })?;
    Ok(Template {
        src,
        kind,
        literal: None,
        re: Some(re),
        tail,
    })
}

fn pairs<'c>(call: &'c Call<'_>) -> Result<impl Iterator<Item = (&'c Arg, &'c Arg)>, RuleError> {
    if call.args.len() & 1 == 1 {
        return Err(call.err_name(format!(
            "{} takes name/value pairs, got {} arguments",
            call.name,
            call.args.len()
        )));
    }
    Ok(call.args.chunks(2).map(|c| (&c[0], &c[1])))
}

/// Builds a v2 leaf. Several values mean "any of" for Host, HostRegexp, Path, PathPrefix,
/// Method and ClientIP, and "all of" for Headers, HeadersRegexp and Query, as in gorilla/mux.
pub(crate) fn build_v2(call: &Call<'_>) -> Result<Matcher, RuleError> {
    matcher::check_non_empty(call)?;
    let args = &call.args;
    Ok(match call.name {
        "Host" | "HostHeader" => Matcher::HostV2(
            args.iter()
                .map(|a| matcher::normalize_host(call, a))
                .collect::<Result<_, _>>()?,
        ),
        "HostRegexp" => {
            for a in args {
                if !a.value.is_ascii() {
                    return Err(call.err(
                        a.pos,
                        "HostRegexp does not accept non-ASCII characters; use punycode",
                    ));
                }
            }
            Matcher::HostRegexpV2(
                args.iter()
                    .map(|a| template(call, a, Kind::Host))
                    .collect::<Result<_, _>>()?,
            )
        }
        "Path" | "PathPrefix" => {
            let kind = if call.name == "Path" {
                Kind::Path
            } else {
                Kind::Prefix
            };
            let ts = args
                .iter()
                .map(|a| {
                    if !a.value.starts_with('/') {
                        return Err(call.err(
                            a.pos,
                            format!("path {} must start with a `/`", matcher::quoted(&a.value)),
                        ));
                    }
                    template(call, a, kind)
                })
                .collect::<Result<Vec<_>, _>>()?;
            if kind == Kind::Path {
                Matcher::PathV2(ts)
            } else {
                Matcher::PathPrefixV2(ts)
            }
        }
        "Method" => Matcher::MethodV2(
            args.iter()
                .map(|a| matcher::method(call, a))
                .collect::<Result<_, _>>()?,
        ),
        "ClientIP" => Matcher::ClientIpV2(
            args.iter()
                .map(|a| matcher::ip_net(call, a))
                .collect::<Result<_, _>>()?,
        ),
        "Headers" => Matcher::HeadersV2(
            pairs(call)?
                .map(|(n, v)| Ok((matcher::header_name(call, n)?, v.value.clone())))
                .collect::<Result<_, RuleError>>()?,
        ),
        "HeadersRegexp" => Matcher::HeadersRegexpV2(
            pairs(call)?
                .map(|(n, v)| Ok((matcher::header_name(call, n)?, matcher::regex(call, v)?)))
                .collect::<Result<_, RuleError>>()?,
        ),
        "Query" => Matcher::QueryV2(
            args.iter()
                .map(|a| query_template(call, a))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(call.err_name(format!("unknown matcher `{other}`"))),
    })
}

fn query_template(call: &Call<'_>, a: &Arg) -> Result<QueryTemplate, RuleError> {
    let Some((key, value)) = a.value.split_once('=') else {
        return Err(call.err(
            a.pos,
            format!(
                "v2 Query takes `key=value` (or `key=` for any value), got {}",
                matcher::quoted(&a.value)
            ),
        ));
    };
    let value = if value.is_empty() {
        QueryValue::Any
    } else {
        let ps = pieces(value).map_err(|e| call.err(a.pos, format!("Query: {e}")))?;
        if ps.iter().all(|p| matches!(p, Piece::Raw(_))) {
            QueryValue::Literal(value.to_string())
        } else {
            let pattern = template_regex(value, ".*", true, true);
            QueryValue::Regex(Re::built(value, &pattern).map_err(|e| {
                call.err(
                    a.pos,
                    format!(
                        "invalid pattern in Query {}: {e}",
                        matcher::quoted(&a.value)
                    ),
                )
            })?)
        }
    };
    Ok(QueryTemplate {
        src: a.value.clone(),
        key: key.to_string(),
        value,
    })
}
