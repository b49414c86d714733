//! Compiled rule leaves and the expression tree the proxy evaluates per request: v3 matchers are
//! built here from parsed calls (with the v3 argument checks and v2→v3 hints); everything a leaf
//! needs per request (lower-cased hosts, header names, parsed CIDRs, regexes) is prepared here.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use http::header::HeaderName;
use ipnet::IpNet;

use super::parser::{Arg, Call};
use super::regex::{find_placeholder, host_bound, HostBound, Re};
use super::v2::{self, Template};
use super::{RequestInfo, RuleError};

/// The expression tree. `And`/`Or` hold two or more operands and are kept flat.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Leaf(Matcher),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Printing precedence: a child is parenthesized when it binds looser than its context.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Prec {
    Or,
    And,
    Not,
}

/// Host keys under construction (see `Rule::host_keys`).
#[derive(Default)]
pub(crate) struct Keys {
    pub exact: Vec<String>,
    pub suffixes: Vec<String>,
}

impl Keys {
    fn len(&self) -> usize {
        self.exact.len() + self.suffixes.len()
    }
}

impl Expr {
    #[inline]
    pub fn eval(&self, req: &RequestInfo<'_>) -> bool {
        match self {
            Expr::Leaf(m) => m.matches(req),
            Expr::Not(e) => !e.eval(req),
            Expr::And(items) => items.iter().all(|e| e.eval(req)),
            Expr::Or(items) => items.iter().any(|e| e.eval(req)),
        }
    }

    /// `None` = may match any host. An `And` needs only one operand that bounds the host (the
    /// smallest set is kept); an `Or` is bounded only when every operand is; `!` never is.
    pub fn host_keys(&self) -> Option<Keys> {
        match self {
            Expr::Leaf(m) => m.host_keys(),
            Expr::Not(_) => None,
            Expr::And(items) => items
                .iter()
                .filter_map(Expr::host_keys)
                .min_by_key(Keys::len),
            Expr::Or(items) => {
                let mut all = Keys::default();
                for item in items {
                    let k = item.host_keys()?;
                    all.exact.extend(k.exact);
                    all.suffixes.extend(k.suffixes);
                }
                Some(all)
            }
        }
    }

    /// Literal path prefixes that bound the rule: `Some(keys)` when the rule can only match a
    /// routing path that starts with one of `keys`; `None` = any path. Same shape as
    /// `host_keys`: an `And` takes its smallest bounded operand, an `Or` is bounded only when
    /// every operand is, `!` never is.
    pub fn path_keys(&self) -> Option<Vec<String>> {
        match self {
            Expr::Leaf(Matcher::Path(p) | Matcher::PathPrefix(p)) => Some(vec![p.clone()]),
            Expr::Leaf(_) | Expr::Not(_) => None,
            Expr::And(items) => items
                .iter()
                .filter_map(Expr::path_keys)
                .min_by_key(Vec::len),
            Expr::Or(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(item.path_keys()?);
                }
                Some(all)
            }
        }
    }

    pub fn domains(&self, negated: bool, out: &mut Vec<String>) {
        match self {
            Expr::Leaf(m) if !negated => {
                let hosts: &[String] = match m {
                    Matcher::Host(h) => std::slice::from_ref(h),
                    Matcher::HostV2(hs) => hs,
                    _ => &[],
                };
                for h in hosts {
                    if !out.contains(h) {
                        out.push(h.clone());
                    }
                }
            }
            Expr::Leaf(_) => {}
            Expr::Not(e) => e.domains(!negated, out),
            Expr::And(items) | Expr::Or(items) => {
                items.iter().for_each(|e| e.domains(negated, out))
            }
        }
    }

    pub fn fmt_prec(&self, f: &mut fmt::Formatter<'_>, ctx: Prec) -> fmt::Result {
        let (own, items, op) = match self {
            Expr::Leaf(m) => return fmt::Display::fmt(m, f),
            Expr::Not(e) => {
                f.write_char('!')?;
                return e.fmt_prec(f, Prec::Not);
            }
            Expr::And(items) => (Prec::And, items, " && "),
            Expr::Or(items) => (Prec::Or, items, " || "),
        };
        let paren = own < ctx;
        if paren {
            f.write_char('(')?;
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(op)?;
            }
            // A nested operand of the same kind only exists if built by hand; parenthesize it
            // so the printed text keeps the tree's shape.
            item.fmt_prec(
                f,
                if own == Prec::Or {
                    Prec::And
                } else {
                    Prec::Not
                },
            )?;
        }
        if paren {
            f.write_char(')')?;
        }
        Ok(())
    }
}

/// One compiled matcher. v3 leaves first, then the v2-syntax leaves (see `v2.rs`).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Matcher {
    /// Normalized: lower-case, no trailing dot, IPv6 without brackets.
    Host(String),
    HostRegexp(Re),
    Path(String),
    PathPrefix(String),
    PathRegexp(Re),
    /// Upper-cased at parse time; the request's method is compared as sent (Traefik).
    Method(http::Method),
    Header(HeaderName, String),
    HeaderRegexp(HeaderName, Re),
    /// Key and value, compared with the percent-decoded query parameters.
    Query(String, String),
    QueryRegexp(String, Re),
    ClientIp(IpNet),
    HostV2(Vec<String>),
    HostRegexpV2(Vec<Template>),
    PathV2(Vec<Template>),
    PathPrefixV2(Vec<Template>),
    MethodV2(Vec<http::Method>),
    HeadersV2(Vec<(HeaderName, String)>),
    HeadersRegexpV2(Vec<(HeaderName, Re)>),
    QueryV2(Vec<v2::QueryTemplate>),
    ClientIpV2(Vec<IpNet>),
}

impl Matcher {
    #[inline]
    pub fn matches(&self, req: &RequestInfo<'_>) -> bool {
        match self {
            Matcher::Host(h) => host_eq(req.host, h),
            Matcher::HostRegexp(re) => re.is_match(req.host.as_bytes()),
            Matcher::Path(p) => req.path == p,
            Matcher::PathPrefix(p) => req.path.starts_with(p.as_str()),
            Matcher::PathRegexp(re) => re.is_match(req.path.as_bytes()),
            Matcher::Method(m) => req.method == m,
            Matcher::Header(name, value) => req
                .headers
                .get_all(name)
                .iter()
                .any(|v| v.as_bytes() == value.as_bytes()),
            Matcher::HeaderRegexp(name, re) => req
                .headers
                .get_all(name)
                .iter()
                .any(|v| re.is_match(v.as_bytes())),
            Matcher::Query(key, value) => req.query.is_some_and(|q| query_has(q, key, value)),
            Matcher::QueryRegexp(key, re) => req.query.is_some_and(|q| query_matches(q, key, re)),
            Matcher::ClientIp(net) => net.contains(&canonical_ip(req.client_ip)),
            Matcher::HostV2(hosts) => hosts.iter().any(|h| host_eq(req.host, h)),
            Matcher::HostRegexpV2(ts) => ts.iter().any(|t| t.matches(req.host)),
            Matcher::PathV2(ts) | Matcher::PathPrefixV2(ts) => {
                ts.iter().any(|t| t.matches(req.path))
            }
            Matcher::MethodV2(ms) => ms.iter().any(|m| req.method == m),
            Matcher::HeadersV2(pairs) => pairs.iter().all(|(name, value)| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| v.as_bytes() == value.as_bytes())
            }),
            Matcher::HeadersRegexpV2(pairs) => pairs.iter().all(|(name, re)| {
                req.headers
                    .get_all(name)
                    .iter()
                    .any(|v| re.is_match(v.as_bytes()))
            }),
            Matcher::QueryV2(ts) => ts.iter().all(|t| t.matches(req.query.unwrap_or(""))),
            Matcher::ClientIpV2(nets) => {
                let ip = canonical_ip(req.client_ip);
                nets.iter().any(|n| n.contains(&ip))
            }
        }
    }

    fn host_keys(&self) -> Option<Keys> {
        match self {
            Matcher::Host(h) => Some(Keys {
                exact: vec![h.clone()],
                suffixes: vec![],
            }),
            Matcher::HostV2(hs) => Some(Keys {
                exact: hs.clone(),
                suffixes: vec![],
            }),
            Matcher::HostRegexp(re) => Some(bound_keys(host_bound(&re.src)?)),
            Matcher::HostRegexpV2(ts) => {
                let mut keys = Keys::default();
                for t in ts {
                    match t.host_bound()? {
                        HostBound::Exact(h) => keys.exact.push(h),
                        HostBound::Suffix(s) => keys.suffixes.push(s),
                    }
                }
                Some(keys)
            }
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Matcher::Host(_) | Matcher::HostV2(_) => "Host",
            Matcher::HostRegexp(_) | Matcher::HostRegexpV2(_) => "HostRegexp",
            Matcher::Path(_) | Matcher::PathV2(_) => "Path",
            Matcher::PathPrefix(_) | Matcher::PathPrefixV2(_) => "PathPrefix",
            Matcher::PathRegexp(_) => "PathRegexp",
            Matcher::Method(_) | Matcher::MethodV2(_) => "Method",
            Matcher::Header(..) => "Header",
            Matcher::HeaderRegexp(..) => "HeaderRegexp",
            Matcher::Query(..) | Matcher::QueryV2(_) => "Query",
            Matcher::QueryRegexp(..) => "QueryRegexp",
            Matcher::ClientIp(_) | Matcher::ClientIpV2(_) => "ClientIP",
            Matcher::HeadersV2(_) => "Headers",
            Matcher::HeadersRegexpV2(_) => "HeadersRegexp",
        }
    }

    fn args(&self) -> Vec<String> {
        match self {
            Matcher::Host(s) | Matcher::Path(s) | Matcher::PathPrefix(s) => vec![s.clone()],
            Matcher::HostRegexp(re) | Matcher::PathRegexp(re) => vec![re.src.clone()],
            Matcher::Method(m) => vec![m.as_str().to_string()],
            Matcher::Header(n, v) => vec![n.as_str().to_string(), v.clone()],
            Matcher::HeaderRegexp(n, re) => vec![n.as_str().to_string(), re.src.clone()],
            Matcher::Query(k, v) if v.is_empty() => vec![k.clone()],
            Matcher::Query(k, v) => vec![k.clone(), v.clone()],
            Matcher::QueryRegexp(k, re) => vec![k.clone(), re.src.clone()],
            Matcher::ClientIp(net) => vec![fmt_net(net)],
            Matcher::HostV2(hs) => hs.clone(),
            Matcher::HostRegexpV2(ts) | Matcher::PathV2(ts) | Matcher::PathPrefixV2(ts) => {
                ts.iter().map(|t| t.src.clone()).collect()
            }
            Matcher::MethodV2(ms) => ms.iter().map(|m| m.as_str().to_string()).collect(),
            Matcher::HeadersV2(pairs) => pairs
                .iter()
                .flat_map(|(n, v)| [n.as_str().to_string(), v.clone()])
                .collect(),
            Matcher::HeadersRegexpV2(pairs) => pairs
                .iter()
                .flat_map(|(n, re)| [n.as_str().to_string(), re.src.clone()])
                .collect(),
            Matcher::QueryV2(ts) => ts.iter().map(|t| t.src.clone()).collect(),
            Matcher::ClientIpV2(nets) => nets.iter().map(fmt_net).collect(),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        f.write_char('(')?;
        for (i, a) in self.args().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write_quoted(f, a)?;
        }
        f.write_char(')')
    }
}

/// Writes a string as a rule literal: backticks when possible, else a Go interpreted string.
pub(crate) fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    // Go drops carriage returns from raw strings, so those need the escaped form too.
    if !s.contains('`') && !s.contains('\r') {
        f.write_char('`')?;
        f.write_str(s)?;
        return f.write_char('`');
    }
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Quotes a value for a hint in an error message.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::new();
    let _ = write_quoted(&mut out, s);
    out
}

fn bound_keys(b: HostBound) -> Keys {
    match b {
        HostBound::Exact(h) => Keys {
            exact: vec![h],
            suffixes: vec![],
        },
        HostBound::Suffix(s) => Keys {
            exact: vec![],
            suffixes: vec![s],
        },
    }
}

/// The request host is normalized by the proxy; tolerate a trailing dot or upper case anyway
/// (no allocation either way).
#[inline]
fn host_eq(req_host: &str, rule_host: &str) -> bool {
    let h = req_host.strip_suffix('.').unwrap_or(req_host);
    h.eq_ignore_ascii_case(rule_host)
}

/// IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`, seen on dual-stack listeners) match IPv4 rules,
/// as Go's `net.IP` comparisons do.
#[inline]
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn fmt_net(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Query parameters: Go's `url.ParseQuery` semantics without building a map. Traefik serves
// through `http.AllowQuerySemicolons`, so `;` separates pairs like `&` (checked against Traefik
// 3.7: `Query(`k`, `v`)` matches `?k=v;x=1`); key and value are decoded with `+` as a space, and
// a pair with a bad `%` escape is dropped.

/// Iterates `(raw_key, raw_value)` of the pairs Go would keep (before decoding).
fn go_pairs(q: &str) -> impl Iterator<Item = (&str, &str)> {
    q.split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether `raw` is a valid query-escaped string that decodes exactly to `want`, without
/// allocating.
pub(crate) fn decodes_to(raw: &str, want: &str) -> bool {
    let raw = raw.as_bytes();
    let want = want.as_bytes();
    let (mut i, mut j) = (0, 0);
    let mut equal = true;
    while i < raw.len() {
        let c = match raw[i] {
            b'%' => {
                let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) else {
                    return false;
                };
                i += 3;
                (h << 4) | l
            }
            b'+' => {
                i += 1;
                b' '
            }
            c => {
                i += 1;
                c
            }
        };
        if equal {
            if want.get(j) == Some(&c) {
                j += 1;
            } else {
                // Keep scanning: a bad escape later still drops the pair, as in Go.
                equal = false;
            }
        }
    }
    equal && j == want.len()
}

/// Decodes a query component; borrows when there is nothing to decode. `None` on a bad escape.
pub(crate) fn decode(raw: &str) -> Option<std::borrow::Cow<'_, [u8]>> {
    if !raw.bytes().any(|c| c == b'%' || c == b'+') {
        return Some(std::borrow::Cow::Borrowed(raw.as_bytes()));
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = b.get(i + 1).copied().and_then(hex)?;
                let l = b.get(i + 2).copied().and_then(hex)?;
                out.push((h << 4) | l);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

fn query_has(q: &str, key: &str, value: &str) -> bool {
    go_pairs(q).any(|(k, v)| decodes_to(k, key) && decodes_to(v, value))
}

fn query_matches(q: &str, key: &str, re: &Re) -> bool {
    go_pairs(q).any(|(k, v)| decodes_to(k, key) && decode(v).is_some_and(|d| re.is_match(&d)))
}

// ---------------------------------------------------------------------------------------------
// v3 builders.

/// Builds a v3 leaf, with Traefik's checks (`rules.CheckRule`, `expectNParameters`) and, for
/// forms that only v2 accepts, an error showing how to write them in v3.
pub(crate) fn build_v3(call: &Call<'_>) -> Result<Matcher, RuleError> {
    let name = call.name;
    let args = &call.args;
    check_non_empty(call)?;
    let many_hint = |n: usize, join: &str| -> String {
        // Host(`a`, `b`) → Host(`a`) || Host(`b`)
        let parts: Vec<String> = args
            .chunks(n)
            .map(|c| {
                format!(
                    "{name}({})",
                    c.iter()
                        .map(|a| quoted(&a.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        parts.join(join)
    };
    match name {
        "Host" | "HostRegexp" | "Path" | "PathPrefix" | "PathRegexp" | "Method" | "ClientIP"
            if args.len() != 1 =>
        {
            if args.len() > 1 && name != "PathRegexp" {
                let display_hint = if matches!(name, "HostRegexp" | "Path" | "PathPrefix") {
                    args.iter()
                        .map(|a| v3_pattern_form(name, &a.value))
                        .collect::<Vec<_>>()
                        .join(" || ")
                } else {
                    many_hint(1, " || ")
                };
                return Err(call.err_name(format!(
                    "{name} takes one argument in v3 syntax; write {display_hint}"
                )));
            }
            return Err(call.err_name(format!("{name} takes 1 argument, got {}", args.len())));
        }
        "Header" | "HeaderRegexp" if args.len() != 2 => {
            if args.len() > 2 && args.len() & 1 == 0 {
                return Err(call.err_name(format!(
                    "{name} takes one name and one value in v3 syntax; write {}",
                    many_hint(2, " && ")
                )));
            }
            return Err(call.err_name(format!(
                "{name} takes 2 arguments (name, value), got {}",
                args.len()
            )));
        }
        "Query" | "QueryRegexp" => {
            if let Some(hint) = v2_query_hint(name, args) {
                return Err(call.err(
                    args[0].pos,
                    format!("{name} takes the key and the value apart in v3 syntax; write {hint}"),
                ));
            }
            if args.len() > 2 {
                return Err(call.err_name(format!(
                    "{name} takes 1 or 2 arguments (key[, value]), got {}",
                    args.len()
                )));
            }
        }
        _ => {}
    }
    let a0 = &args[0];
    Ok(match name {
        "Host" => Matcher::Host(normalize_host(call, a0)?),
        "HostRegexp" => {
            ascii_only(call, a0)?;
            no_placeholder(call, a0)?;
            Matcher::HostRegexp(regex(call, a0)?)
        }
        "Path" | "PathPrefix" => {
            if !a0.value.starts_with('/') {
                return Err(call.err(
                    a0.pos,
                    format!("path {} does not start with a `/`", quoted(&a0.value)),
                ));
            }
            no_placeholder(call, a0)?;
            if name == "Path" {
                Matcher::Path(a0.value.clone())
            } else {
                Matcher::PathPrefix(a0.value.clone())
            }
        }
        "PathRegexp" => Matcher::PathRegexp(regex(call, a0)?),
        "Method" => Matcher::Method(method(call, a0)?),
        "Header" => Matcher::Header(header_name(call, a0)?, args[1].value.clone()),
        "HeaderRegexp" => Matcher::HeaderRegexp(header_name(call, a0)?, regex(call, &args[1])?),
        "Query" => Matcher::Query(
            a0.value.clone(),
            args.get(1).map(|a| a.value.clone()).unwrap_or_default(),
        ),
        "QueryRegexp" => match args.get(1) {
            // Traefik: QueryRegexp with only a key is Query with only a key.
            None => Matcher::Query(a0.value.clone(), String::new()),
            Some(v) => Matcher::QueryRegexp(a0.value.clone(), regex(call, v)?),
        },
        "ClientIP" => Matcher::ClientIp(ip_net(call, a0)?),
        other => return Err(call.err_name(format!("unknown matcher `{other}`"))),
    })
}

/// `rules.CheckRule`: at least one argument, none empty.
pub(crate) fn check_non_empty(call: &Call<'_>) -> Result<(), RuleError> {
    if call.args.is_empty() {
        let example = match call.name {
            "Host" => "Host(`example.com`)",
            "HostRegexp" => "HostRegexp(`^.+\\.example\\.com$`)",
            "Path" | "PathPrefix" => "PathPrefix(`/api`)",
            "Method" => "Method(`GET`)",
            "Header" | "Headers" => "Header(`X-Name`, `value`)",
            "Query" => "Query(`key`, `value`)",
            "ClientIP" => "ClientIP(`10.0.0.0/8`)",
            _ => "",
        };
        let mut msg = format!("{} needs an argument", call.name);
        if !example.is_empty() {
            msg.push_str(&format!(", e.g. {example}"));
        }
        return Err(call.err_name(msg));
    }
    if let Some(a) = call.args.iter().find(|a| a.value.is_empty()) {
        return Err(call.err(a.pos, format!("empty argument for {}", call.name)));
    }
    Ok(())
}

/// A v2 `Query(`k=v`)` written under v3 syntax: the v3 form.
fn v2_query_hint(name: &str, args: &[Arg]) -> Option<String> {
    if name != "Query" || !args.iter().all(|a| a.value.contains('=')) {
        return None;
    }
    let parts: Vec<String> = args
        .iter()
        .map(|a| {
            let (k, v) = a.value.split_once('=').unwrap_or((&a.value, ""));
            match (v.is_empty(), find_placeholder(v)) {
                (true, _) => format!("QueryRegexp({}, {})", quoted(k), quoted("^.*$")),
                (false, Some(_)) => format!(
                    "QueryRegexp({}, {})",
                    quoted(k),
                    quoted(&v2::template_regex(v, ".*", true, false))
                ),
                (false, None) => format!("Query({}, {})", quoted(k), quoted(v)),
            }
        })
        .collect();
    Some(parts.join(" && "))
}

/// How a v2 Host/HostRegexp/Path/PathPrefix value is written in v3.
fn v3_pattern_form(name: &str, value: &str) -> String {
    match name {
        "HostRegexp" => {
            let re = if find_placeholder(value).is_some() {
                v2::template_regex(&value.to_ascii_lowercase(), "[^.]+", true, false)
            } else {
                value.to_string()
            };
            format!("HostRegexp({})", quoted(&re))
        }
        "Path" | "PathPrefix" if find_placeholder(value).is_some() => {
            let re = v2::template_regex(value, "[^/]+", name == "Path", false);
            format!("PathRegexp({})", quoted(&re))
        }
        _ => format!("{name}({})", quoted(value)),
    }
}

fn no_placeholder(call: &Call<'_>, a: &Arg) -> Result<(), RuleError> {
    if find_placeholder(&a.value).is_none() {
        return Ok(());
    }
    Err(call.err(
        a.pos,
        format!(
            "v3 uses plain regexes, not {{name:regex}} placeholders: write {}",
            v3_pattern_form(call.name, &a.value)
        ),
    ))
}

fn ascii_only(call: &Call<'_>, a: &Arg) -> Result<(), RuleError> {
    if a.value.is_ascii() {
        return Ok(());
    }
    Err(call.err(
        a.pos,
        format!(
            "{} does not accept non-ASCII characters; use the punycode form (xn--...)",
            call.name
        ),
    ))
}

/// Lower-cases the rule's host and removes a trailing dot and IPv6 brackets, so matching is a
/// plain comparison with the proxy's normalized host.
pub(crate) fn normalize_host(call: &Call<'_>, a: &Arg) -> Result<String, RuleError> {
    ascii_only(call, a)?;
    let mut h = a.value.to_ascii_lowercase();
    if let Some(inner) = h.strip_prefix('[') {
        match inner.split_once(']') {
            Some((ip, "")) => h = ip.to_string(),
            Some((_, _)) => {
                return Err(call.err(a.pos, format!(
                    "{} takes a host name without port (ports are ignored when matching); write Host({})",
                    call.name,
                    quoted(&h[..h.find(']').map_or(h.len(), |i| i + 1)])
                )))
            }
            None => return Err(call.err(a.pos, "unclosed `[` in IPv6 host")),
        }
    } else if h.matches(':').count() == 1 {
        let name = h.split(':').next().unwrap_or_default().to_string();
        return Err(call.err(
            a.pos,
            format!(
                "{} takes a host name without port (ports are ignored when matching); write Host({})",
                call.name,
                quoted(&name)
            ),
        ));
    }
    if h.len() > 1 {
        if let Some(stripped) = h.strip_suffix('.') {
            h = stripped.to_string();
        }
    }
    Ok(h)
}

pub(crate) fn regex(call: &Call<'_>, a: &Arg) -> Result<Re, RuleError> {
    Re::go(&a.value).map_err(|e| {
        call.err(
            a.pos,
            format!("invalid regex {} in {}: {e}", quoted(&a.value), call.name),
        )
    })
}

pub(crate) fn method(call: &Call<'_>, a: &Arg) -> Result<http::Method, RuleError> {
    http::Method::from_bytes(a.value.to_ascii_uppercase().as_bytes())
        .map_err(|_| call.err(a.pos, format!("invalid HTTP method {}", quoted(&a.value))))
}

pub(crate) fn header_name(call: &Call<'_>, a: &Arg) -> Result<HeaderName, RuleError> {
    HeaderName::from_bytes(a.value.as_bytes())
        .map_err(|_| call.err(a.pos, format!("invalid header name {}", quoted(&a.value))))
}

/// An address (`10.0.0.1`, `::1`) or a CIDR (`10.0.0.0/8`, `fe80::/10`), as Traefik's
/// `ip.NewChecker` accepts. Host bits in a CIDR are cleared (Go's `ParseCIDR` does the same).
pub(crate) fn ip_net(call: &Call<'_>, a: &Arg) -> Result<IpNet, RuleError> {
    let s = a.value.as_str();
    let net = if s.contains('/') {
        s.parse::<IpNet>()
            .map_err(|_| call.err(a.pos, format!("invalid CIDR {} in ClientIP", quoted(s))))?
    } else {
        let ip: IpAddr = s.parse().map_err(|_| {
            call.err(
                a.pos,
                format!("invalid IP address {} in ClientIP", quoted(s)),
            )
        })?;
        IpNet::from(ip)
    };
    // `::ffff:10.0.0.0/104` is the IPv4 network 10.0.0.0/8 (client IPs are canonicalized too).
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    };
    Ok(net.trunc())
}
