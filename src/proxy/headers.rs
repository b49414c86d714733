//! Header work of the proxy, between routing and the service: host normalization for the rule
//! matcher, the X-Forwarded-* headers as Traefik sets them (its `forwardedheaders` middleware
//! plus Go's reverse proxy), and hop-by-hop header removal on requests and responses.

use std::borrow::Cow;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub(crate) static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
pub(crate) static X_FORWARDED_SERVER: HeaderName = HeaderName::from_static("x-forwarded-server");
pub(crate) static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// The X-headers Traefik manages: removed when the peer is not trusted, and never removed
/// because a `Connection` header names them (lower-case, as hyper stores names).
const MANAGED_X_HEADERS: [&str; 13] = [
    "x-forwarded-proto",
    "x-forwarded-scheme",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-forwarded-prefix",
    "x-forwarded-tls-client-cert",
    "x-forwarded-tls-client-cert-info",
    "x-scheme",
    "x-real-ip",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1 plus the legacy ones Go's reverse proxy removes).
fn hop_by_hop() -> [&'static HeaderName; 9] {
    [
        &header::CONNECTION,
        &PROXY_CONNECTION,
        &KEEP_ALIVE,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
        &header::TE,
        &header::TRAILER,
        &header::TRANSFER_ENCODING,
        &header::UPGRADE,
    ]
}

/// Whether a map holds any hop-by-hop header: one pass over its few names costs less than the
/// nine hashed lookups of removing them, and most messages carry none.
fn any_hop_by_hop(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| hop_by_hop().contains(&k))
}

/// Normalizes a request host for the matcher: lower-case, no port, no trailing dot, IPv6
/// literals without brackets. Borrows when the input is already normal (the common case).
/// The rule module owns the definition, so routing and rules cannot disagree.
pub fn normalize_host(raw: &str) -> Cow<'_, str> {
    crate::rule::normalize_request_host(raw)
}

/// The port of a `Host` value, when it has one (Go's `net.SplitHostPort(req.Host)`).
pub fn host_port(raw: &str) -> Option<&str> {
    let after = if raw.starts_with('[') {
        let end = raw.find(']')?;
        raw[end + 1..].strip_prefix(':')?
    } else {
        let i = raw.rfind(':')?;
        if raw[..i].contains(':') {
            return None;
        }
        &raw[i + 1..]
    };
    (!after.is_empty()).then_some(after)
}

/// Whether a lower-case header name is one of Traefik's managed X-headers, treating `_` as `-`
/// (underscore spellings could otherwise smuggle a value past a backend that folds them).
fn is_managed_x_header(name: &str) -> bool {
    let b = name.as_bytes();
    if b.first() != Some(&b'x') {
        return false;
    }
    MANAGED_X_HEADERS.iter().any(|m| {
        m.len() == b.len()
            && m.bytes()
                .zip(b)
                .all(|(m, &c)| m == c || (m == b'-' && c == b'_'))
    })
}

/// Whether a comma-separated header (all its values) contains `token`, ignoring case.
pub fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// `Connection: upgrade` + `Upgrade: websocket` (any case): Traefik's websocket test.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    has_token(headers, &header::CONNECTION, "upgrade")
        && has_token(headers, &header::UPGRADE, "websocket")
}

/// The facts `set_forwarded_headers` needs about one request.
#[derive(Debug)]
pub struct ForwardedInput<'a> {
    /// Whether incoming X-Forwarded-* values are believed (trusted peer or `insecure`).
    pub trusted: bool,
    /// The client IP, already rendered (`X-Real-Ip`, the appended `X-Forwarded-For` entry).
    pub client_ip: &'a HeaderValue,
    /// The request's host as received (`Host` or the URI authority), port included.
    pub host: Option<&'a HeaderValue>,
    /// The request arrived over TLS.
    pub tls: bool,
    /// `X-Forwarded-Server`.
    pub server_name: &'a HeaderValue,
}

/// Sets X-Forwarded-For/-Proto/-Host/-Port/-Server and X-Real-Ip as Traefik v3 does:
/// untrusted incoming managed X-headers are dropped first; a value that survives is kept
/// (except `X-Forwarded-Server`, always ours); `X-Forwarded-For` gets the client IP appended.
/// Call before [`remove_hop_by_hop_request`] (the websocket test reads `Connection`).
pub fn set_forwarded_headers(headers: &mut HeaderMap, input: &ForwardedInput<'_>) {
    prepare_forwarded_headers(headers, input);
    append_forwarded_for(headers, input.client_ip);
}

/// The entry point's part of [`set_forwarded_headers`] (Traefik's `forwardedheaders`
/// middleware), which runs before the router's middlewares; the client IP is appended to
/// `X-Forwarded-For` after them, when forwarding ([`append_forwarded_for`]).
pub fn prepare_forwarded_headers(headers: &mut HeaderMap, input: &ForwardedInput<'_>) {
    use http::header::Entry;
    if !input.trusted {
        remove_managed_x_headers(headers);
    }

    // `entry`: one hashed lookup per header where `contains_key` + `insert` take two.
    headers
        .entry(&X_REAL_IP)
        .or_insert_with(|| input.client_ip.clone());

    let websocket = is_websocket(headers);
    let secure_proto = match headers.entry(&X_FORWARDED_PROTO) {
        Entry::Occupied(p) => {
            let p = p.get().as_bytes();
            p == b"https" || p == b"wss"
        }
        Entry::Vacant(v) => {
            let p: &'static str = match (websocket, input.tls) {
                (true, true) => "wss",
                (true, false) => "ws",
                (false, true) => "https",
                (false, false) => "http",
            };
            v.insert(HeaderValue::from_static(p));
            input.tls
        }
    };

    if let Entry::Vacant(v) = headers.entry(&X_FORWARDED_PORT) {
        let port = match input.host.and_then(|h| h.to_str().ok()).and_then(host_port) {
            Some(p) => HeaderValue::from_str(p).unwrap_or(HeaderValue::from_static("80")),
            None if secure_proto || input.tls => HeaderValue::from_static("443"),
            None => HeaderValue::from_static("80"),
        };
        v.insert(port);
    }

    if let Some(h) = input.host.filter(|h| !h.is_empty()) {
        headers
            .entry(&X_FORWARDED_HOST)
            .or_insert_with(|| h.clone());
    }

    headers.insert(X_FORWARDED_SERVER.clone(), input.server_name.clone());
}

/// Folds existing `X-Forwarded-For` lines into one and appends the client IP (Go's reverse
/// proxy): `a, b, client`. Without a prior value the client IP is reused without allocating.
pub fn append_forwarded_for(headers: &mut HeaderMap, client_ip: &HeaderValue) {
    let mut prior = headers.get_all(&X_FORWARDED_FOR).iter().peekable();
    if prior.peek().is_none() {
        headers.insert(X_FORWARDED_FOR.clone(), client_ip.clone());
        return;
    }
    let mut joined: Vec<u8> = Vec::with_capacity(64);
    for v in prior {
        joined.extend_from_slice(v.as_bytes());
        joined.extend_from_slice(b", ");
    }
    joined.extend_from_slice(client_ip.as_bytes());
    match HeaderValue::from_maybe_shared(bytes::Bytes::from(joined)) {
        Ok(v) => {
            headers.insert(X_FORWARDED_FOR.clone(), v);
        }
        // Unreachable: the parts were valid header values and ", " is too.
        Err(_) => {
            headers.insert(X_FORWARDED_FOR.clone(), client_ip.clone());
        }
    }
}

fn remove_managed_x_headers(headers: &mut HeaderMap) {
    // One pass over the names first: most requests carry none, and then nothing is allocated.
    if !headers.keys().any(|k| is_managed_x_header(k.as_str())) {
        return;
    }
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_managed_x_header(k.as_str()))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// Removes the headers a `Connection` header names (never a managed X-header, as Traefik) and
/// the hop-by-hop headers. An upgrade request keeps `Connection: Upgrade` and its `Upgrade`
/// value (the service splices the upgraded connection); `TE: trailers` survives.
pub fn remove_hop_by_hop_request(headers: &mut HeaderMap) {
    // `Connection` and `TE` are hop-by-hop too: without any, there is nothing to do.
    if !any_hop_by_hop(headers) {
        return;
    }
    let upgrade = if has_token(headers, &header::CONNECTION, "upgrade") {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    let te_trailers = has_token(headers, &header::TE, "trailers");
    remove_connection_listed(headers, true);
    remove_present_hop_by_hop(headers);
    if let Some(up) = upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, up);
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// The same on a response, except a `101 Switching Protocols`, whose `Connection`/`Upgrade`
/// are the handshake itself.
pub fn remove_hop_by_hop_response(status: http::StatusCode, headers: &mut HeaderMap) {
    if status == http::StatusCode::SWITCHING_PROTOCOLS || !any_hop_by_hop(headers) {
        return;
    }
    remove_connection_listed(headers, false);
    remove_present_hop_by_hop(headers);
}

/// Removes the hop-by-hop headers the map holds. A message carries few headers and few of
/// these (`Connection: keep-alive` from most servers): finding them in one pass over its names
/// and removing only those costs a fraction of nine hashed removals (callgrind: 2,700
/// instructions per proxied request before).
fn remove_present_hop_by_hop(headers: &mut HeaderMap) {
    let hop = hop_by_hop();
    let mut present = [false; 9];
    for k in headers.keys() {
        if let Some(i) = hop.iter().position(|h| *h == k) {
            present[i] = true;
        }
    }
    for (name, _) in hop.iter().zip(present).filter(|(_, p)| *p) {
        headers.remove(*name);
    }
}

fn remove_connection_listed(headers: &mut HeaderMap, keep_managed: bool) {
    let mut values = headers.get_all(header::CONNECTION).iter();
    match (values.next(), values.next()) {
        (None, _) => return,
        // What most servers send: it names only itself, which the hop-by-hop pass removes.
        (Some(v), None) if v.as_bytes().eq_ignore_ascii_case(b"keep-alive") => return,
        _ => {}
    }
    let mut named: Vec<HeaderName> = Vec::new();
    for v in headers.get_all(header::CONNECTION) {
        let Ok(s) = v.to_str() else { continue };
        for token in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            // `keep-alive`, `close`, `upgrade`...: the hop-by-hop pass removes those names
            // anyway; skipping them keeps the common case free of allocation.
            if token.eq_ignore_ascii_case("close")
                || hop_by_hop()
                    .iter()
                    .any(|h| token.eq_ignore_ascii_case(h.as_str()))
            {
                continue;
            }
            let Ok(name) = HeaderName::from_bytes(token.as_bytes()) else {
                continue;
            };
            if keep_managed && is_managed_x_header(name.as_str()) {
                continue;
            }
            named.push(name);
        }
    }
    for name in named {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(HeaderName::from_bytes(k.as_bytes()).unwrap(), hv(v));
        }
        m
    }

    fn all(m: &HeaderMap, k: &str) -> Vec<String> {
        m.get_all(k)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn normalize_host_cases() {
        assert!(matches!(
            normalize_host("example.com"),
            Cow::Borrowed("example.com")
        ));
        assert_eq!(normalize_host("Example.COM:8080"), "example.com");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("example.com.:443"), "example.com");
        assert_eq!(normalize_host("[::1]:8080"), "::1");
        assert_eq!(normalize_host("[FE80::1]"), "fe80::1");
        assert_eq!(normalize_host("::1"), "::1");
        assert_eq!(normalize_host("10.0.0.1:80"), "10.0.0.1");
        assert_eq!(normalize_host(""), "");
    }

    #[test]
    fn host_port_cases() {
        assert_eq!(host_port("a.com:8080"), Some("8080"));
        assert_eq!(host_port("a.com"), None);
        assert_eq!(host_port("[::1]:81"), Some("81"));
        assert_eq!(host_port("[::1]"), None);
        assert_eq!(host_port("::1"), None);
        assert_eq!(host_port("a.com:"), None);
    }

    fn input<'a>(
        trusted: bool,
        ip: &'a HeaderValue,
        host: Option<&'a HeaderValue>,
        tls: bool,
        server: &'a HeaderValue,
    ) -> ForwardedInput<'a> {
        ForwardedInput {
            trusted,
            client_ip: ip,
            host,
            tls,
            server_name: server,
        }
    }

    #[test]
    fn untrusted_peer_gets_its_values_replaced() {
        let ip = hv("1.2.3.4");
        let host = hv("app.example.com:8080");
        let server = hv("wharf-host");
        let mut h = map(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.com"),
            ("x-forwarded-port", "1"),
            ("x-real-ip", "6.6.6.6"),
            ("x_forwarded_for", "7.7.7.7"),
            ("x-forwarded-prefix", "/evil"),
            ("x-other", "kept"),
        ]);
        set_forwarded_headers(&mut h, &input(false, &ip, Some(&host), false, &server));
        assert_eq!(all(&h, "x-forwarded-for"), ["1.2.3.4"]);
        assert_eq!(all(&h, "x-forwarded-proto"), ["http"]);
        assert_eq!(all(&h, "x-forwarded-host"), ["app.example.com:8080"]);
        assert_eq!(all(&h, "x-forwarded-port"), ["8080"]);
        assert_eq!(all(&h, "x-real-ip"), ["1.2.3.4"]);
        assert_eq!(all(&h, "x-forwarded-server"), ["wharf-host"]);
        assert!(h.get("x_forwarded_for").is_none());
        assert!(h.get("x-forwarded-prefix").is_none());
        assert_eq!(all(&h, "x-other"), ["kept"]);
    }

    #[test]
    fn trusted_peer_keeps_values_and_xff_is_appended() {
        let ip = hv("10.0.0.2");
        let host = hv("app.example.com");
        let server = hv("wharf-host");
        let mut h = map(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2, 3.3.3.3"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "front.example.com"),
            ("x-real-ip", "1.1.1.1"),
            ("x-forwarded-server", "other"),
        ]);
        set_forwarded_headers(&mut h, &input(true, &ip, Some(&host), false, &server));
        assert_eq!(
            all(&h, "x-forwarded-for"),
            ["1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.2"]
        );
        assert_eq!(all(&h, "x-forwarded-proto"), ["https"]);
        // No port in Host, proto https: 443.
        assert_eq!(all(&h, "x-forwarded-port"), ["443"]);
        assert_eq!(all(&h, "x-forwarded-host"), ["front.example.com"]);
        assert_eq!(all(&h, "x-real-ip"), ["1.1.1.1"]);
        assert_eq!(all(&h, "x-forwarded-server"), ["wharf-host"]);
    }

    #[test]
    fn websocket_and_tls_protos() {
        let ip = hv("1.2.3.4");
        let server = hv("s");
        let mut h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ]);
        set_forwarded_headers(&mut h, &input(false, &ip, None, false, &server));
        assert_eq!(all(&h, "x-forwarded-proto"), ["ws"]);
        assert_eq!(all(&h, "x-forwarded-port"), ["80"]);
        assert!(h.get("x-forwarded-host").is_none());
        let mut h = map(&[("connection", "upgrade"), ("upgrade", "websocket")]);
        set_forwarded_headers(&mut h, &input(false, &ip, None, true, &server));
        assert_eq!(all(&h, "x-forwarded-proto"), ["wss"]);
        assert_eq!(all(&h, "x-forwarded-port"), ["443"]);
        let mut h = HeaderMap::new();
        set_forwarded_headers(&mut h, &input(false, &ip, None, true, &server));
        assert_eq!(all(&h, "x-forwarded-proto"), ["https"]);
    }

    #[test]
    fn hop_by_hop_request_removal() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret, X-Forwarded-For"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "s"),
            ("x-forwarded-for", "1.1.1.1"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic x"),
            ("te", "trailers, deflate"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop_request(&mut h);
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["accept", "te", "x-forwarded-for"]);
        assert_eq!(all(&h, "te"), ["trailers"]);
    }

    #[test]
    fn hop_by_hop_keeps_upgrade_for_upgrade_requests() {
        let mut h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        remove_hop_by_hop_request(&mut h);
        assert_eq!(all(&h, "connection"), ["Upgrade"]);
        assert_eq!(all(&h, "upgrade"), ["websocket"]);
        assert_eq!(all(&h, "sec-websocket-key"), ["k"]);
        assert!(h.get("keep-alive").is_none());
    }

    #[test]
    fn hop_by_hop_response_removal_spares_101() {
        let mut h = map(&[
            ("connection", "close, x-internal"),
            ("x-internal", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/plain"),
        ]);
        remove_hop_by_hop_response(http::StatusCode::OK, &mut h);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type"]);
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        remove_hop_by_hop_response(http::StatusCode::SWITCHING_PROTOCOLS, &mut h);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn managed_header_detection() {
        assert!(is_managed_x_header("x-forwarded-for"));
        assert!(is_managed_x_header("x_forwarded_for"));
        assert!(is_managed_x_header("x-real-ip"));
        assert!(is_managed_x_header("x_real_ip"));
        assert!(!is_managed_x_header("x-request-id"));
        assert!(!is_managed_x_header("accept"));
    }
}
