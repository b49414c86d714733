//! The JWKS fetcher behind `jwt.jwksUrl`: one task per distinct source, off the request path.
//! It fetches at start, then after `Cache-Control: max-age` (bounded by the refresh interval
//! and `jwksMinRefreshInterval`), and when the filter asks (a token named an unknown `kid`),
//! never more often than `jwksMinRefreshInterval`. Each fetch has a deadline and a size limit;
//! a failed fetch keeps the keys at hand and retries with backoff. The task ends when no
//! compiled filter holds the cache any more.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Notify;
use tokio::time::Instant;
use wharf_middlewares::jwks::{JwksCache, JwksSource};
use wharf_middlewares::jwt::{parse_jwks, Key};

type Inner = Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// HTTPS (system roots; webpki roots when the system has none) or plain HTTP (loopback only,
/// enforced by the spec check).
#[derive(Clone)]
pub struct JwksClient {
    inner: Option<Inner>,
}

impl JwksClient {
    pub fn new() -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let inner = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth())
            .map_err(|e| tracing::error!(error = %e, "jwks: TLS setup failed"))
            .ok()
            .map(|tls| {
                let mut http = HttpConnector::new();
                http.enforce_http(false);
                let connector = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(http);
                Client::builder(TokioExecutor::new()).build(connector)
            });
        JwksClient { inner }
    }

    /// One fetch: the keys and the server's `max-age`, or why it failed. Bounded in time
    /// (`source.timeout` for the whole exchange) and size (`source.max_bytes`).
    pub async fn fetch(&self, source: &JwksSource) -> Result<(Vec<Key>, Option<Duration>), String> {
        let client = self
            .inner
            .as_ref()
            .ok_or("no HTTP client (TLS setup failed)")?;
        let req = http::Request::get(&source.url)
            .header(
                http::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .header(
                http::header::USER_AGENT,
                concat!("wharf/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| format!("bad URL: {e}"))?;
        let work = async {
            let resp = client
                .request(req)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("HTTP status {}", resp.status()));
            }
            let max_age = resp
                .headers()
                .get_all(http::header::CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .find_map(|d| {
                    let (k, v) = d.trim().split_once('=')?;
                    k.eq_ignore_ascii_case("max-age")
                        .then(|| v.trim().trim_matches('"').parse::<u64>().ok())
                        .flatten()
                })
                .map(Duration::from_secs);
            let body = Limited::new(resp.into_body(), source.max_bytes)
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            let text = std::str::from_utf8(&body).map_err(|_| "body is not UTF-8".to_string())?;
            Ok((parse_jwks(text)?, max_age))
        };
        tokio::time::timeout(source.timeout, work)
            .await
            .map_err(|_| format!("no complete answer within {:?}", source.timeout))?
    }
}

impl Default for JwksClient {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts the fetcher of `cache` (needs a tokio runtime; without one nothing fetches and the
/// filter answers 503 until keys arrive, which is logged).
pub fn spawn_fetcher(cache: &Arc<JwksCache>, client: JwksClient) {
    let notify = Arc::new(Notify::new());
    let wake = notify.clone();
    cache.set_waker(Box::new(move || wake.notify_one()));
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(run(Arc::downgrade(cache), notify, client));
        }
        Err(_) => tracing::warn!(url = %cache.source.url, "jwks: no runtime to fetch keys"),
    }
}

/// How often an idle fetcher checks that its cache is still used.
const LIVENESS: Duration = Duration::from_secs(30);

async fn run(weak: Weak<JwksCache>, notify: Arc<Notify>, client: JwksClient) {
    let Some(source) = weak.upgrade().map(|c| c.source.clone()) else {
        return;
    };
    let mut next = Instant::now();
    let mut last_fetch: Option<Instant> = None;
    // When the last fetch started (std clock, to compare with the cache's refresh requests).
    let mut last_start: Option<std::time::Instant> = None;
    let mut failures: u32 = 0;
    loop {
        let wake_at = next.min(Instant::now() + LIVENESS);
        let kicked = tokio::select! {
            _ = notify.notified() => true,
            _ = tokio::time::sleep_until(wake_at) => false,
        };
        if weak.strong_count() == 0 {
            return;
        }
        if !kicked && Instant::now() < next {
            continue;
        }
        // A refresh asked for before the last fetch started is already answered by it (its
        // wake-up was stored while that fetch ran).
        if kicked && Instant::now() < next {
            let asked = weak.upgrade().and_then(|c| c.last_request());
            if let (Some(asked), Some(started)) = (asked, last_start) {
                if asked <= started {
                    continue;
                }
            }
        }
        // The bounded refresh rate: never two fetches closer than `min_refresh`.
        if let Some(last) = last_fetch {
            let earliest = last + source.min_refresh;
            if Instant::now() < earliest {
                tokio::time::sleep_until(earliest).await;
            }
        }
        let Some(cache) = weak.upgrade() else { return };
        last_fetch = Some(Instant::now());
        last_start = Some(std::time::Instant::now());
        match client.fetch(&source).await {
            Ok((keys, max_age)) => {
                let n = keys.len();
                cache.store(keys);
                failures = 0;
                let after = max_age
                    .unwrap_or(source.refresh)
                    .clamp(source.min_refresh, source.refresh);
                next = Instant::now() + after;
                tracing::debug!(url = %source.url, keys = n, next_in = ?after, "jwks: keys loaded");
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let backoff = source
                    .min_refresh
                    .saturating_mul(1u32 << failures.min(16).saturating_sub(1))
                    .min(source.refresh);
                next = Instant::now() + backoff;
                tracing::warn!(
                    url = %source.url,
                    error = %e,
                    loaded = cache.is_loaded(),
                    retry_in = ?backoff,
                    "jwks: fetch failed; keeping the keys at hand"
                );
            }
        }
        drop(cache);
    }
}
