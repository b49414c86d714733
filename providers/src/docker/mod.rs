//! The Docker provider: bollard list + events → per-container inspect cache → pure `build()`.
