//! Entry point settings: what the runtime derives from the static configuration
//! (`entryPoints.<name>.*`) before it calls [`serve`](super::serve). Static for the life of the
//! listener; everything per request comes from the snapshot instead.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use ipnet::IpNet;

/// Go's `http.DefaultMaxHeaderBytes` (1 MiB), which Traefik keeps.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1 << 20;

/// hyper refuses a read buffer smaller than this; a lower setting is raised to it.
pub(crate) const MIN_MAX_HEADER_BYTES: usize = 8192;

/// One entry point, as the proxy needs it.
#[derive(Clone, Debug)]
pub struct EntryPointSettings {
    /// The entry point's name (`web`); the key of `Snapshot::entry_points`.
    pub name: Arc<str>,
    /// Where it listens (informational: `serve` gets an already bound listener).
    pub address: SocketAddr,
    /// `forwardedHeaders.{trustedIPs,insecure}`.
    pub forwarded_headers: TrustSettings,
    /// `proxyProtocol.{trustedIPs,insecure}`; `None` when the entry point has no `proxyProtocol`
    /// section (then no header is read at all, as in Traefik).
    pub proxy_protocol: Option<TrustSettings>,
    /// `transport.respondingTimeouts`.
    pub responding_timeouts: RespondingTimeouts,
    /// `transport.lifeCycle.graceTimeOut`: how long in-flight requests may run after shutdown.
    pub grace_timeout: Duration,
    /// Largest request head (request line + headers) accepted; larger gets 431.
    pub max_header_bytes: usize,
    /// `http.redirections.entryPoint`: redirect every request (the pre-routing hooks excepted).
    pub redirect: Option<EntryPointRedirect>,
    /// The value of `X-Forwarded-Server` (Traefik sends the machine's hostname).
    pub server_name: HeaderValue,
    /// `transport.keepAliveMaxRequests` (0: unlimited): close an HTTP/1 connection after this
    /// many requests.
    pub keep_alive_max_requests: u64,
    /// `transport.keepAliveMaxTime` (`None`: unlimited): close an HTTP/1 connection after the
    /// first answer sent once it is this old.
    pub keep_alive_max_time: Option<Duration>,
    /// `http.sanitizePath` (default true): remove dot segments and duplicate slashes from the
    /// path before routing; the backend receives the cleaned path.
    pub sanitize_path: bool,
    /// `http.encodeQuerySemicolons` (default false): `;` in the query becomes `%3B` instead of
    /// `&`.
    pub encode_query_semicolons: bool,
    /// `http2.maxConcurrentStreams` (Traefik's default: 250).
    pub http2_max_concurrent_streams: u32,
    /// Answer 400 to an HTTP/1.1 request that carries both `Content-Length` and
    /// `Transfer-Encoding` (hyper alone would let `Transfer-Encoding` win, as Go does).
    pub reject_ambiguous_framing: bool,
    /// Access log, metrics, request IDs, tracing (`None`: nothing observed on this entry point).
    pub observe: Option<Arc<crate::observe::EntryPointObserver>>,
}

impl EntryPointSettings {
    /// Traefik v3's defaults: readTimeout 60 s, writeTimeout 0, idleTimeout 180 s,
    /// graceTimeOut 10 s, 1 MiB of headers, no trusted IPs, no PROXY protocol, no redirect.
    pub fn new(name: impl Into<Arc<str>>, address: SocketAddr) -> Self {
        Self {
            name: name.into(),
            address,
            forwarded_headers: TrustSettings::default(),
            proxy_protocol: None,
            responding_timeouts: RespondingTimeouts::default(),
            grace_timeout: Duration::from_secs(10),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            redirect: None,
            server_name: local_hostname(),
            http2_max_concurrent_streams: 250,
            keep_alive_max_requests: 0,
            keep_alive_max_time: None,
            sanitize_path: true,
            encode_query_semicolons: false,
            reject_ambiguous_framing: true,
            observe: None,
        }
    }
}

/// A trusted-peer list with its `insecure` escape hatch (trust everyone).
#[derive(Clone, Debug, Default)]
pub struct TrustSettings {
    pub trusted_ips: Vec<IpNet>,
    pub insecure: bool,
}

impl TrustSettings {
    /// Whether headers (or a PROXY header) from this peer are believed.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        if self.insecure {
            return true;
        }
        let ip = ip.to_canonical();
        self.trusted_ips.iter().any(|net| net.contains(&ip))
    }
}

/// `transport.respondingTimeouts`. `None` (or zero in the config) disables one.
#[derive(Clone, Copy, Debug)]
pub struct RespondingTimeouts {
    /// Limit for reading a request head (hyper closes the connection when it runs out).
    pub read_timeout: Option<Duration>,
    /// Limit from the end of the request head to the end of the answer: no head in time gives
    /// 504; a body still streaming at the deadline is cut (Traefik default: none).
    pub write_timeout: Option<Duration>,
    /// How long a kept-alive connection may sit idle between requests.
    pub idle_timeout: Option<Duration>,
}

impl Default for RespondingTimeouts {
    fn default() -> Self {
        Self {
            read_timeout: Some(Duration::from_secs(60)),
            write_timeout: None,
            idle_timeout: Some(Duration::from_secs(180)),
        }
    }
}

impl RespondingTimeouts {
    /// hyper has one timer for "waiting for the next request head", which covers both the idle
    /// time between keep-alive requests and a slow head; it gets the shorter of the two limits.
    pub(crate) fn head_timeout(&self) -> Option<Duration> {
        let nonzero = |d: Option<Duration>| d.filter(|d| !d.is_zero());
        match (nonzero(self.read_timeout), nonzero(self.idle_timeout)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `http.redirections.entryPoint`, resolved by the runtime: `to` (an entry point name or
/// `:port`) becomes the target port.
#[derive(Clone, Debug)]
pub struct EntryPointRedirect {
    /// `scheme` (Traefik's default: `https`).
    pub scheme: String,
    /// The port of the target entry point; `None` keeps no port in the Location.
    pub port: Option<u16>,
    /// `permanent` (Traefik's default: true): 301/308 instead of 302/307.
    pub permanent: bool,
}

impl EntryPointRedirect {
    /// The `:port` suffix of the Location, empty for the scheme's default port (as Traefik).
    pub(crate) fn port_suffix(&self) -> String {
        match (self.scheme.as_str(), self.port) {
            (_, None) | ("http", Some(80)) | ("https", Some(443)) => String::new(),
            (_, Some(p)) => format!(":{p}"),
        }
    }
}

/// The machine's hostname, as Go's `os.Hostname` gives it to Traefik; `localhost` if unknown.
fn local_hostname() -> HeaderValue {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()));
    name.and_then(|n| HeaderValue::from_str(&n).ok())
        .unwrap_or(HeaderValue::from_static("localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_matches_cidrs_and_mapped_v4() {
        let t = TrustSettings {
            trusted_ips: vec!["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            insecure: false,
        };
        assert!(t.trusts("10.1.2.3".parse().unwrap()));
        assert!(t.trusts("::ffff:10.1.2.3".parse().unwrap()));
        assert!(t.trusts("::1".parse().unwrap()));
        assert!(!t.trusts("192.168.0.1".parse().unwrap()));
        let insecure = TrustSettings {
            trusted_ips: vec![],
            insecure: true,
        };
        assert!(insecure.trusts("192.168.0.1".parse().unwrap()));
    }

    #[test]
    fn head_timeout_is_the_shorter_nonzero_limit() {
        let t = RespondingTimeouts::default();
        assert_eq!(t.head_timeout(), Some(Duration::from_secs(60)));
        let t = RespondingTimeouts {
            read_timeout: Some(Duration::ZERO),
            write_timeout: None,
            idle_timeout: Some(Duration::from_secs(5)),
        };
        assert_eq!(t.head_timeout(), Some(Duration::from_secs(5)));
        let t = RespondingTimeouts {
            read_timeout: None,
            write_timeout: None,
            idle_timeout: None,
        };
        assert_eq!(t.head_timeout(), None);
    }

    #[test]
    fn redirect_port_suffix_omits_default_ports() {
        let r = |scheme: &str, port| EntryPointRedirect {
            scheme: scheme.into(),
            port,
            permanent: true,
        };
        assert_eq!(r("https", Some(443)).port_suffix(), "");
        assert_eq!(r("http", Some(80)).port_suffix(), "");
        assert_eq!(r("https", Some(8443)).port_suffix(), ":8443");
        assert_eq!(r("https", None).port_suffix(), "");
        assert_eq!(r("http", Some(443)).port_suffix(), ":443");
    }
}
