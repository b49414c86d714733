//! wharf-providers: the dynamic configuration model and the providers that produce it.
//!
//! Flow: provider (file, docker, ...) → `DynamicConfig` (full view, never a diff) → the root crate's
//! aggregate → compile. Translation from labels/files to `DynamicConfig` is pure and tested with
//! fixtures; the client loops (file watching, Docker events) only gather inputs.

pub mod docker;
pub mod duration;
pub mod file;
pub mod keys;
pub mod labels;
pub mod model;
pub mod provider;

pub use duration::Duration;
pub use model::*;
