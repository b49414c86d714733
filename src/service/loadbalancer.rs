//! The load balancer: picks a healthy server (sticky cookie first, then the strategy: smooth
//! weighted round robin, power of two choices, highest random weight on the client IP, or least
//! time), forwards through the pooled transport, and feeds passive health with the outcome.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

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
    /// Rendezvous hashing of the client IP with each server URL (Traefik's `hrw`).
    Hrw,
    /// Lowest `average time to first byte × (1 + in flight) / weight`; ties by round robin.
    LeastTime(Arc<WrrState>),
}

/// FNV-1a 32-bit, as Traefik's `hrw` scores (client IP, server) pairs.
fn fnv1a32(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for part in parts {
        for b in *part {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
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

    fn pick(&self, ctx: &RequestCtx) -> Option<usize> {
        match &self.strategy {
            Strategy::Wrr(state) => state.pick(&self.weights, |i| self.server_up(i)),
            Strategy::P2c => self.pick_p2c(),
            Strategy::Hrw => self.pick_hrw(ctx),
            Strategy::LeastTime(state) => self.pick_least_time(state),
        }
    }

    /// Highest random weight: score = weight / -ln(hash(ip ++ url) / 2^32); the best wins, so
    /// a client IP keeps its server while the server set is stable.
    fn pick_hrw(&self, ctx: &RequestCtx) -> Option<usize> {
        let mut buf = [0u8; 64];
        let len = {
            let mut w = &mut buf[..];
            let _ = write!(w, "{}", ctx.client_addr.ip());
            64 - w.len()
        };
        let ip = &buf[..len];
        let mut best: Option<(usize, f64)> = None;
        for (i, s) in self.servers.iter().enumerate() {
            if !self.server_up(i) {
                continue;
            }
            let hash = fnv1a32(&[ip, s.url.as_bytes()]);
            let unit = (f64::from(hash) / 4_294_967_296.0).max(f64::MIN_POSITIVE);
            let score = f64::from(s.weight) / -unit.ln();
            if best.is_none_or(|(_, b)| score > b) {
                best = Some((i, score));
            }
        }
        best.map(|(i, _)| i)
    }

    fn least_time_score(&self, i: usize) -> f64 {
        let s = &self.servers[i];
        let inflight = s.state.inflight.load(Ordering::Relaxed) as f64;
        s.state.avg_response_ms() * (1.0 + inflight) / f64::from(s.weight.max(1))
    }

    fn pick_least_time(&self, wrr: &WrrState) -> Option<usize> {
        let mut min = f64::MAX;
        for i in (0..self.servers.len()).filter(|&i| self.server_up(i)) {
            min = min.min(self.least_time_score(i));
        }
        wrr.pick(&self.weights, |i| {
            self.server_up(i) && self.least_time_score(i) <= min
        })
        // Scores move under concurrent requests: if none is at the minimum any more, any
        // healthy server will do.
        .or_else(|| wrr.pick(&self.weights, |i| self.server_up(i)))
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
        ctx: &RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        let sticky_hit = self
            .sticky
            .as_ref()
            .and_then(|s| s.find(req.headers()))
            .filter(|(i, _)| self.server_up(*i));
        let (index, write_cookie) = match sticky_hit {
            Some((i, rewrite)) => (i, rewrite),
            None => (
                self.pick(ctx).ok_or(ProxyError::NoServer)?,
                self.sticky.is_some(),
            ),
        };
        let server = &self.servers[index];
        ctx.picked.set(&server.url);
        server.state.inflight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(&server.state);
        let started = matches!(self.strategy, Strategy::LeastTime(_)).then(Instant::now);
        let result = forward(
            &server.upstream,
            &server.target,
            self.pass_host_header,
            ctx.upstream_conn.get(),
            req,
        )
        .await;
        if let (Some(t), Ok(_)) = (started, &result) {
            server.state.record_response_time(t.elapsed());
        }
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
