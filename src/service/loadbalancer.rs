//! The load balancer: picks a healthy server (sticky cookie first, then smooth weighted round
//! robin or power of two choices), forwards through the pooled transport, and feeds passive
//! health with the outcome.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::header::SET_COOKIE;
use http::{Request, Response};

use super::health::{Monitor, PassiveCfg, ServerState};
use super::sticky::Sticky;
use super::transport::{forward, Target, Upstream};
use super::wrr::WrrState;
use super::{ProxyError, RequestCtx};
use crate::body::Body;

/// One server of a load balancer, compiled.
#[derive(Debug)]
pub(crate) struct ServerRt {
    pub url: Arc<str>,
    pub target: Target,
    /// Pooled clients bound to this server's address.
    pub upstream: Arc<Upstream>,
    pub weight: u32,
    pub state: Arc<ServerState>,
    /// Keeps the active health task alive while a snapshot uses this server.
    pub _monitor: Option<Arc<Monitor>>,
}

#[derive(Debug)]
pub(crate) enum Strategy {
    Wrr(Arc<WrrState>),
    P2c,
}

#[derive(Debug)]
pub(crate) struct LoadBalancerRt {
    pub servers: Box<[ServerRt]>,
    pub weights: Box<[u32]>,
    pub strategy: Strategy,
    pub sticky: Option<Sticky>,
    pub pass_host_header: bool,
    pub active_health: bool,
    pub passive: Option<PassiveCfg>,
}

/// Counts a request as in flight on a server until its response head (p2c's load signal).
struct InFlight<'a>(&'a ServerState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl LoadBalancerRt {
    pub fn server_up(&self, i: usize) -> bool {
        let s = &self.servers[i];
        s.weight > 0 && (!self.active_health || s.state.active_up()) && s.state.passive_up()
    }

    pub fn is_up(&self) -> bool {
        (0..self.servers.len()).any(|i| self.server_up(i))
    }

    fn pick(&self) -> Option<usize> {
        match &self.strategy {
            Strategy::Wrr(state) => state.pick(&self.weights, |i| self.server_up(i)),
            Strategy::P2c => self.pick_p2c(),
        }
    }

    /// Power of two choices: two distinct random healthy servers, the one with fewer requests
    /// in flight. Counts instead of collecting, so a pick allocates nothing.
    fn pick_p2c(&self) -> Option<usize> {
        let n = (0..self.servers.len())
            .filter(|&i| self.server_up(i))
            .count();
        let nth_up = |k: usize| {
            (0..self.servers.len())
                .filter(|&i| self.server_up(i))
                .nth(k)
        };
        match n {
            0 => None,
            1 => nth_up(0),
            n => {
                let a = rand::random_range(0..n);
                let mut b = rand::random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                // Health may change between the count and the walk: fall back to what exists.
                let (a, b) = match (nth_up(a), nth_up(b)) {
                    (Some(a), Some(b)) => (a, b),
                    (Some(x), None) | (None, Some(x)) => return Some(x),
                    (None, None) => return nth_up(0),
                };
                let load = |i: usize| self.servers[i].state.inflight.load(Ordering::Relaxed);
                Some(if load(b) < load(a) { b } else { a })
            }
        }
    }

    pub async fn serve(
        &self,
        req: Request<Body>,
        _ctx: &RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        let sticky_hit = self
            .sticky
            .as_ref()
            .and_then(|s| s.find(req.headers()))
            .filter(|(i, _)| self.server_up(*i));
        let (index, write_cookie) = match sticky_hit {
            Some((i, rewrite)) => (i, rewrite),
            None => (
                self.pick().ok_or(ProxyError::NoServer)?,
                self.sticky.is_some(),
            ),
        };
        let server = &self.servers[index];
        server.state.inflight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(&server.state);
        let result = forward(&server.upstream, &server.target, self.pass_host_header, req).await;
        drop(guard);
        match result {
            Ok(mut resp) => {
                if write_cookie {
                    if let Some(c) = self.sticky.as_ref().and_then(|s| s.set_cookie(index)) {
                        resp.headers_mut().append(SET_COOKIE, c.clone());
                    }
                }
                Ok(resp)
            }
            Err(e) => {
                if let (Some(p), ProxyError::Upstream(_) | ProxyError::Timeout) =
                    (&self.passive, &e)
                {
                    server.state.record_failure(p);
                }
                Err(e)
            }
        }
    }
}
