//! Static configuration (Traefik v3 keys): from a YAML/TOML file, CLI flags and `WHARF_*` /
//! `TRAEFIK_*` environment variables, merged with precedence CLI > environment > file.
