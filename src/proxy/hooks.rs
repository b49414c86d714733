//! Pre-routing hooks: path-prefix handlers that the proxy asks first, before the entry-point
//! redirect, the route table and any middleware. The ACME HTTP-01 challenge
//! (`/.well-known/acme-challenge/`) must be answered even on an entry point that redirects
//! everything to HTTPS; the ping endpoint may use the same door.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};

use crate::body::Body;

/// What a hook sees besides the request.
#[derive(Clone, Copy, Debug)]
pub struct HookCtx<'a> {
    /// The entry point's name.
    pub entry_point: &'a str,
    /// The client's address (the PROXY protocol source when one was accepted).
    pub client_addr: SocketAddr,
}

/// A handler answered before routing. Returning `None` declines: the request goes on to the
/// redirect and the route table as if the hook did not exist.
pub trait PreRouteHook: Send + Sync + 'static {
    fn handle(&self, req: &Request<Body>, ctx: &HookCtx<'_>) -> Option<Response<Body>>;
}

impl<F> PreRouteHook for F
where
    F: Fn(&Request<Body>, &HookCtx<'_>) -> Option<Response<Body>> + Send + Sync + 'static,
{
    fn handle(&self, req: &Request<Body>, ctx: &HookCtx<'_>) -> Option<Response<Body>> {
        self(req, ctx)
    }
}

/// The registry of one entry point's hooks, built before `serve` and immutable afterwards (a
/// hook that needs changing state, like ACME tokens, holds it itself).
#[derive(Clone, Default)]
pub struct PreRouteHooks {
    entries: Vec<(Box<str>, Arc<dyn PreRouteHook>)>,
}

impl std::fmt::Debug for PreRouteHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.entries.iter().map(|(p, _)| p))
            .finish()
    }
}

impl PreRouteHooks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `hook` for paths starting with `prefix`. Hooks are asked in registration order;
    /// the first that answers wins.
    pub fn add(&mut self, prefix: impl Into<Box<str>>, hook: impl PreRouteHook) -> &mut Self {
        self.entries.push((prefix.into(), Arc::new(hook)));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The first answer of a hook whose prefix matches the request path.
    pub fn answer(&self, req: &Request<Body>, ctx: &HookCtx<'_>) -> Option<Response<Body>> {
        let path = req.uri().path();
        self.entries
            .iter()
            .filter(|(prefix, _)| path.starts_with(&**prefix))
            .find_map(|(_, hook)| hook.handle(req, ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_hook_that_answers_wins() {
        let mut hooks = PreRouteHooks::new();
        hooks
            .add(
                "/.well-known/acme-challenge/",
                |req: &Request<Body>, _: &HookCtx<'_>| {
                    (req.uri().path() == "/.well-known/acme-challenge/tok")
                        .then(|| Response::new(Body::full("key-auth")))
                },
            )
            .add("/", |_: &Request<Body>, _: &HookCtx<'_>| {
                Some(Response::new(Body::full("fallback")))
            });
        let ctx = HookCtx {
            entry_point: "web",
            client_addr: "127.0.0.1:1".parse().unwrap(),
        };
        let req = |p: &str| Request::builder().uri(p).body(Body::empty()).unwrap();
        let body = |r: Option<Response<Body>>| match r.map(|r| r.into_body()) {
            Some(Body::Full { inner }) => inner,
            _ => None,
        };
        assert_eq!(
            body(hooks.answer(&req("/.well-known/acme-challenge/tok"), &ctx)).unwrap(),
            "key-auth"
        );
        assert_eq!(
            body(hooks.answer(&req("/.well-known/acme-challenge/other"), &ctx)).unwrap(),
            "fallback"
        );
        assert!(PreRouteHooks::new().answer(&req("/"), &ctx).is_none());
    }
}
