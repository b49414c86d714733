//! The proxy: hyper servers on every entry point. Per request: load the snapshot once, normalize
//! the host, look up the route table, set forwarded headers, hand the request to the service.
