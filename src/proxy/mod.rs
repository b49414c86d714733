//! The proxy: hyper servers on every entry point. Per request: request-target normalization,
//! pre-routing hooks, the entry-point redirect, then load the snapshot once, normalize the
//! host, look up the route table, set forwarded headers, remove hop-by-hop headers and hand
//! the request to the service.
//!
//! Public surface for the runtime: [`EntryPointSettings`] (from the static config),
//! [`PreRouteHooks`] (ACME HTTP-01, ping), and [`serve`] with a
//! [`CancellationToken`](tokio_util::sync::CancellationToken) as the shutdown signal.
//!
//! Static keys of `entryPoints.<name>` and the settings they fill:
//! `forwardedHeaders.{trustedIPs,insecure}` → `forwarded_headers`;
//! `proxyProtocol.{trustedIPs,insecure}` → `proxy_protocol`;
//! `transport.respondingTimeouts.{readTimeout,writeTimeout,idleTimeout}` → `responding_timeouts`;
//! `transport.lifeCycle.graceTimeOut` → `grace_timeout`;
//! `transport.keepAliveMaxRequests` / `keepAliveMaxTime` → `keep_alive_max_requests` / `_time`;
//! `http.maxHeaderBytes` → `max_header_bytes`; `http.redirections.entryPoint` → `redirect`;
//! `http.sanitizePath` → `sanitize_path`; `http.encodeQuerySemicolons` →
//! `encode_query_semicolons`; `http2.maxConcurrentStreams` → `http2_max_concurrent_streams`.
//!
//! Where wharf deliberately differs from Traefik: a request with both `Content-Length` and
//! `Transfer-Encoding` gets 400 (Go lets `Transfer-Encoding` win); a malformed request line gets
//! hyper's 400 at once (Go waits for more); hyper's own 400/431 answers have no body; a
//! `writeTimeout` reached before the answer head gives 504 (Go closes without an answer); a
//! URL fragment is dropped (the `http` crate strips it) instead of refused with 400.

pub(crate) mod armed;
mod chain;
mod compress;
mod grpc_web;
mod headers;
mod hooks;
mod io;
pub mod path;
pub mod proxy_protocol;
mod server;
mod settings;
mod spool;

pub(crate) use chain::auth_client_for;
pub use chain::support as middleware_support;
pub use headers::{
    append_forwarded_for, host_port, is_websocket, normalize_host, prepare_forwarded_headers,
    remove_hop_by_hop_request, remove_hop_by_hop_response, set_forwarded_headers, ForwardedInput,
};
pub use hooks::{HookCtx, PreRouteHook, PreRouteHooks};
pub use server::{error_response, not_found, serve};
pub use settings::{
    EntryPointRedirect, EntryPointSettings, RespondingTimeouts, TrustSettings,
    DEFAULT_MAX_HEADER_BYTES,
};
pub use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod chain_tests;
#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod tests;
