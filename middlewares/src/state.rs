//! State that must outlive a configuration swap (rate-limit buckets, in-flight counters, later
//! circuit-breaker windows). The registry lives beside the snapshot store and is handed to every
//! compile: an entry is reused when its key (router scope + middleware name) and its spec are
//! unchanged, and replaced (state reset) when the spec changed. Entries no compile asked for since
//! `begin` are dropped by `sweep`.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

struct Entry {
    spec: Box<dyn Any + Send + Sync>,
    state: Arc<dyn Any + Send + Sync>,
    generation: u64,
}

/// Long-lived middleware state, keyed by a stable identity.
#[derive(Default)]
pub struct StateRegistry {
    entries: Mutex<HashMap<String, Entry>>,
    generation: AtomicU64,
}

impl std::fmt::Debug for StateRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateRegistry")
            .field("entries", &self.len())
            .finish()
    }
}

impl StateRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a compile: entries touched from now on survive the next `sweep`.
    pub fn begin(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Drops the entries that no compile used since the last `begin`.
    pub fn sweep(&self) {
        let current = self.generation.load(Ordering::SeqCst);
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|_, e| e.generation >= current);
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state for `key`, reused when it was created for an equal `spec`, else made anew.
    pub fn get_or_insert<S, T>(&self, key: &str, spec: &S, make: impl FnOnce() -> T) -> Arc<T>
    where
        S: PartialEq + Clone + Send + Sync + 'static,
        T: Send + Sync + 'static,
    {
        let generation = self.generation.load(Ordering::SeqCst);
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = map.get_mut(key) {
            let same_spec = e.spec.downcast_ref::<S>().is_some_and(|s| s == spec);
            if same_spec {
                if let Ok(state) = Arc::clone(&e.state).downcast::<T>() {
                    e.generation = generation;
                    return state;
                }
            }
        }
        let state = Arc::new(make());
        map.insert(
            key.to_string(),
            Entry {
                spec: Box::new(spec.clone()),
                state: Arc::clone(&state) as Arc<dyn Any + Send + Sync>,
                generation,
            },
        );
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_for_equal_spec_and_resets_on_change() {
        let reg = StateRegistry::new();
        reg.begin();
        let a = reg.get_or_insert("r1/m", &1u32, || AtomicU64::new(7));
        a.store(9, Ordering::SeqCst);
        let b = reg.get_or_insert("r1/m", &1u32, || AtomicU64::new(7));
        assert_eq!(b.load(Ordering::SeqCst), 9, "same spec keeps the state");
        let c = reg.get_or_insert("r1/m", &2u32, || AtomicU64::new(7));
        assert_eq!(c.load(Ordering::SeqCst), 7, "changed spec resets the state");
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn sweep_drops_unused() {
        let reg = StateRegistry::new();
        reg.begin();
        let _ = reg.get_or_insert("a", &(), || 1u8);
        let _ = reg.get_or_insert("b", &(), || 2u8);
        reg.begin();
        let _ = reg.get_or_insert("a", &(), || 1u8);
        reg.sweep();
        assert_eq!(reg.len(), 1);
    }
}
