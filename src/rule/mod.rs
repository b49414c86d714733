//! The rule language of Traefik v3 (and v2 syntax for migration): parsed once at compile time
//! into a matcher tree that the proxy evaluates per request without allocating.
//!
//! Contract used by compile and proxy (keep these signatures):
//! - `parse(src, syntax) -> Result<Rule, RuleError>`; `RuleError` carries a 1-based column.
//! - `Rule::matches(&RequestInfo) -> bool`; `Rule::host_keys() -> HostKeys` for the route table.
//! - `Display for Rule` prints a rule that parses back to the same `Rule`.

use std::net::IpAddr;

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
    Hosts { exact: Vec<String>, suffixes: Vec<String> },
}

/// A parsed rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    source: String,
}

impl Rule {
    pub fn matches(&self, _req: &RequestInfo<'_>) -> bool {
        false
    }
    pub fn host_keys(&self) -> HostKeys {
        HostKeys::Any
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

/// Parses a rule.
pub fn parse(src: &str, _syntax: RuleSyntax) -> Result<Rule, RuleError> {
    Ok(Rule { source: src.to_string() })
}
