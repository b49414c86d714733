//! Weighted services (canary releases): smooth weighted round robin over child services,
//! skipping children with no healthy server, with an optional sticky cookie naming the child.

use std::sync::Arc;

use http::header::SET_COOKIE;
use http::{Request, Response};

use super::sticky::Sticky;
use super::wrr::WrrState;
use super::{ProxyError, RequestCtx, ServiceRuntime};
use crate::body::Body;

#[derive(Debug)]
pub(crate) struct WeightedRt {
    pub children: Box<[Arc<ServiceRuntime>]>,
    pub weights: Box<[u32]>,
    pub wrr: Arc<WrrState>,
    pub sticky: Option<Sticky>,
}

impl WeightedRt {
    fn child_up(&self, i: usize) -> bool {
        self.weights[i] > 0 && self.children[i].is_up()
    }

    pub fn is_up(&self) -> bool {
        (0..self.children.len()).any(|i| self.child_up(i))
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
            .filter(|(i, _)| self.child_up(*i));
        let (index, write_cookie) = match sticky_hit {
            Some((i, rewrite)) => (i, rewrite),
            None => {
                let i = self
                    .wrr
                    .pick(&self.weights, |i| self.child_up(i))
                    .ok_or(ProxyError::NoServer)?;
                (i, self.sticky.is_some())
            }
        };
        let mut resp = self.children[index].serve_dyn(req, ctx).await?;
        if write_cookie {
            if let Some(c) = self.sticky.as_ref().and_then(|s| s.set_cookie(index)) {
                resp.headers_mut().append(SET_COOKIE, c.clone());
            }
        }
        Ok(resp)
    }
}
