//! The proxy: hyper servers on every entry point. Per request: pre-routing hooks, the
//! entry-point redirect, then load the snapshot once, normalize the host, look up the route
//! table, set forwarded headers, remove hop-by-hop headers and hand the request to the service.
//!
//! Public surface for the runtime: [`EntryPointSettings`] (from the static config),
//! [`PreRouteHooks`] (ACME HTTP-01, ping), and [`serve`] with a
//! [`CancellationToken`](tokio_util::sync::CancellationToken) as the shutdown signal.

mod headers;
mod hooks;
mod io;
pub mod path;
pub mod proxy_protocol;
mod server;
mod settings;

pub use headers::{
    host_port, is_websocket, normalize_host, remove_hop_by_hop_request, remove_hop_by_hop_response,
    set_forwarded_headers, ForwardedInput,
};
pub use hooks::{HookCtx, PreRouteHook, PreRouteHooks};
pub use server::{error_response, not_found, serve};
pub use settings::{
    EntryPointRedirect, EntryPointSettings, RespondingTimeouts, TrustSettings,
    DEFAULT_MAX_HEADER_BYTES,
};
pub use tokio_util::sync::CancellationToken;

#[cfg(test)]
mod e2e_tests;
#[cfg(test)]
mod tests;
