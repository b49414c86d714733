//! The certificate inventory: what every ACME resolver holds or wants, with its renewal and
//! backoff state. The API serves it (`/api/certificates`); tests read it to see backoff.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

/// Where one certificate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CertState {
    /// Held and serving; renewal not due.
    Valid,
    /// Wanted by a router and not held yet, or held and due: an order is queued or running.
    Pending,
    /// The last order failed; the next one waits for the backoff.
    BackingOff,
    /// Held, but expired and not renewed (still listed so the gap is visible).
    Expired,
    /// The resolver is disabled (storage mode, unusable configuration): see `last_error`.
    Disabled,
}

/// One ACME certificate (held or wanted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// Stable id: `<resolver>:<sorted domains joined by ','>`.
    pub id: String,
    pub resolver: String,
    /// Main name first, then the SANs.
    pub domains: Vec<String>,
    pub state: CertState,
    /// Issuer's distinguished name (empty when not held).
    pub issuer: String,
    /// Unix seconds; `None` when not held.
    pub not_after: Option<u64>,
    /// Unix seconds when renewal starts (a third of the lifetime before not-after, minus jitter).
    pub next_renewal: Option<u64>,
    /// The last order's error (cleared by a success).
    pub last_error: Option<String>,
    /// Consecutive failures of this domain set.
    pub failures: u32,
    /// Unix seconds before which no new order is placed (`None`: no backoff).
    pub retry_at: Option<u64>,
    /// Routers (qualified names) whose TLS names this resolver and these domains.
    pub routers: Vec<String>,
}

/// Shared, cheaply cloned view of every resolver's certificates.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    by_resolver: Arc<RwLock<BTreeMap<String, Vec<CertificateInfo>>>>,
}

impl Inventory {
    /// Every certificate of every resolver, sorted by id.
    pub fn list(&self) -> Vec<CertificateInfo> {
        let m = self
            .by_resolver
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<CertificateInfo> = m.values().flatten().cloned().collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// One certificate by id.
    pub fn get(&self, id: &str) -> Option<CertificateInfo> {
        self.list().into_iter().find(|c| c.id == id)
    }

    pub(crate) fn replace(&self, resolver: &str, certs: Vec<CertificateInfo>) {
        self.by_resolver
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(resolver.to_string(), certs);
    }
}
