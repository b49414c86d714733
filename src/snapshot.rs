//! The snapshot: everything that must agree (route tables, services, report), swapped atomically
//! in one `ArcSwap`. The proxy loads it once per request; the API serializes the same one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::watch;
use wharf_providers::DynamicConfig;

use crate::compile::{Report, RouteTable};
use crate::service::ServiceRuntime;

/// Compiled, immutable state that serves traffic.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Counts swaps; 0 is the empty snapshot before the first compile.
    pub generation: u64,
    /// Route table per entry point name.
    pub entry_points: HashMap<Arc<str>, RouteTable>,
    /// Route table per entry point for TLS connections: routers with `tls`, or every router
    /// of an entry point with `http.tls` (src/tls).
    pub tls_entry_points: HashMap<Arc<str>, RouteTable>,
    /// Certificates, TLS options and the certificate inventory (`tls.certificates`).
    pub tls: Arc<crate::tls::TlsState>,
    /// Enabled services by qualified name.
    pub services: HashMap<String, Arc<ServiceRuntime>>,
    /// Status and errors of every router, service and middleware.
    pub report: Report,
    /// The merged configuration this snapshot was compiled from (`/api/rawdata`).
    pub config: Arc<DynamicConfig>,
}

/// Holds the current snapshot and announces each new generation.
///
/// Readers on the hot path call [`SnapshotStore::load`] (one atomic load, no lock); watchers
/// (ACME, the API's event stream, tests) subscribe to the generation.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    current: Arc<ArcSwap<Snapshot>>,
    generation: Arc<watch::Sender<u64>>,
    /// Replaced snapshots still held by in-flight requests. Freeing a large snapshot takes
    /// milliseconds (10k routes, regexes); keeping a reference here makes that happen in
    /// `store` (the compile thread) instead of on the proxy worker whose request ends last.
    retired: Arc<Mutex<Vec<Arc<Snapshot>>>>,
}

impl Default for SnapshotStore {
    fn default() -> Self {
        Self::new()
    }
}

impl SnapshotStore {
    /// Starts with the empty snapshot (generation 0: no routes, every request gets 404).
    pub fn new() -> Self {
        let (tx, _) = watch::channel(0);
        SnapshotStore {
            current: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            generation: Arc::new(tx),
            retired: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The current snapshot. Keep the returned `Arc` for the whole request: in-flight requests
    /// keep the snapshot they started with.
    pub fn load(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The swap cell itself, for components that load on their own (the proxy).
    pub fn cell(&self) -> Arc<ArcSwap<Snapshot>> {
        self.current.clone()
    }

    /// Numbers `snap` with the next generation, swaps it in, and announces it. Returns the
    /// generation. One call per compile.
    pub fn store(&self, mut snap: Snapshot) -> u64 {
        let g = *self.generation.borrow() + 1;
        snap.generation = g;
        let old = self.current.swap(Arc::new(snap));
        self.generation.send_replace(g);
        // Free here what no request holds any more (a count of 1 is our own reference, which
        // nobody else can clone); keep the rest for the next store.
        let mut retired = self
            .retired
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        retired.push(old);
        retired.retain(|s| Arc::strong_count(s) > 1);
        g
    }

    /// The generation of the current snapshot.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// A receiver that changes on every swap.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_numbers_generations() {
        let s = SnapshotStore::new();
        let mut rx = s.subscribe();
        assert_eq!(s.load().generation, 0);
        let old = s.load();
        assert_eq!(s.store(Snapshot::default()), 1);
        assert_eq!(s.store(Snapshot::default()), 2);
        assert_eq!(s.load().generation, 2);
        assert_eq!(
            old.generation, 0,
            "a held snapshot does not change under a swap"
        );
        assert!(rx.has_changed().unwrap_or(false));
        assert_eq!(*rx.borrow_and_update(), 2);
    }
}
