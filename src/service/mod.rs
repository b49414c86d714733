//! Services: where a matched request goes. Load balancers over servers (weighted round robin,
//! sticky cookies, active and passive health), weighted/mirroring/failover services, and the
//! pooled upstream clients described by serversTransports.
//!
//! Contract used by compile and proxy (keep these signatures):
//! - `ServiceRuntime::serve(&self, req, &RequestCtx) -> Result<Response<Body>, ProxyError>`: the
//!   proxy has already set forwarded headers and removed hop-by-hop headers; `serve` picks a
//!   server, rewrites the URI to it, sends, and handles WebSocket/`Upgrade` (101) by splicing the
//!   two upgraded connections.
//! - `ServiceRegistry` outlives snapshots: health state, pools, sticky and WRR state are keyed by
//!   a stable identity and carried across compiles.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};

use crate::body::Body;

/// Per-request facts the service and the access log need. Built by the proxy.
#[derive(Clone, Debug)]
pub struct RequestCtx {
    pub client_addr: SocketAddr,
    pub entry_point: Arc<str>,
    pub router: Arc<str>,
    /// The request arrived over TLS.
    pub tls: bool,
}

/// Why forwarding failed; its source decides the status code, the log line and retries.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No server is healthy (or the service has none): 503.
    #[error("no available server")]
    NoServer,
    /// Connecting to or talking with the server failed: 502.
    #[error("bad gateway: {0}")]
    Upstream(String),
    /// The server did not answer in time: 504.
    #[error("gateway timeout")]
    Timeout,
    /// The client's request could not be forwarded (bad URI for the target, body too large): 4xx.
    #[error("bad request: {0}")]
    Downstream(String),
    /// A bug or an impossible state: 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoServer => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Downstream(_) => StatusCode::BAD_REQUEST,
            ProxyError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A compiled service, shared by every route that uses it.
#[derive(Debug)]
pub struct ServiceRuntime {
    pub name: Arc<str>,
}

impl ServiceRuntime {
    pub async fn serve(&self, _req: Request<Body>, _ctx: &RequestCtx) -> Result<Response<Body>, ProxyError> {
        Err(ProxyError::NoServer)
    }
}

/// State that survives configuration swaps (health, pools, balancer positions).
#[derive(Debug, Default)]
pub struct ServiceRegistry {}
