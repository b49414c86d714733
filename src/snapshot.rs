//! The snapshot: everything that must agree (route tables, services, report), swapped atomically
//! in one `ArcSwap`. The proxy loads it once per request; the API serializes the same one.

use std::collections::HashMap;
use std::sync::Arc;

use crate::compile::RouteTable;

/// Compiled, immutable state that serves traffic.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Counts swaps; 0 is the empty snapshot before the first compile.
    pub generation: u64,
    /// Route table per entry point name.
    pub entry_points: HashMap<Arc<str>, RouteTable>,
}
