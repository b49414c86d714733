//! Tests of the rule language: every rule example of Traefik v3's routing documentation, matching
//! details, error columns and messages, v2 syntax, host keys, and print/parse round trips.

use std::net::IpAddr;

use http::{HeaderMap, HeaderValue, Method};
use proptest::prelude::*;

use super::regex::{go_to_rust, host_bound, HostBound};
use super::*;

/// A request as the proxy would describe it.
struct Req {
    method: Method,
    host: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    ip: IpAddr,
}

/// `https://Host:port/path?query` → a request, with the host normalized like the proxy does.
fn req(url: &str) -> Req {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (tail, None),
    };
    Req {
        method: Method::GET,
        host: normalize_request_host(authority).into_owned(),
        path: if path.is_empty() {
            "/".to_string()
        } else {
            path.to_string()
        },
        query,
        headers: HeaderMap::new(),
        ip: "192.0.2.1".parse().unwrap(),
    }
}

impl Req {
    fn method(mut self, m: &str) -> Req {
        self.method = Method::from_bytes(m.as_bytes()).unwrap();
        self
    }
    fn header(mut self, k: &str, v: &str) -> Req {
        self.headers.append(
            http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
        self
    }
    fn ip(mut self, ip: &str) -> Req {
        self.ip = ip.parse().unwrap();
        self
    }
    fn info(&self) -> RequestInfo<'_> {
        RequestInfo {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            client_ip: self.ip,
        }
    }
}

fn v3(rule: &str) -> Rule {
    parse(rule, RuleSyntax::V3).unwrap_or_else(|e| panic!("{rule}: {e}"))
}

fn v2(rule: &str) -> Rule {
    parse(rule, RuleSyntax::V2).unwrap_or_else(|e| panic!("{rule}: {e}"))
}

fn check(rule: &Rule, cases: &[(Req, bool)], text: &str) {
    for (r, want) in cases {
        assert_eq!(
            rule.matches(&r.info()),
            *want,
            "rule {text} on {} {}{}?{:?} from {} headers {:?}",
            r.method,
            r.host,
            r.path,
            r.query,
            r.ip,
            r.headers
        );
    }
}

/// Every rule example of Traefik v3's routing reference (`rules-and-priority.md`), with the
/// behaviour its table describes.
#[test]
fn traefik_v3_documentation_examples() {
    let table: Vec<(&str, Vec<(Req, bool)>)> = vec![
        (
            "Header(`Content-Type`, `application/yaml`)",
            vec![
                (
                    req("http://a/").header("content-type", "application/yaml"),
                    true,
                ),
                (
                    req("http://a/").header("content-type", "application/json"),
                    false,
                ),
                (req("http://a/"), false),
            ],
        ),
        (
            "HeaderRegexp(`Content-Type`, `^application/(json|yaml)$`)",
            vec![
                (
                    req("http://a/").header("content-type", "application/json"),
                    true,
                ),
                (
                    req("http://a/").header("content-type", "application/yaml"),
                    true,
                ),
                (
                    req("http://a/").header("content-type", "application/YAML"),
                    false,
                ),
                (req("http://a/").header("content-type", "text/html"), false),
            ],
        ),
        (
            "HeaderRegexp(`Content-Type`, `(?i)^application/(json|yaml)$`)",
            vec![
                (
                    req("http://a/").header("content-type", "APPLICATION/Json"),
                    true,
                ),
                (req("http://a/").header("content-type", "text/yaml"), false),
            ],
        ),
        (
            "Host(`example.com`)",
            vec![
                (req("https://example.com"), true),
                (req("https://example.com:8080"), true),
                (req("https://EXAMPLE.COM/path"), true),
                (req("https://example.com./path"), true),
                (req("https://example.org"), false),
                (req("https://www.example.com"), false),
            ],
        ),
        (
            r"HostRegexp(`^.+\.example\.com$`)",
            vec![
                (req("https://www.example.com"), true),
                (req("https://a.b.example.com:443"), true),
                (req("https://example.com"), false),
                (req("https://www.example.org"), false),
            ],
        ),
        (
            r"HostRegexp(`^example\.(com|org)$`)",
            vec![
                (req("https://example.com"), true),
                (req("https://example.org"), true),
                (req("https://example.net"), false),
                (req("https://www.example.com"), false),
            ],
        ),
        (
            r"HostRegexp(`(?i)^example\.(com|org)$`)",
            vec![
                (req("https://EXAMPLE.org"), true),
                (req("https://example.net"), false),
            ],
        ),
        (
            "Method(`OPTIONS`)",
            vec![
                (req("http://a/").method("OPTIONS"), true),
                (req("http://a/"), false),
            ],
        ),
        (
            "Path(`/products`)",
            vec![
                (req("http://a/products"), true),
                (req("http://a/products/shoes"), false),
                (req("http://a/products/"), false),
            ],
        ),
        (
            "PathPrefix(`/products`)",
            vec![
                (req("http://a/products"), true),
                (req("http://a/products/shoes"), true),
                (req("http://a/products/"), true),
                (req("http://a/products-for-sale"), true),
                (req("http://a/product"), false),
            ],
        ),
        (
            "PathRegexp(`^/products/(shoes|socks)/[0-9]+$`)",
            vec![
                (req("http://a/products/shoes/31"), true),
                (req("http://a/products/socks/7"), true),
                (req("http://a/products/hats/7"), false),
                (req("http://a/products/shoes/x"), false),
            ],
        ),
        (
            r"PathRegexp(`\.(jpeg|jpg|png)$`)",
            vec![
                (req("http://a/img/cat.jpg"), true),
                (req("http://a/x.png"), true),
                (req("http://a/x.gif"), false),
            ],
        ),
        (
            "PathRegexp(`(?i)^/products`)",
            vec![
                (req("http://a/PRODUCTS/shoes"), true),
                (req("http://a/Products-for-sale"), true),
                (req("http://a/shop/products"), false),
            ],
        ),
        (
            "Query(`mobile`, `true`)",
            vec![
                (req("http://a/search?mobile=true"), true),
                (req("http://a/search?x=1&mobile=true"), true),
                (req("http://a/search?mobile=false"), false),
                (req("http://a/search"), false),
            ],
        ),
        (
            "Query(`mobile`)",
            vec![
                (req("http://a/search?mobile"), true),
                (req("http://a/search?mobile="), true),
                (req("http://a/search?mobile=true"), false),
                (req("http://a/search"), false),
            ],
        ),
        (
            "QueryRegexp(`mobile`, `^(true|yes)$`)",
            vec![
                (req("http://a/?mobile=true"), true),
                (req("http://a/?mobile=yes"), true),
                (req("http://a/?mobile=YES"), false),
                (req("http://a/?mobile=no"), false),
            ],
        ),
        (
            "QueryRegexp(`mobile`, `^.*$`)",
            vec![
                (req("http://a/?mobile"), true),
                (req("http://a/?mobile=anything"), true),
                (req("http://a/?other=1"), false),
                (req("http://a/"), false),
            ],
        ),
        (
            "QueryRegexp(`mobile`, `(?i)^(true|yes)$`)",
            vec![
                (req("http://a/?mobile=YES"), true),
                (req("http://a/?mobile=no"), false),
            ],
        ),
        (
            "ClientIP(`10.76.105.11`)",
            vec![
                (req("http://a/").ip("10.76.105.11"), true),
                (req("http://a/").ip("10.76.105.12"), false),
            ],
        ),
        (
            "ClientIP(`::1`)",
            vec![
                (req("http://a/").ip("::1"), true),
                (req("http://a/").ip("127.0.0.1"), false),
            ],
        ),
        (
            "ClientIP(`192.168.1.0/24`)",
            vec![
                (req("http://a/").ip("192.168.1.1"), true),
                (req("http://a/").ip("192.168.1.100"), true),
                (req("http://a/").ip("192.168.2.1"), false),
                (req("http://a/").ip("::ffff:192.168.1.9"), true),
            ],
        ),
        (
            "ClientIP(`fe80::/10`)",
            vec![
                (req("http://a/").ip("fe80::1"), true),
                (req("http://a/").ip("febf::1"), true),
                (req("http://a/").ip("fec0::1"), false),
                (req("http://a/").ip("10.0.0.1"), false),
            ],
        ),
        (
            r"HostRegexp(`[a-z]+\.traefik\.com`)",
            vec![
                (req("http://foobar.traefik.com"), true),
                // Not anchored in v3: a longer name containing the pattern matches too.
                (req("http://x.foobar.traefik.com.evil"), true),
                (req("http://traefik.com"), false),
            ],
        ),
        (
            "Host(`foobar.traefik.com`)",
            vec![(req("http://foobar.traefik.com"), true)],
        ),
        (
            "Host(`traefik.io`) || (Host(`containo.us`) && Path(`/traefik`))",
            vec![
                (req("http://traefik.io/x"), true),
                (req("http://containo.us/traefik"), true),
                (req("http://containo.us/x"), false),
            ],
        ),
    ];
    for (text, cases) in &table {
        let rule = v3(text);
        check(&rule, cases, text);
        // Each example prints to a rule that parses back equal.
        assert_eq!(v3(&rule.to_string()), rule, "{text} printed as {rule}");
    }
}

/// The priority example of the docs: default priority is the rule's length.
#[test]
fn rule_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Rule>();
    assert_send_sync::<RuleError>();
}

#[test]
fn default_priority_is_rule_length() {
    assert_eq!(v3(r"HostRegexp(`[a-z]+\.traefik\.com`)").source_len(), 34);
    assert_eq!(v3("Host(`foobar.traefik.com`)").source_len(), 26);
    assert_eq!(v3("Host(`foobar.traefik.com`)").default_priority(), 26);
    // Bytes, as Go's len().
    assert_eq!(v3("Path(`/é`)").source_len(), 11);
}

#[test]
fn host_normalization() {
    let cases = [
        ("Host(`Example.COM`)", "http://example.com", true),
        ("Host(`example.com.`)", "http://example.com", true),
        ("Host(`example.com.`)", "http://example.com.", true),
        ("Host(`example.com`)", "http://EXAMPLE.com.:8443", true),
        ("Host(`[::1]`)", "http://[::1]:8080/", true),
        ("Host(`[::1]`)", "http://[::1]/", true),
        ("Host(`::1`)", "http://[::1]/", true),
        ("Host(`[2001:DB8::1]`)", "http://[2001:db8::1]/", true),
        ("Host(`[::1]`)", "http://[::2]/", false),
        ("Host(`127.0.0.1`)", "http://127.0.0.1:80/", true),
        ("Host(`xn--9t9h.com`)", "http://xn--9t9h.com/", true),
    ];
    for (rule, url, want) in cases {
        assert_eq!(v3(rule).matches(&req(url).info()), want, "{rule} on {url}");
    }
    assert_eq!(v3("Host(`[::1]`)").to_string(), "Host(`::1`)");
    assert_eq!(
        v3("Host(`A.example.COM.`)").to_string(),
        "Host(`a.example.com`)"
    );
    // Tolerates a host the proxy did not normalize.
    let mut r = req("http://x/");
    r.host = "Example.com.".into();
    assert!(v3("Host(`example.com`)").matches(&r.info()));
}

#[test]
fn normalize_request_host_forms() {
    assert_eq!(normalize_request_host("example.com"), "example.com");
    assert!(matches!(
        normalize_request_host("example.com"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(normalize_request_host("Example.COM:8080"), "example.com");
    assert_eq!(normalize_request_host("example.com."), "example.com");
    assert_eq!(normalize_request_host("[::1]:443"), "::1");
    assert_eq!(normalize_request_host("[::1]"), "::1");
    assert_eq!(normalize_request_host("::1"), "::1");
    assert_eq!(normalize_request_host(""), "");
}

/// Checked against Traefik 3.7: `Path(`/a b`)` matches `/a%20b`, `Path(`/~a`)` matches
/// `/%7Ea`, `Path(`/a%2Fb`)` matches `/a%2fb` and `Path(`/a/b`)` does not.
#[test]
fn routing_path_decodes_unreserved_only() {
    assert!(matches!(
        routing_path("/a/b"),
        Some(std::borrow::Cow::Borrowed("/a/b"))
    ));
    assert_eq!(routing_path("/a%20b").unwrap(), "/a b");
    assert_eq!(routing_path("/%7Ea").unwrap(), "/~a");
    assert_eq!(routing_path("/a%2fb").unwrap(), "/a%2Fb");
    assert_eq!(routing_path("/a%2Fb").unwrap(), "/a%2Fb");
    assert_eq!(routing_path("/100%25").unwrap(), "/100%25");
    assert_eq!(routing_path("/%C3%A9").unwrap(), "/é");
    assert_eq!(routing_path("/%FF").unwrap(), "/%FF");
    assert_eq!(routing_path("/a%2"), None);
    assert_eq!(routing_path("/a%zz"), None);
    let mut r = req("http://x/");
    r.path = routing_path("/a%20b").unwrap().into_owned();
    assert!(v3("Path(`/a b`)").matches(&r.info()));
    assert!(!v3("Path(`/a%20b`)").matches(&r.info()));
}

#[test]
fn methods() {
    let rule = v3("Method(`get`)");
    assert!(rule.matches(&req("http://a/").info()));
    assert!(!rule.matches(&req("http://a/").method("POST").info()));
    // The request's method is compared as sent (Traefik: `get` is not `GET`).
    assert!(!rule.matches(&req("http://a/").method("get").info()));
    assert_eq!(rule.to_string(), "Method(`GET`)");
    assert!(v3("Method(`PURGE`)").matches(&req("http://a/").method("PURGE").info()));
}

#[test]
fn headers() {
    let rule = v3("Header(`x-forwarded-proto`, `https`)");
    check(
        &rule,
        &[
            (req("http://a/").header("X-Forwarded-Proto", "https"), true),
            (
                req("http://a/")
                    .header("x-forwarded-proto", "http")
                    .header("x-forwarded-proto", "https"),
                true,
            ),
            (req("http://a/").header("x-forwarded-proto", "HTTPS"), false),
            // Values are compared whole, not split on commas.
            (
                req("http://a/").header("x-forwarded-proto", "http, https"),
                false,
            ),
            (req("http://a/").header("x-forwarded-host", "https"), false),
        ],
        "Header",
    );
    let rule = v3("HeaderRegexp(`X-Forwarded-Proto`, `^https?$`)");
    check(
        &rule,
        &[
            (req("http://a/").header("x-forwarded-proto", "http"), true),
            (
                req("http://a/")
                    .header("x-forwarded-proto", "ws")
                    .header("x-forwarded-proto", "https"),
                true,
            ),
            (req("http://a/").header("x-forwarded-proto", "HTTPS"), false),
        ],
        "HeaderRegexp",
    );
    assert_eq!(
        v3("Header(`X-Forwarded-Proto`, `https`)"),
        v3("header(`x-forwarded-proto`, \"https\")")
    );
}

#[test]
fn queries() {
    let rule = v3("Query(`q`, `traefik`)");
    check(
        &rule,
        &[
            (req("http://a/?q=traefik"), true),
            (req("http://a/?rel=ddg&q=traefik"), true),
            (req("http://a/?q=traefik&q=proxy"), true),
            (req("http://a/?q=awesome&q=traefik"), true),
            (req("http://a/?q=nginx"), false),
            (req("http://a/?q=TRAEFIK"), false),
            (req("http://a/?Q=traefik"), false),
            (req("http://a/?rel=traefik"), false),
            // Percent-decoding of keys and values, `+` as a space.
            (req("http://a/?%71=tr%61efik"), true),
            (req("http://a/?q=tra%2"), false),
            // `;` separates pairs (Traefik serves with AllowQuerySemicolons); pairs with bad
            // escapes are dropped.
            (req("http://a/?q=traefik;x=1"), true),
            (req("http://a/?x=1;q=traefik"), true),
            (req("http://a/?q=traefik&q=%zz"), true),
        ],
        "Query",
    );
    let rule = v3("Query(`name`, `John Doe`)");
    assert!(rule.matches(&req("http://a/?name=John+Doe").info()));
    assert!(rule.matches(&req("http://a/?name=John%20Doe").info()));
    let rule = v3("QueryRegexp(`q`, `^(traefik|nginx)$`)");
    check(
        &rule,
        &[
            (req("http://a/?q=nginx&q=proxy"), true),
            (req("http://a/?q=%6Eginx"), true),
            (req("http://a/?q=haproxy"), false),
            (req("http://a/?q=%zz"), false),
        ],
        "QueryRegexp",
    );
    // QueryRegexp with only a key is Query with only a key.
    assert_eq!(v3("QueryRegexp(`k`)"), v3("Query(`k`)"));
    // Keys and values are case-sensitive; `Query` with an empty value needs the key.
    assert!(!v3("Query(`k`)").matches(&req("http://a/?K").info()));
}

#[test]
fn client_ip() {
    let rule = v3("ClientIP(`2001:db8::/32`)");
    assert!(rule.matches(&req("http://a/").ip("2001:db8:1::5").info()));
    assert!(!rule.matches(&req("http://a/").ip("2001:db9::5").info()));
    // Only the remote address counts, never X-Forwarded-For.
    let rule = v3("ClientIP(`10.0.0.0/8`)");
    assert!(!rule.matches(
        &req("http://a/")
            .ip("192.0.2.7")
            .header("x-forwarded-for", "10.0.0.1")
            .info()
    ));
    assert!(rule.matches(&req("http://a/").ip("::ffff:10.1.2.3").info()));
    // Host bits of a CIDR are cleared, printing is canonical.
    assert_eq!(
        v3("ClientIP(`192.168.1.77/24`)").to_string(),
        "ClientIP(`192.168.1.0/24`)"
    );
    assert_eq!(
        v3("ClientIP(`10.0.0.1/32`)").to_string(),
        "ClientIP(`10.0.0.1`)"
    );
    assert_eq!(
        v3("ClientIP(`::ffff:10.0.0.0/104`)"),
        v3("ClientIP(`10.0.0.0/8`)")
    );
}

#[test]
fn operators_and_precedence() {
    // `&&` binds tighter than `||`.
    let rule = v3("Host(`a.com`) || Host(`b.com`) && Path(`/x`)");
    assert!(rule.matches(&req("http://a.com/anything").info()));
    assert!(rule.matches(&req("http://b.com/x").info()));
    assert!(!rule.matches(&req("http://b.com/y").info()));
    let rule = v3("(Host(`a.com`) || Host(`b.com`)) && Path(`/x`)");
    assert!(!rule.matches(&req("http://a.com/anything").info()));
    assert!(rule.matches(&req("http://a.com/x").info()));
    // `!` binds tightest.
    let rule = v3("!Path(`/x`) && Host(`a.com`)");
    assert!(rule.matches(&req("http://a.com/y").info()));
    assert!(!rule.matches(&req("http://a.com/x").info()));
    let rule = v3("!(Path(`/x`) || Path(`/y`))");
    assert!(rule.matches(&req("http://a.com/z").info()));
    assert!(!rule.matches(&req("http://a.com/y").info()));
    let rule = v3("!!Path(`/x`)");
    assert!(rule.matches(&req("http://a.com/x").info()));
    // Whitespace, newlines, comments and both quote styles.
    let rule = v3("  Host(\"a.com\")\n\t&&   PathPrefix( `/api` , ) /* api */ ");
    assert!(rule.matches(&req("http://a.com/api/v1").info()));
    assert_eq!(rule.to_string(), "Host(`a.com`) && PathPrefix(`/api`)");
    // Matcher names in the four spellings Traefik registers.
    for name in ["PathPrefix", "pathprefix", "PATHPREFIX", "Pathprefix"] {
        assert!(
            v3(&format!("{name}(`/a`)")).matches(&req("http://x/a").info()),
            "{name}"
        );
    }
    // Only those four: another mix of cases, or another length, is no matcher.
    for name in ["PATHprefix", "pathPrefix", "Pathprefi", "PathPrefixx"] {
        assert!(
            crate::rule::parse(&format!("{name}(`/a`)"), RuleSyntax::V3).is_err(),
            "{name}"
        );
    }
}

#[test]
fn double_quoted_strings_use_go_escapes() {
    assert_eq!(v3(r#"Path("/a\"b")"#).to_string(), r#"Path(`/a"b`)"#);
    assert_eq!(
        v3(r#"HostRegexp("^a\\.com$")"#),
        v3(r"HostRegexp(`^a\.com$`)")
    );
    assert_eq!(v3(r#"Path("/\x41\101\u00e9")"#).to_string(), "Path(`/AAé`)");
    // A backtick inside a value forces the double-quoted form when printing.
    let rule = v3(r#"Header("X-A", "a`b")"#);
    assert_eq!(rule.to_string(), r#"Header(`x-a`, "a`b")"#);
    assert_eq!(v3(&rule.to_string()), rule);
}

/// Runs a rule that must fail; returns (column, message).
fn fail(rule: &str, syntax: RuleSyntax) -> (usize, String) {
    match parse(rule, syntax) {
        Ok(r) => panic!("{rule} parsed as {r}"),
        Err(e) => (e.column, e.message),
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}Path(`/`){}", "(".repeat(100_000), ")".repeat(100_000));
    let (col, msg) = fail(&deep, RuleSyntax::V3);
    assert_eq!(col, parser::MAX_DEPTH + 1);
    assert!(msg.contains("nested too deeply"), "{msg}");
    let nots = format!("{}Path(`/`)", "!".repeat(100_000));
    assert!(fail(&nots, RuleSyntax::V3).1.contains("nested too deeply"));
    let ok = format!(
        "{}Path(`/`){}",
        "(".repeat(parser::MAX_DEPTH),
        ")".repeat(parser::MAX_DEPTH)
    );
    assert!(v3(&ok).matches(&req("http://a/").info()));
    // Long flat rules are fine: `&&`/`||` chains are lists, not nesting.
    let long = vec!["Path(`/x`)"; 10_000].join(" || ") + " || Path(`/`)";
    assert!(v3(&long).matches(&req("http://a/").info()));
}

#[test]
fn error_columns() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 1, "empty rule"),
        ("   ", 1, "empty rule"),
        ("Hots(`a.com`)", 1, "did you mean Host?"),
        (
            "Host(`a`) && PathPrefx(`/a`)",
            14,
            "did you mean PathPrefix?",
        ),
        (
            "Host(`a`) && hostRegexp(`a`)",
            14,
            "did you mean HostRegexp?",
        ),
        ("Frobnicate(`a`)", 1, "unknown matcher `Frobnicate`"),
        ("foo(`a`)", 1, "known matchers: ClientIP, Method"),
        ("Host()", 1, "needs an argument"),
        ("Host(``)", 6, "empty argument"),
        ("Header(`X-A`)", 1, "takes 2 arguments"),
        ("Query(`a`, `b`, `c`)", 1, "takes 1 or 2 arguments"),
        ("(Host(`a`)", 1, "never closed"),
        ("Host(`a`))", 10, "no matching `(`"),
        ("Host(`a`) && (Path(`/a`) || Path(`/b`)", 14, "never closed"),
        ("Host(`a", 6, "unterminated string"),
        ("Host(\"a)", 6, "unterminated string"),
        ("Host('a')", 6, "single quotes"),
        ("Host(`a`) & Path(`/`)", 11, "single `&`"),
        ("Host(`a`) Path(`/`)", 11, "expected `&&` or `||`"),
        ("Host(`a`) &&", 13, "expected a matcher"),
        ("HostRegexp(`(a`)", 12, "invalid regex"),
        ("PathRegexp(`/[z-a]`)", 12, "invalid regex"),
        ("ClientIP(`1`)", 10, "invalid IP address"),
        ("ClientIP(`10.0.0.0/33`)", 10, "invalid CIDR"),
        ("ClientIP(`fe80::1%eth0`)", 10, "invalid IP address"),
        ("Path(`css`)", 6, "does not start with a `/`"),
        ("Host(`🦭.com`)", 6, "non-ASCII"),
        ("Path(`/é`) && Hots(`a`)", 15, "did you mean Host?"),
        ("Host", 5, "expected `(`"),
        ("Host(a)", 6, "expected a quoted string"),
        ("`a`", 1, "argument of a matcher"),
        ("()", 2, "expected a matcher, found `)`"),
        ("Host(`a`) || !)", 15, "expected a matcher, found `)`"),
        ("Method(`GE T`)", 8, "invalid HTTP method"),
        ("Header(`X A`, `b`)", 8, "invalid header name"),
        ("Host(`a.com:8080`)", 6, "without port"),
    ];
    for (rule, column, needle) in cases {
        let (col, msg) = fail(rule, RuleSyntax::V3);
        assert_eq!(col, *column, "{rule}: {msg}");
        assert!(msg.contains(needle), "{rule}: {msg:?} lacks {needle:?}");
    }
    let e = parse("Hots(`a`)", RuleSyntax::V3).unwrap_err();
    assert_eq!(
        e.to_string(),
        "column 1: unknown matcher `Hots`; did you mean Host?"
    );
}

/// v2-only forms under v3 syntax: the error shows the v3 way to write them.
#[test]
fn v2_forms_under_v3_explain_the_v3_form() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "Host(`a`,`b`)",
            1,
            "Host takes one argument in v3 syntax; write Host(`a`) || Host(`b`)",
        ),
        (
            "HostRegexp(`{sub:[a-z]+}.example.com`)",
            12,
            r"v3 uses plain regexes, not {name:regex} placeholders: write HostRegexp(`^[a-z]+\.example\.com$`)",
        ),
        (
            "HostRegexp(`{sub}.example.com`)",
            12,
            r"write HostRegexp(`^[^.]+\.example\.com$`)",
        ),
        (
            "HostRegexp(`example.com`, `{sub:[a-z]+}.example.com`)",
            1,
            r"HostRegexp takes one argument in v3 syntax; write HostRegexp(`example.com`) || HostRegexp(`^[a-z]+\.example\.com$`)",
        ),
        (
            "Path(`/articles/{id:[0-9]+}`)",
            6,
            "write PathRegexp(`^/articles/[0-9]+$`)",
        ),
        (
            "PathPrefix(`/api/{v}`)",
            12,
            "write PathRegexp(`^/api/[^/]+`)",
        ),
        (
            "Method(`GET`, `POST`)",
            1,
            "write Method(`GET`) || Method(`POST`)",
        ),
        (
            "ClientIP(`10.0.0.1`, `10.0.0.2`)",
            1,
            "write ClientIP(`10.0.0.1`) || ClientIP(`10.0.0.2`)",
        ),
        (
            "Headers(`X-A`, `1`)",
            1,
            "Headers is a v2-syntax matcher; write Header(`X-A`, `1`)",
        ),
        (
            "HeadersRegexp(`X-A`, `^1`)",
            1,
            "write HeaderRegexp(`X-A`, `^1`)",
        ),
        (
            "HostHeader(`a.com`, `b.com`)",
            1,
            "write Host(`a.com`) || Host(`b.com`)",
        ),
        (
            "Headers(`X-A`, `1`, `X-B`, `2`)",
            1,
            "write Header(`X-A`, `1`) && Header(`X-B`, `2`)",
        ),
        ("Query(`mobile=true`)", 7, "write Query(`mobile`, `true`)"),
        (
            "Query(`a=1`, `b=`)",
            7,
            "write Query(`a`, `1`) && QueryRegexp(`b`, `^.*$`)",
        ),
        (
            "Query(`id={id:[0-9]+}`)",
            7,
            "write QueryRegexp(`id`, `^[0-9]+$`)",
        ),
        (
            "Header(`X-A`, `1`, `X-B`, `2`)",
            1,
            "write Header(`X-A`, `1`) && Header(`X-B`, `2`)",
        ),
    ];
    for (rule, column, needle) in cases {
        let (col, msg) = fail(rule, RuleSyntax::V3);
        assert_eq!(col, *column, "{rule}: {msg}");
        assert!(
            msg.contains(needle),
            "{rule}:\n  got  {msg}\n  want {needle}"
        );
    }
    // The suggested v3 forms are valid v3 rules with the same meaning.
    let v3_form = v3(r"HostRegexp(`^[a-z]+\.example\.com$`)");
    let v2_form = v2("HostRegexp(`{sub:[a-z]+}.example.com`)");
    for url in [
        "http://abc.example.com",
        "http://a1.example.com",
        "http://example.com",
        "http://x.y.example.com",
    ] {
        assert_eq!(
            v3_form.matches(&req(url).info()),
            v2_form.matches(&req(url).info()),
            "{url}"
        );
    }
    // Placeholder-like braces are literal in v3 PathRegexp, as in Traefik (Go treats a `{`
    // that opens no repetition as a literal).
    let rule = v3("PathRegexp(`/{path:(css|js)}`)");
    assert!(rule.matches(&req("http://a/{path:css}").info()));
    assert!(!rule.matches(&req("http://a/css").info()));
    // v3-only matchers under v2 syntax.
    let (_, msg) = fail("PathRegexp(`^/a`)", RuleSyntax::V2);
    assert!(msg.contains("v3-syntax matcher"), "{msg}");
}

#[test]
fn v2_syntax() {
    let rule = v2("Host(`a.com`, `B.com.`)");
    check(
        &rule,
        &[
            (req("http://a.com"), true),
            (req("http://b.com:80"), true),
            (req("http://c.com"), false),
        ],
        "v2 Host",
    );
    assert_eq!(rule.to_string(), "Host(`a.com`, `b.com`)");
    assert_eq!(v2("HostHeader(`a.com`)"), v2("Host(`a.com`)"));

    let rule = v2("HostRegexp(`traefik.io`, `{subdomain:[a-z]+}.traefik.io`)");
    check(
        &rule,
        &[
            (req("http://traefik.io"), true),
            (req("http://www.traefik.io"), true),
            (req("http://a.b.traefik.io"), false),
            (req("http://www.traefik.io.evil"), false),
            (req("http://www1.traefik.io"), false),
        ],
        "v2 HostRegexp",
    );
    // gorilla matches host templates case-insensitively.
    assert!(v2("HostRegexp(`{sub:[A-Z]+}.a.com`)").matches(&req("http://x.a.com").info()));
    let rule = v2("HostRegexp(`{subdomain}.Example.com`)");
    assert!(rule.matches(&req("http://a.example.com").info()));
    assert!(!rule.matches(&req("http://a.b.example.com").info()));
    // Nested braces inside a placeholder pattern.
    let rule = v2("HostRegexp(`{sub:[a-z]{2,3}}.example.com`)");
    assert!(rule.matches(&req("http://ab.example.com").info()));
    assert!(!rule.matches(&req("http://abcd.example.com").info()));

    let rule = v2("Path(`/path`, `/articles/{category}/{id:[0-9]+}`)");
    check(
        &rule,
        &[
            (req("http://a/path"), true),
            (req("http://a/path/"), false),
            (req("http://a/articles/tech/42"), true),
            (req("http://a/articles/tech/x"), false),
            (req("http://a/articles/a/b/42"), false),
        ],
        "v2 Path",
    );
    let rule = v2("PathPrefix(`/products/`, `/articles/{category}/{id:[0-9]+}`)");
    check(
        &rule,
        &[
            (req("http://a/products/shoes"), true),
            (req("http://a/products"), false),
            (req("http://a/articles/tech/42/comments"), true),
            (req("http://a/articles/tech"), false),
        ],
        "v2 PathPrefix",
    );
    let rule = v2("Method(`GET`, `post`)");
    assert!(rule.matches(&req("http://a/").method("POST").info()));
    assert!(!rule.matches(&req("http://a/").method("PUT").info()));

    let rule = v2("Headers(`X-A`, `1`)");
    assert!(rule.matches(&req("http://a/").header("x-a", "1").info()));
    assert!(!rule.matches(&req("http://a/").header("x-a", "2").info()));
    let rule = v2("HeadersRegexp(`X-A`, `^[0-9]+$`, `X-B`, `b`)");
    assert!(rule.matches(
        &req("http://a/")
            .header("x-a", "12")
            .header("x-b", "abc")
            .info()
    ));
    assert!(!rule.matches(&req("http://a/").header("x-a", "12").info()));

    let rule = v2("Query(`foo=bar`, `bar=baz`)");
    check(
        &rule,
        &[
            (req("http://a/?foo=bar&bar=baz"), true),
            (req("http://a/?bar=baz;foo=bar"), true),
            (req("http://a/?foo=bar"), false),
            // gorilla looks at the first occurrence only.
            (req("http://a/?foo=x&foo=bar&bar=baz"), false),
        ],
        "v2 Query",
    );
    let rule = v2("Query(`id={id:[0-9]+}`)");
    assert!(rule.matches(&req("http://a/?id=42").info()));
    assert!(!rule.matches(&req("http://a/?id=4x").info()));
    let rule = v2("Query(`mobile=`)");
    assert!(rule.matches(&req("http://a/?mobile").info()));
    assert!(rule.matches(&req("http://a/?mobile=yes").info()));
    assert!(!rule.matches(&req("http://a/?other").info()));

    let rule = v2("ClientIP(`10.0.0.0/8`, `::1`)");
    assert!(rule.matches(&req("http://a/").ip("10.2.3.4").info()));
    assert!(rule.matches(&req("http://a/").ip("::1").info()));
    assert!(!rule.matches(&req("http://a/").ip("11.0.0.1").info()));

    // v2 documentation examples.
    for text in [
        "Host(`traefik.io`) || (Host(`containo.us`) && Path(`/traefik`))",
        "Host(`foo-domain`) && Path(`/foo-path/`)",
        r"HostRegexp(`.*\.traefik\.com`)",
        "Headers(`key`, `value`)",
        "HeadersRegexp(`key`, `regexp`)",
        "Method(`GET`, `POST`, `PUT`, `DELETE`, `PATCH`)",
    ] {
        let rule = v2(text);
        assert_eq!(
            parse(&rule.to_string(), rule.syntax()).unwrap(),
            rule,
            "{text}"
        );
    }

    for (text, column, needle) in [
        ("Query(`foo`)", 7, "v2 Query takes `key=value`"),
        ("Headers(`X-A`)", 1, "name/value pairs"),
        ("Path(`/a/{id`)", 6, "unbalanced braces"),
        ("HostRegexp(`{:x}.com`)", 12, "missing name or pattern"),
        ("Path(`a`)", 6, "must start with a `/`"),
        ("HostRegexp(`{sub:(}.com`)", 12, "invalid pattern"),
    ] {
        let (col, msg) = fail(text, RuleSyntax::V2);
        assert_eq!(col, column, "{text}: {msg}");
        assert!(msg.contains(needle), "{text}: {msg}");
    }
}

fn hosts(exact: &[&str], suffixes: &[&str]) -> HostKeys {
    HostKeys::Hosts {
        exact: exact.iter().map(|s| s.to_string()).collect(),
        suffixes: suffixes.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn host_keys() {
    let cases: Vec<(&str, RuleSyntax, HostKeys)> = vec![
        ("Host(`A.com`)", RuleSyntax::V3, hosts(&["a.com"], &[])),
        (
            "Host(`a.com`) && Path(`/x`)",
            RuleSyntax::V3,
            hosts(&["a.com"], &[]),
        ),
        (
            "Host(`b.com`) || Host(`a.com`)",
            RuleSyntax::V3,
            hosts(&["a.com", "b.com"], &[]),
        ),
        (
            "(Host(`a.com`) || Host(`b.com`)) && PathPrefix(`/api`)",
            RuleSyntax::V3,
            hosts(&["a.com", "b.com"], &[]),
        ),
        (
            "Host(`a.com`) && Host(`b.com`)",
            RuleSyntax::V3,
            hosts(&["a.com"], &[]),
        ),
        ("Host(`a.com`) || Path(`/x`)", RuleSyntax::V3, HostKeys::Any),
        ("!Host(`a.com`)", RuleSyntax::V3, HostKeys::Any),
        (
            "!Host(`a.com`) && Host(`b.com`)",
            RuleSyntax::V3,
            hosts(&["b.com"], &[]),
        ),
        ("PathPrefix(`/`)", RuleSyntax::V3, HostKeys::Any),
        (
            r"HostRegexp(`^.+\.example\.com$`)",
            RuleSyntax::V3,
            hosts(&[], &["example.com"]),
        ),
        (
            r"HostRegexp(`^[a-z]+\.example\.com$`)",
            RuleSyntax::V3,
            hosts(&[], &["example.com"]),
        ),
        (
            r"HostRegexp(`^(a|b)\.example\.com$`)",
            RuleSyntax::V3,
            hosts(&[], &["example.com"]),
        ),
        (
            r"HostRegexp(`^example\.com$`)",
            RuleSyntax::V3,
            hosts(&["example.com"], &[]),
        ),
        // Not provable: unanchored, top-level alternation, flags, a quantified tail.
        (
            r"HostRegexp(`[a-z]+\.traefik\.com`)",
            RuleSyntax::V3,
            HostKeys::Any,
        ),
        (
            r"HostRegexp(`^a\.com$|^b\.org$`)",
            RuleSyntax::V3,
            HostKeys::Any,
        ),
        (
            r"HostRegexp(`(?i)^example\.(com|org)$`)",
            RuleSyntax::V3,
            HostKeys::Any,
        ),
        (
            r"HostRegexp(`^example\.(com|org)$`)",
            RuleSyntax::V3,
            HostKeys::Any,
        ),
        // Upper case never matches a (lower-case) host; the bound stops at it and stays sound.
        (
            r"HostRegexp(`^.+\.Example\.com$`)",
            RuleSyntax::V3,
            hosts(&[], &["com"]),
        ),
        (
            r"HostRegexp(`^.+.example\.com$`)",
            RuleSyntax::V3,
            hosts(&[], &["com"]),
        ),
        (
            r"HostRegexp(`^.+\.example\.com$`) || Host(`example.com`)",
            RuleSyntax::V3,
            hosts(&["example.com"], &["example.com"]),
        ),
        (
            "Host(`a.com`, `b.com`)",
            RuleSyntax::V2,
            hosts(&["a.com", "b.com"], &[]),
        ),
        (
            "HostRegexp(`traefik.io`, `{subdomain:[a-z]+}.traefik.io`)",
            RuleSyntax::V2,
            hosts(&["traefik.io"], &["traefik.io"]),
        ),
        ("HostRegexp(`{sub:[a-z]+}`)", RuleSyntax::V2, HostKeys::Any),
    ];
    for (text, syntax, want) in cases {
        let rule = parse(text, syntax).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(rule.host_keys(), want, "{text}");
    }
}

#[test]
fn host_bound_is_sound() {
    assert_eq!(
        host_bound(r"^.+\.example\.com$"),
        Some(HostBound::Suffix("example.com".into()))
    );
    assert_eq!(
        host_bound(r"^[a-z]+foo\.example\.com$"),
        Some(HostBound::Suffix("example.com".into()))
    );
    assert_eq!(host_bound(r"^.+\.example\.com?$"), None);
    assert_eq!(
        host_bound(r"^a{2}\.com$"),
        Some(HostBound::Suffix("com".into()))
    );
    assert_eq!(host_bound(r"^a\.com{2}$"), None);
    assert_eq!(host_bound(r"^(a\.com$|b)"), None);
    assert_eq!(host_bound(r"^a\.com\$"), None);
    assert_eq!(
        host_bound(r"^[.]\.com$"),
        Some(HostBound::Suffix("com".into()))
    );
    assert_eq!(host_bound(r"^$"), None);
    assert_eq!(
        host_bound(r"^\d+\.com$"),
        Some(HostBound::Suffix("com".into()))
    );
    // Every host a bounded regex matches is under its bound.
    for (pattern, hosts) in [
        (
            r"^.+\.example\.com$",
            vec![
                "a.example.com",
                "x.y.example.com",
                "example.com",
                "aexample.com",
            ],
        ),
        (
            r"^(a|b)\.example\.com$",
            vec!["a.example.com", "c.example.com"],
        ),
    ] {
        let re = ::regex::Regex::new(pattern).unwrap();
        let Some(HostBound::Suffix(s)) = host_bound(pattern) else {
            panic!("{pattern}")
        };
        for h in hosts {
            if re.is_match(h) {
                assert!(
                    h.ends_with(&format!(".{s}")),
                    "{pattern} matched {h} outside .{s}"
                );
            }
        }
    }
}

#[test]
fn go_regex_translation() {
    assert_eq!(go_to_rust(r"a{2,3}"), r"a{2,3}");
    assert_eq!(go_to_rust(r"/{path:(css|js)}"), r"/\{path:(css|js)\}");
    assert_eq!(go_to_rust(r"\d+"), "[0-9]+");
    assert_eq!(go_to_rust(r"[\d.]"), "[0-9.]");
    assert_eq!(go_to_rust(r"\p{Greek}"), r"\p{Greek}");
    assert_eq!(go_to_rust(r"[]a]"), r"[\]a]");
    assert_eq!(go_to_rust(r"[[:alpha:]]{2}"), r"[[:alpha:]]{2}");
    assert_eq!(go_to_rust(r"\Qa.b*\E+"), r"a\.b\*+");
    assert_eq!(go_to_rust(r"a{,3}"), r"a\{,3\}");
    // Patterns Go accepts compile here too.
    for p in [
        r"^\/api\/v1",
        r"\-\:\@\!\#\%\&\~\`\=\<\>",
        r"[^\/]+",
        r"\Qa.b\E",
        r"\101",
        r"\x41\x{41}",
        r"(?U)a+",
        r"[[:^alpha:]]",
        r"\z",
        r"\C",
        r"(?P<name>a)(?:b)",
    ] {
        assert!(super::regex::Re::go(p).is_ok(), "{p}");
    }
    assert!(v3(r"PathRegexp(`^/\<a\>$`)").matches(&req("http://x/<a>").info()));
    assert!(v3(r"PathRegexp(`^/\101$`)").matches(&req("http://x/A").info()));
    // Braces of `\p{..}` and `\x{..}` are not v2 placeholders.
    assert!(v3(r"HostRegexp(`^\p{L}+\.com$`)").matches(&req("http://abc.com").info()));
    assert!(v3(r"HostRegexp(`^\x{61}\.com$`)").matches(&req("http://a.com").info()));
    assert!(v3(r"PathRegexp(`^/a{,3}$`)").matches(&req("http://x/a{,3}").info()));
    // Go's `\d` is ASCII only.
    assert!(!v3(r"PathRegexp(`^/\d$`)").matches(&req("http://a/٣").info()));
    assert!(v3(r"PathRegexp(`^/\d$`)").matches(&req("http://a/3").info()));
}

#[test]
fn domains_for_acme() {
    let rule = v3("(Host(`a.com`) || Host(`B.com`)) && !Host(`c.com`) || Host(`a.com`)");
    assert_eq!(
        rule.domains(),
        vec!["a.com".to_string(), "b.com".to_string()]
    );
    assert_eq!(
        v2("Host(`x.com`, `y.com`)").domains(),
        vec!["x.com".to_string(), "y.com".to_string()]
    );
    assert!(v3("PathPrefix(`/`)").domains().is_empty());
}

#[test]
fn display_round_trips_and_flattens() {
    for text in [
        "Host(`a`) && (Path(`/a`) || Path(`/b`))",
        "(Host(`a`) && Path(`/a`)) || Path(`/b`)",
        "!(Host(`a`) && Path(`/a`))",
        "!(Host(`a`) || Path(`/a`)) && Method(`GET`)",
        "Host(`a`) && (Host(`b`) && Host(`c`))",
        "Query(`k`) || Query(`k`, `v`) || QueryRegexp(`k`, `^v$`)",
        "Header(`X-A`, `v`) && HeaderRegexp(`X-B`, `\\d`) && ClientIP(`fe80::/10`)",
    ] {
        let rule = v3(text);
        let printed = rule.to_string();
        assert_eq!(v3(&printed), rule, "{text} → {printed}");
        assert_eq!(v3(&printed).to_string(), printed);
    }
    assert_eq!(
        v3("Host(`a`) && (Host(`b`) && Host(`c`))").to_string(),
        "Host(`a`) && Host(`b`) && Host(`c`)"
    );
    assert_eq!(
        v3("(Host(`a`) || Host(`b`)) && Path(`/`)").to_string(),
        "(Host(`a`) || Host(`b`)) && Path(`/`)"
    );
}

// ---------------------------------------------------------------------------------------------
// Property: printing a parsed rule and parsing it again gives the same rule.

#[derive(Clone, Debug)]
enum Ast {
    Leaf(String),
    Not(Box<Ast>),
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
}

impl Ast {
    fn text(&self) -> String {
        match self {
            Ast::Leaf(s) => s.clone(),
            Ast::Not(a) => format!("!({})", a.text()),
            Ast::And(a, b) => format!("({}) && ({})", a.text(), b.text()),
            Ast::Or(a, b) => format!("({}) || ({})", a.text(), b.text()),
        }
    }
}

/// A string literal in either quoting, holding `value`.
fn lit(value: &str, backtick: bool) -> String {
    if backtick && !value.contains('`') && !value.contains('\r') {
        format!("`{value}`")
    } else {
        let mut s = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\r' => s.push_str("\\r"),
                c => s.push(c),
            }
        }
        s.push('"');
        s
    }
}

fn leaf_v3() -> impl Strategy<Value = String> {
    let word = "[a-z0-9]{1,8}";
    // No braces: `{name}` in a Path is a v2 placeholder, rejected under v3.
    let text = "[ -z|~\n]{1,10}";
    prop_oneof![
        (word, "(com|org|io)", any::<bool>())
            .prop_map(|(a, tld, b)| format!("Host({})", lit(&format!("{a}.{tld}"), b))),
        (word, any::<bool>()).prop_map(|(a, b)| format!(
            "HostRegexp({})",
            lit(&format!("^{a}\\.example\\.com$"), b)
        )),
        (text, any::<bool>()).prop_map(|(p, b)| format!("Path({})", lit(&format!("/{p}"), b))),
        (text, any::<bool>())
            .prop_map(|(p, b)| format!("PathPrefix({})", lit(&format!("/{p}"), b))),
        (word, any::<bool>())
            .prop_map(|(p, b)| format!("PathRegexp({})", lit(&format!("^/{p}(/|$)"), b))),
        prop::sample::select(vec!["GET", "post", "Put", "DELETE", "PURGE"])
            .prop_map(|m| format!("Method(`{m}`)")),
        ("[A-Za-z][A-Za-z0-9-]{0,8}", text, any::<bool>()).prop_map(|(h, v, b)| format!(
            "Header({}, {})",
            lit(&h, b),
            lit(&v, !b)
        )),
        ("[A-Za-z][A-Za-z0-9-]{0,8}", word)
            .prop_map(|(h, v)| format!("HeaderRegexp(`{h}`, `^{v}`)")),
        (word, prop::option::of(text), any::<bool>()).prop_map(|(k, v, b)| match v {
            Some(v) => format!("Query({}, {})", lit(&k, b), lit(&v, b)),
            None => format!("Query({})", lit(&k, b)),
        }),
        (word, word).prop_map(|(k, v)| format!("QueryRegexp(`{k}`, `{v}+`)")),
        (any::<[u8; 4]>(), 0u8..=32)
            .prop_map(|(ip, p)| format!("ClientIP(`{}/{p}`)", std::net::Ipv4Addr::from(ip))),
        (any::<[u16; 8]>(), prop::option::of(0u8..=128)).prop_map(|(ip, p)| {
            let ip = std::net::Ipv6Addr::from(ip);
            match p {
                Some(p) => format!("ClientIP(`{ip}/{p}`)"),
                None => format!("ClientIP(`{ip}`)"),
            }
        }),
    ]
}

fn ast() -> impl Strategy<Value = Ast> {
    leaf_v3()
        .prop_map(Ast::Leaf)
        .prop_recursive(5, 32, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| Ast::Not(Box::new(a))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Ast::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Ast::Or(Box::new(a), Box::new(b))),
            ]
        })
}

fn leaf_v2() -> impl Strategy<Value = String> {
    let word = "[a-z0-9]{1,6}";
    prop_oneof![
        prop::collection::vec(word, 1..4).prop_map(|hs| format!(
            "Host({})",
            hs.iter()
                .map(|h| format!("`{h}.com`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (word, word).prop_map(|(a, b)| format!("HostRegexp(`{a}.com`, `{{sub:[a-z]+}}.{b}.com`)")),
        (word, word).prop_map(|(a, b)| format!("Path(`/{a}`, `/{b}/{{id:[0-9]+}}`)")),
        word.prop_map(|a| format!("PathPrefix(`/{a}/{{x}}`)")),
        (word, word).prop_map(|(k, v)| format!("Query(`{k}={v}`, `{v}=`)")),
        (word, word).prop_map(|(k, v)| format!("Headers(`X-{k}`, `{v}`)")),
        (word, word).prop_map(|(k, v)| format!("HeadersRegexp(`X-{k}`, `^{v}`)")),
        Just("Method(`get`, `POST`)".to_string()),
        Just("ClientIP(`10.0.0.0/8`, `::1`)".to_string()),
    ]
}

fn ast_v2() -> impl Strategy<Value = Ast> {
    leaf_v2()
        .prop_map(Ast::Leaf)
        .prop_recursive(4, 16, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| Ast::Not(Box::new(a))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Ast::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Ast::Or(Box::new(a), Box::new(b))),
            ]
        })
}

/// Requests that exercise the leaves the generators produce.
fn probe_requests() -> Vec<Req> {
    vec![
        req("http://a.com/"),
        req("http://abc.example.com/x?k=v").ip("10.1.2.3"),
        req("http://x.org/a/b")
            .method("POST")
            .header("x-a", "1")
            .ip("::1"),
        req("http://1.io/1?1=1&1"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_gives_the_same_rule(a in ast()) {
        let text = a.text();
        let rule = parse(&text, RuleSyntax::V3).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let printed = rule.to_string();
        let again = parse(&printed, RuleSyntax::V3).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&again, &rule, "{} printed as {}", text, printed);
        prop_assert_eq!(again.to_string(), printed);
        prop_assert_eq!(again.host_keys(), rule.host_keys());
        for r in probe_requests() {
            prop_assert_eq!(again.matches(&r.info()), rule.matches(&r.info()));
        }
    }

    #[test]
    fn print_then_parse_gives_the_same_rule_v2(a in ast_v2()) {
        let text = a.text();
        let rule = parse(&text, RuleSyntax::V2).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let printed = rule.to_string();
        let again = parse(&printed, RuleSyntax::V2).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
        prop_assert_eq!(&again, &rule, "{} printed as {}", text, printed);
        for r in probe_requests() {
            prop_assert_eq!(again.matches(&r.info()), rule.matches(&r.info()));
        }
    }

    /// The parser never panics, whatever the input, and errors point inside the text.
    #[test]
    fn parser_never_panics(s in "[ -~\n\t`\"(){}\\\\é]{0,40}") {
        for syntax in [RuleSyntax::V3, RuleSyntax::V2] {
            if let Err(e) = parse(&s, syntax) {
                prop_assert!(e.column >= 1 && e.column <= s.chars().count() + 1, "{:?}: {}", s, e);
            }
        }
    }
}
