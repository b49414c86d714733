//! Property tests for the parsers of untrusted text: Docker labels and dynamic files never panic,
//! and every label problem points at a label that exists.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wharf_providers::file::{parse_file, Format};
use wharf_providers::labels;

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("traefik".to_string()),
        Just("http".to_string()),
        Just("routers".to_string()),
        Just("services".to_string()),
        Just("middlewares".to_string()),
        Just("loadbalancer".to_string()),
        Just("server".to_string()),
        Just("servers[0]".to_string()),
        Just("tls".to_string()),
        Just("domains[1]".to_string()),
        Just("rule".to_string()),
        Just("port".to_string()),
        Just("headers".to_string()),
        Just("customrequestheaders".to_string()),
        Just("stripprefix".to_string()),
        Just("prefixes".to_string()),
        Just("tcp".to_string()),
        Just("enable".to_string()),
        "[a-zA-Z0-9@\\[\\]_é€-]{0,6}",
        "tr€[a-z]{0,3}",
    ]
}

fn label_key() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 1..8), any::<bool>()).prop_map(|(segs, prefixed)| {
        let k = segs.join(".");
        if prefixed {
            format!("traefik.{k}")
        } else {
            k
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn labels_never_panic_and_problems_name_real_labels(
        pairs in prop::collection::vec((label_key(), "[ -~]{0,12}"), 0..12)
    ) {
        let labels: BTreeMap<String, String> = pairs.into_iter().collect();
        let out = labels::decode(&labels, labels::DEFAULT_PREFIX);
        for p in &out.problems {
            let loc = p.location.as_deref().unwrap_or_default();
            prop_assert!(labels.contains_key(loc), "problem at unknown label {loc:?}: {p:?}");
        }
    }

    #[test]
    fn yaml_files_never_panic(text in "[ -~\\n]{0,200}") {
        let _ = parse_file(&text, Format::Yaml);
    }

    #[test]
    fn toml_files_never_panic(text in "[ -~\\n]{0,200}") {
        let _ = parse_file(&text, Format::Toml);
    }

    #[test]
    fn structured_yaml_never_panics(
        keys in prop::collection::vec("(http|routers|services|a|rule|tls|loadBalancer|servers|url|- url|weight|0)", 1..10),
        vals in prop::collection::vec("(x|1|true|\\[\\]|\\{\\}|null|-1|\"s\")", 1..10),
    ) {
        let mut text = String::new();
        for (i, (k, v)) in keys.iter().zip(vals.iter().cycle()).enumerate() {
            text.push_str(&" ".repeat(i * 2));
            if i + 1 == keys.len() { text.push_str(&format!("{k}: {v}\n")); } else { text.push_str(&format!("{k}:\n")); }
        }
        let _ = parse_file(&text, Format::Yaml);
    }
}
