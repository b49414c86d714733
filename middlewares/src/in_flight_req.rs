//! InFlightReq: limits the number of requests in progress per source; over the limit, 429.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::de;
use crate::ip_strategy::SourceCriterionSpec;

/// `inFlightReq`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct InFlightReqSpec {
    /// Maximum simultaneous requests per source. Required (> 0).
    #[serde(skip_serializing_if = "de::is_zero", deserialize_with = "de::int")]
    pub amount: i64,
    /// What groups requests into a source (default: the request host, as in Traefik).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_criterion: Option<SourceCriterionSpec>,
}

// ---- compiled form -------------------------------------------------------------------------

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use http::StatusCode;

use crate::ip_strategy::{SourceCriterion, SourceKey};
use crate::{Action, CompileCtx, ConnInfo, FlowState, SpecError};

/// Counters per source; kept in the state registry across config swaps.
#[derive(Debug, Default)]
pub struct InFlightState {
    counts: Mutex<HashMap<SourceKey, u64>>,
}

impl InFlightState {
    /// Requests in flight for `key` (for tests and the API).
    pub fn count(&self, key: &SourceKey) -> u64 {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

/// One request's slot; the count drops when the guard does (the request finished or failed).
#[derive(Debug)]
pub struct InFlightGuard {
    state: Arc<InFlightState>,
    key: SourceKey,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut counts = self
            .state
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = counts.get_mut(&self.key) {
            *c = c.saturating_sub(1);
            if *c == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// `inFlightReq`, compiled.
#[derive(Debug)]
pub struct InFlightReq {
    amount: u64,
    source: SourceCriterion,
    state: Arc<InFlightState>,
}

impl InFlightReq {
    pub fn compile(
        name: &str,
        spec: &InFlightReqSpec,
        ctx: &CompileCtx<'_>,
    ) -> Result<Self, SpecError> {
        if spec.amount <= 0 {
            return Err(SpecError::invalid(
                "inFlightReq.amount",
                format!("must be greater than 0 (got {})", spec.amount),
            ));
        }
        let source = SourceCriterion::compile(
            "inFlightReq.sourceCriterion",
            spec.source_criterion.as_ref(),
            SourceCriterion::Host,
        )?;
        let state = match ctx.registry {
            Some(reg) => reg.get_or_insert(&ctx.state_key(name), spec, InFlightState::default),
            None => Arc::new(InFlightState::default()),
        };
        Ok(InFlightReq {
            amount: spec.amount as u64,
            source,
            state,
        })
    }

    pub fn state(&self) -> &Arc<InFlightState> {
        &self.state
    }

    /// Takes a slot for the request's source (released when `flow` is dropped), or answers 429
    /// when `amount` requests of that source are already in flight.
    pub fn on_request(
        &self,
        parts: &http::request::Parts,
        conn: &ConnInfo,
        flow: &mut FlowState,
    ) -> Action {
        let key = self
            .source
            .key_with(parts, conn.remote_ip, flow.consumer.as_deref());
        {
            let mut counts = self
                .state
                .counts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let c = counts.entry(key.clone()).or_insert(0);
            if *c >= self.amount {
                return Action::Respond(crate::util::status_text(StatusCode::TOO_MANY_REQUESTS));
            }
            *c += 1;
        }
        flow.guards.push(InFlightGuard {
            state: Arc::clone(&self.state),
            key,
        });
        Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateRegistry;

    const CONN: ConnInfo = ConnInfo {
        remote_ip: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        tls: false,
    };

    fn req(host: &str) -> http::request::Parts {
        http::Request::get("/")
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn limits_per_host_and_releases_on_drop() {
        let spec = InFlightReqSpec {
            amount: 2,
            source_criterion: None,
        };
        let f = InFlightReq::compile("m@file", &spec, &CompileCtx::default()).unwrap();
        let mut a = FlowState::default();
        let mut b = FlowState::default();
        let mut c = FlowState::default();
        assert!(matches!(
            f.on_request(&req("x"), &CONN, &mut a),
            Action::Continue
        ));
        assert!(matches!(
            f.on_request(&req("x"), &CONN, &mut b),
            Action::Continue
        ));
        match f.on_request(&req("x"), &CONN, &mut c) {
            Action::Respond(r) => assert_eq!(r.status(), 429),
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(
            matches!(f.on_request(&req("y"), &CONN, &mut c), Action::Continue),
            "other host has its own budget"
        );
        drop(a);
        assert_eq!(f.state().count(&SourceKey::Text("x".into())), 1);
        let mut d = FlowState::default();
        assert!(matches!(
            f.on_request(&req("x"), &CONN, &mut d),
            Action::Continue
        ));
        drop((b, c, d));
        assert_eq!(f.state().count(&SourceKey::Text("x".into())), 0);
    }

    #[test]
    fn state_survives_an_unchanged_recompile() {
        let reg = StateRegistry::new();
        let ctx = CompileCtx {
            registry: Some(&reg),
            scope: "r@file",
            ..CompileCtx::default()
        };
        let spec = InFlightReqSpec {
            amount: 1,
            source_criterion: None,
        };
        let f1 = InFlightReq::compile("m@file", &spec, &ctx).unwrap();
        let mut held = FlowState::default();
        assert!(matches!(
            f1.on_request(&req("x"), &CONN, &mut held),
            Action::Continue
        ));
        let f2 = InFlightReq::compile("m@file", &spec, &ctx).unwrap();
        assert!(matches!(
            f2.on_request(&req("x"), &CONN, &mut FlowState::default()),
            Action::Respond(_)
        ));
        let changed = InFlightReqSpec {
            amount: 2,
            source_criterion: None,
        };
        let f3 = InFlightReq::compile("m@file", &changed, &ctx).unwrap();
        assert!(matches!(
            f3.on_request(&req("x"), &CONN, &mut FlowState::default()),
            Action::Continue
        ));
    }

    #[test]
    fn bad_amount() {
        let e = InFlightReq::compile(
            "m",
            &InFlightReqSpec {
                amount: -3,
                source_criterion: None,
            },
            &CompileCtx::default(),
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "invalid `inFlightReq.amount`: must be greater than 0 (got -3)"
        );
    }
}
