//! The rule language of Traefik v3 (and v2 syntax for migration): parsed once at compile time
//! into a matcher tree that the proxy evaluates per request without allocating.
//!
//! Contract used by compile and proxy (keep these signatures):
//! - `parse(src, syntax) -> Result<Rule, RuleError>`; `RuleError` carries a 1-based column.
//! - `Rule::matches(&RequestInfo) -> bool`; `Rule::host_keys() -> HostKeys` and
//!   `Rule::path_keys()` for the route table.
//! - `Display for Rule` prints a rule that parses back to the same `Rule` (with `rule.syntax()`).
//!
//! Layout: `parser` turns text into an expression tree (tokens, precedence, strings, errors with
//! columns); `matcher` holds the compiled leaves of v3 syntax and evaluates them; `v2` builds the
//! leaves of Traefik v2 syntax (gorilla/mux templates) and the "write it this way in v3" hints;
//! `regex` translates Go RE2 patterns for the `regex` crate and proves literal host suffixes.
//!
//! Semantics follow Traefik v3 (`pkg/muxer/http/matcher.go`, `matcher_v2.go`, `pkg/rules`):
//! - `&&` binds tighter than `||`; `!` binds tightest. Matcher names are accepted as written in
//!   the docs, all lower-case, all upper-case, or capitalised (`Host`, `host`, `HOST`, `Pathprefix`).
//! - Regexes are Go-flavoured and **not** anchored (v3): write `^...$` to anchor.
//! - `Query(`k`)` matches a parameter `k` with an empty value (`?k` or `?k=`), as Traefik v3 does.
//! - `ClientIP` looks at the connection's remote address only, never at `X-Forwarded-For`.

mod matcher;
mod parser;
mod regex;
mod v2;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use matcher::Expr;

/// What a rule looks at. Built by the proxy once per request, with `host` already normalized
/// (lower-case, no port, no trailing dot; IPv6 literals without brackets).
#[derive(Clone, Copy, Debug)]
pub struct RequestInfo<'a> {
    pub method: &'a http::Method,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub client_ip: IpAddr,
}

/// Which syntax a router's rule is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RuleSyntax {
    V2,
    #[default]
    V3,
}

impl RuleSyntax {
    /// Reads Traefik's `ruleSyntax` / `core.defaultRuleSyntax` value: exactly `v2` or `v3`.
    /// Traefik parses anything else (even `V2`, checked against Traefik 3.7) as v3 without an
    /// error; callers should do the same for `None` and may report a warning.
    pub fn from_name(name: &str) -> Option<RuleSyntax> {
        match name {
            "v2" => Some(RuleSyntax::V2),
            "v3" => Some(RuleSyntax::V3),
            _ => None,
        }
    }
}

/// A parse error, pointing at a 1-based column of the rule text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct RuleError {
    pub column: usize,
    pub message: String,
}

/// The hosts a rule can match, for the route table's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeys {
    /// The rule may match any host: it goes to the host-less list.
    Any,
    /// The rule only matches these hosts: exact names (normalized) and suffixes (`example.com`
    /// for names ending in `.example.com`, from HostRegexp with a literal suffix).
    Hosts {
        exact: Vec<String>,
        suffixes: Vec<String>,
    },
}

/// A parsed rule.
///
/// Equality compares the parsed meaning (the matcher tree and the syntax), not the text:
/// `Host(`A.com`)` and `Host("a.com")` are equal rules.
#[derive(Clone, Debug)]
pub struct Rule {
    expr: Expr,
    syntax: RuleSyntax,
    source_len: usize,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.syntax == other.syntax && self.expr == other.expr
    }
}

impl Rule {
    /// Evaluates the rule against one request. Allocation-free except for `QueryRegexp` (v3)
    /// and v2 `Query` templates on a parameter whose raw text holds `%` or `+` escapes.
    pub fn matches(&self, req: &RequestInfo<'_>) -> bool {
        self.expr.eval(req)
    }

    /// Every leaf matcher (as printed, `!` included for negated leaves) with whether it matched
    /// `req`, in order of appearance: the API's explain endpoint shows why a rule matched or not.
    /// Not for the hot path (allocates).
    pub fn leaf_results(&self, req: &RequestInfo<'_>) -> Vec<(String, bool)> {
        fn walk(
            e: &matcher::Expr,
            neg: bool,
            req: &RequestInfo<'_>,
            out: &mut Vec<(String, bool)>,
        ) {
            match e {
                matcher::Expr::Leaf(m) => {
                    let hit = m.matches(req);
                    let text = if neg { format!("!{m}") } else { m.to_string() };
                    out.push((text, hit != neg));
                }
                matcher::Expr::Not(inner) => walk(inner, !neg, req, out),
                matcher::Expr::And(items) | matcher::Expr::Or(items) => {
                    items.iter().for_each(|i| walk(i, neg, req, out))
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.expr, false, req, &mut out);
        out
    }

    /// The hosts this rule can match, for the route table's host index.
    pub fn host_keys(&self) -> HostKeys {
        match self.expr.host_keys() {
            None => HostKeys::Any,
            Some(mut keys) => {
                keys.exact.sort();
                keys.exact.dedup();
                keys.suffixes.sort();
                keys.suffixes.dedup();
                HostKeys::Hosts {
                    exact: keys.exact,
                    suffixes: keys.suffixes,
                }
            }
        }
    }

    /// Literal prefixes of the routing path that bound this rule, sorted and deduplicated:
    /// `Some(keys)` when the rule can only match a path starting with one of `keys` (from `Path`
    /// and `PathPrefix` leaves, which compare the routing path byte for byte), `None` when it
    /// may match any path. The route table indexes long candidate lists with it.
    pub fn path_keys(&self) -> Option<Vec<String>> {
        let mut keys = self.expr.path_keys()?;
        keys.sort();
        keys.dedup();
        Some(keys)
    }

    /// The length in bytes of the rule text as written: Traefik's default router priority
    /// (`len(rule)` in Go).
    pub fn source_len(&self) -> usize {
        self.source_len
    }

    /// The default priority of a router with this rule (Traefik: the rule's length).
    pub fn default_priority(&self) -> i64 {
        i64::try_from(self.source_len).unwrap_or(i64::MAX)
    }

    /// The syntax the rule was parsed with; `Display` prints in that syntax.
    pub fn syntax(&self) -> RuleSyntax {
        self.syntax
    }

    /// Every host named by a `Host` matcher, normalized, in order of appearance, without
    /// duplicates: the domains an ACME resolver requests for the router. Unlike Traefik's
    /// `ParseDomains`, hosts under a `!` are left out (a certificate for a host the router
    /// refuses is wasted CA rate limit).
    pub fn domains(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.expr.domains(false, &mut out);
        out
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.expr.fmt_prec(f, matcher::Prec::Or)
    }
}

/// Normalizes a request's host (from the `Host` header or the URI authority) the way rules
/// expect `RequestInfo::host`: the port removed, IPv6 brackets removed, lower-case, no trailing
/// dot. Borrows when nothing changes (the common case), so the proxy can call it per request.
pub fn normalize_request_host(raw: &str) -> std::borrow::Cow<'_, str> {
    let host = if let Some(rest) = raw.strip_prefix('[') {
        // `[::1]` or `[::1]:8080`
        rest.split_once(']').map_or(rest, |(ip, _)| ip)
    } else if raw.bytes().filter(|&c| c == b':').count() == 1 {
        // `example.com:8080`; more than one colon is a bare IPv6 literal.
        raw.split_once(':').map_or(raw, |(h, _)| h)
    } else {
        raw
    };
    let host = match host.strip_suffix('.') {
        Some(h) if !h.is_empty() => h,
        _ => host,
    };
    if host.bytes().any(|c| c.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

/// The path rules match against (`RequestInfo::path`), from the request's escaped path as
/// Traefik v3 builds it (`withRoutingPath` in `pkg/muxer/http/mux.go`): percent-encoded
/// characters are decoded, except the reserved ones of RFC 3986 and `%` itself, which stay
/// encoded (with upper-case hex) so that `/a%2Fb` is not `/a/b`. So `PathPrefix(`/foo bar`)`
/// matches `/foo%20bar`. Borrows when the path holds no `%`. `None` for a malformed escape
/// (Traefik answers 400). Decoded bytes that are not UTF-8 stay percent-encoded.
pub fn routing_path(escaped: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !escaped.contains('%') {
        return Some(std::borrow::Cow::Borrowed(escaped));
    }
    const RESERVED: &[u8] = b":/?#[]@!$&'()*+,;=%";
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = escaped.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let h = hex(*b.get(i + 1)?)?;
        let l = hex(*b.get(i + 2)?)?;
        let c = (h << 4) | l;
        if RESERVED.contains(&c) {
            out.extend_from_slice(format!("%{c:02X}").as_bytes());
        } else {
            out.push(c);
        }
        i += 3;
    }
    let s = match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            let mut s = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                s.push_str(chunk.valid());
                for byte in chunk.invalid() {
                    s.push_str(&format!("%{byte:02X}"));
                }
            }
            s
        }
    };
    Some(std::borrow::Cow::Owned(s))
}

/// Parses a rule.
pub fn parse(src: &str, syntax: RuleSyntax) -> Result<Rule, RuleError> {
    let expr = parser::parse_expr(src, syntax)?;
    Ok(Rule {
        expr,
        syntax,
        source_len: src.len(),
    })
}
