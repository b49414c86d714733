//! Merging of the normalized source trees (file, then env, then flags on top) before the
//! merged tree is decoded into `StaticConfig`.

use serde_json::Value;

/// Deep-merges `over` into `base`: maps merge key by key, anything else (lists included)
/// replaces, so a higher-precedence source overrides a whole list.
pub(crate) fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Removes `null`s: a disabled section (`--providers.docker=false` becomes `null` so that it
/// overrides a lower-precedence source while merging) then reads as absent.
pub(crate) fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(o) => {
            o.retain(|_, v| !v.is_null());
            for v in o.values_mut() {
                strip_nulls(v);
            }
        }
        Value::Array(a) => {
            for v in a.iter_mut() {
                strip_nulls(v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_precedence() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": {"x": 1}});
        deep_merge(&mut base, json!({"a": {"c": [3]}, "d": null}));
        assert_eq!(base, json!({"a": {"b": 1, "c": [3]}, "d": null}));
        strip_nulls(&mut base);
        assert_eq!(base, json!({"a": {"b": 1, "c": [3]}}));
    }
}
