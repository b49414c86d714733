//! Failover services: the main service answers while it has a healthy server; otherwise the
//! fallback does. The decision is taken before the request is sent, so no body is replayed.

use std::sync::Arc;

use http::{Request, Response};

use super::{ProxyError, RequestCtx, ServiceRuntime};
use crate::body::Body;

#[derive(Debug)]
pub(crate) struct FailoverRt {
    pub main: Arc<ServiceRuntime>,
    /// None when the configuration names no fallback: the main service's 503 stands.
    pub fallback: Option<Arc<ServiceRuntime>>,
}

impl FailoverRt {
    pub fn is_up(&self) -> bool {
        self.main.is_up() || self.fallback.as_ref().is_some_and(|f| f.is_up())
    }

    pub async fn serve(
        &self,
        req: Request<Body>,
        ctx: &RequestCtx,
    ) -> Result<Response<Body>, ProxyError> {
        if self.main.is_up() {
            self.main.serve_dyn(req, ctx).await
        } else if let Some(fallback) = &self.fallback {
            fallback.serve_dyn(req, ctx).await
        } else {
            Err(ProxyError::NoServer)
        }
    }
}
