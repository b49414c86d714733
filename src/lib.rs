//! wharf: an edge router and API gateway, drop-in for Traefik v3.
//!
//! Flow (see shared/DESIGN.md): providers publish full views → `aggregate` merges and qualifies
//! names → `compile` builds an immutable `Snapshot` (route tables, services, report) → one
//! `ArcSwap<Snapshot>` → `proxy` loads it once per request.

pub mod acme;
pub mod aggregate;
pub mod api;
pub mod body;
pub mod compile;
pub mod config;
pub mod gateway;
pub mod observe;
pub mod proxy;
pub mod rule;
pub mod run;
pub mod service;
pub mod snapshot;
pub mod tls;
