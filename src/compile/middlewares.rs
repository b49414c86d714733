//! compile's middleware step beyond each definition's own checks: a chain whose member is
//! missing, disabled or part of a cycle is disabled, with the reason.

use std::collections::{BTreeMap, HashMap};

use wharf_providers::DynamicConfig;

use super::ItemReport;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    InProgress,
    Done,
}

/// Resolves chain membership in dependency order (members before the chains that use them).
pub(super) fn check_chains(cfg: &DynamicConfig, reports: &mut BTreeMap<String, ItemReport>) {
    let mut state: HashMap<&str, Visit> = HashMap::new();
    for name in cfg.http.middlewares.keys() {
        visit(cfg, name, &mut state, reports);
    }
}

fn visit<'c>(
    cfg: &'c DynamicConfig,
    name: &'c str,
    state: &mut HashMap<&'c str, Visit>,
    reports: &mut BTreeMap<String, ItemReport>,
) {
    if state.contains_key(name) {
        return;
    }
    let Some(chain) = cfg
        .http
        .middlewares
        .get(name)
        .and_then(|m| m.chain.as_ref())
    else {
        state.insert(name, Visit::Done);
        return;
    };
    state.insert(name, Visit::InProgress);
    let mut errs = Vec::new();
    for member in &chain.middlewares {
        match state.get(member.as_str()) {
            Some(Visit::InProgress) => {
                errs.push(format!(
                    "middleware `{member}` refers back to `{name}` (a chain cycle)"
                ));
                continue;
            }
            Some(Visit::Done) => {}
            None => visit(cfg, member, state, reports),
        }
        match reports.get(member) {
            None => errs.push(format!("middleware `{member}` does not exist")),
            Some(m) if m.is_disabled() => errs.push(format!("middleware `{member}` is disabled")),
            Some(_) => {}
        }
    }
    if let Some(it) = reports.get_mut(name) {
        for e in errs {
            it.disable(e);
        }
    }
    state.insert(name, Visit::Done);
}
