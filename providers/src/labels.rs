//! The flat label decoder: `traefik.http.routers.a.rule=...` style keys (Docker labels, later
//! Kubernetes annotations) → a tree → typed config per item, with a problem per bad label.
