//! The dynamic model against a realistic Traefik v3 file: it parses with no problem, nothing in it
//! is dropped (every input leaf comes back out), and it round-trips through YAML, TOML and JSON.

use serde_json::Value;
use wharf_providers::file::{parse_str, Format};
use wharf_providers::DynamicConfig;

const SAMPLE: &str = include_str!("fixtures/traefik-dynamic.yml");

fn sample() -> DynamicConfig {
    match parse_str(SAMPLE, Format::Yaml, "traefik-dynamic.yml") {
        Ok(c) => c,
        Err(problems) => panic!("sample did not parse cleanly: {problems:#?}"),
    }
}

/// Every leaf of `input` exists in `output` with the same value (`output` may add defaults).
fn assert_subset(input: &Value, output: &Value, path: &str) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => assert_subset(v, w, &format!("{path}.{k}")),
                    // An empty object (`tls: {}`, `healthCheck: {}`) may serialize as absent only
                    // if it is the type's default; none of those is in the sample.
                    None => panic!("`{path}.{k}` was dropped (input {v})"),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "`{path}` length");
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                assert_subset(v, w, &format!("{path}[{i}]"));
            }
        }
        (a, b) => assert_eq!(a, b, "`{path}` changed"),
    }
}

#[test]
fn sample_parses_unchanged() {
    let cfg = sample();
    let input: Value = serde_norway::from_str(SAMPLE).unwrap();
    let output = serde_json::to_value(&cfg).unwrap();
    assert_subset(&input, &output, "");

    // A few typed spot checks.
    let api = &cfg.http.routers["api"];
    assert_eq!(api.priority, Some(100));
    assert_eq!(
        api.tls.as_ref().unwrap().domains[0].sans,
        vec!["*.example.com"]
    );
    assert!(cfg.http.routers["dashboard"].tls.is_some());
    let lb = cfg.http.services["api-v1"].load_balancer.as_ref().unwrap();
    assert!(!lb.pass_host_header);
    assert_eq!(
        lb.health_check.as_ref().unwrap().interval,
        Some(wharf_providers::Duration::from_secs(10))
    );
    assert_eq!(
        lb.response_forwarding.as_ref().unwrap().flush_interval,
        Some(wharf_providers::Duration::from_millis(100))
    );
    let fo = cfg.http.services["api-failover"].failover.as_ref().unwrap();
    assert_eq!(fo.errors.as_ref().unwrap().status, vec!["500-504", "429"]);
    assert_eq!(
        cfg.http.services["api-hrw"]
            .highest_random_weight
            .as_ref()
            .unwrap()
            .services
            .len(),
        2
    );
    assert_eq!(cfg.tls.certificates.len(), 2);
    assert!(cfg.tls.options["modern"].client_auth.is_some());
}

#[test]
fn sample_round_trips_through_yaml_toml_and_json() {
    let cfg = sample();

    let yaml = serde_norway::to_string(&cfg).unwrap();
    let back = parse_str(&yaml, Format::Yaml, "roundtrip.yml").unwrap();
    assert_eq!(back, cfg, "YAML round trip:\n{yaml}");

    let toml_text = toml::to_string(&cfg).unwrap();
    let back = parse_str(&toml_text, Format::Toml, "roundtrip.toml").unwrap();
    assert_eq!(back, cfg, "TOML round trip:\n{toml_text}");

    let json = serde_json::to_string(&cfg).unwrap();
    let back: DynamicConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn lower_case_keys_as_flags_write_them_parse_the_same() {
    // Traefik keys are case-insensitive: a file written in lower case means the same.
    let lower = SAMPLE
        .lines()
        .map(|l| {
            match l
                .find(": ")
                .or_else(|| l.strip_suffix(':').map(|s| s.len()))
            {
                Some(i) if !l.trim_start().starts_with('-') && !l.trim_start().starts_with('#') => {
                    let (k, rest) = l.split_at(i);
                    // Map keys (names, header names) are kept as written: only lower-case known fields.
                    let indent = k.len() - k.trim_start().len();
                    if indent <= 6 && !matches!(indent, 4) {
                        format!("{}{}", k.to_ascii_lowercase(), rest)
                    } else {
                        l.to_string()
                    }
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let cfg = parse_str(&lower, Format::Yaml, "lower.yml").unwrap_or_else(|p| panic!("{p:#?}"));
    assert_eq!(cfg, sample());
}
