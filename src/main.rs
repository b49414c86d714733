//! wharf's binary: parses the command line, loads static config, starts providers, compile loop,
//! proxy and API. The only place where `anyhow` is used.

fn main() {}
