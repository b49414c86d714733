//! `wharf check` helper: finds the file and line where a router/service/middleware (and one of
//! its fields) is defined in the file provider's sources, so compile-report errors (which know
//! item names, not files) print with a location. A text scan of YAML and TOML, best effort: when
//! nothing is found the error prints with its key path only.

use std::path::{Path, PathBuf};

/// The dynamic files of the file provider with their text.
pub(super) fn read_sources(filename: &str, directory: &str) -> Vec<(PathBuf, String)> {
    let mut paths = Vec::new();
    if !filename.is_empty() {
        paths.push(PathBuf::from(filename));
    }
    if !directory.is_empty() {
        collect(Path::new(directory), &mut paths);
    }
    paths
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect()
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            collect(&p, out);
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml" | "toml")
        ) {
            out.push(p);
        }
    }
}

/// Which field of the item an error message is about (compile's messages start predictably).
pub(super) fn field_of(kind: &str, message: &str) -> Option<&'static str> {
    let m = message;
    match kind {
        "router"
            if m.starts_with("invalid rule")
                || m.contains("has no rule")
                || m.starts_with("unknown rule syntax") =>
        {
            Some(if m.starts_with("unknown rule syntax") {
                "ruleSyntax"
            } else {
                "rule"
            })
        }
        "router" if m.starts_with("service `") || m.contains("has no service") => Some("service"),
        "router" if m.starts_with("middleware `") => Some("middlewares"),
        "router" if m.starts_with("entry point") || m.contains("entry point for this router") => {
            Some("entryPoints")
        }
        "service" if m.starts_with("servers[") => Some("loadBalancer.servers"),
        "service" if m.starts_with("serversTransport") => Some("loadBalancer.serversTransport"),
        _ => None,
    }
}

/// `(file, 1-based line)` of `http.<section>.<name>` (and of `field`'s first segment inside it
/// when given and found).
pub(super) fn find(
    sources: &[(PathBuf, String)],
    section: &str,
    name: &str,
    field: Option<&str>,
) -> Option<(PathBuf, usize)> {
    let field_key = field.and_then(|f| f.split('.').next());
    for (path, text) in sources {
        let is_toml = path.extension().and_then(|e| e.to_str()) == Some("toml");
        let found = if is_toml {
            find_toml(text, section, name, field_key)
        } else {
            find_yaml(text, section, name, field_key)
        };
        if let Some(line) = found {
            return Some((path.clone(), line));
        }
    }
    None
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches(|c| c == '"' || c == '\'')
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn find_yaml(text: &str, section: &str, name: &str, field: Option<&str>) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut in_section: Option<usize> = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(si) = in_section {
            if indent(line) <= si {
                in_section = None;
            }
        }
        if let Some((k, _)) = t.split_once(':') {
            if unquote(k).eq_ignore_ascii_case(section) {
                in_section = Some(indent(line));
                continue;
            }
            if in_section.is_some() && unquote(k) == name {
                let item_indent = indent(line);
                if let Some(f) = field {
                    for (j, l) in lines.iter().enumerate().skip(i + 1) {
                        if l.trim().is_empty() || l.trim().starts_with('#') {
                            continue;
                        }
                        if indent(l) <= item_indent {
                            break;
                        }
                        if l.trim()
                            .split_once(':')
                            .is_some_and(|(k, _)| unquote(k).eq_ignore_ascii_case(f))
                        {
                            return Some(j + 1);
                        }
                    }
                }
                return Some(i + 1);
            }
        }
    }
    None
}

fn find_toml(text: &str, section: &str, name: &str, field: Option<&str>) -> Option<usize> {
    let header = format!("[http.{section}.{name}]").to_ascii_lowercase();
    let quoted = format!("[http.{section}.\"{name}\"]").to_ascii_lowercase();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim().to_ascii_lowercase();
        if t == header || t == quoted {
            if let Some(f) = field {
                for (j, l) in lines.iter().enumerate().skip(i + 1) {
                    let lt = l.trim();
                    if lt.starts_with('[') {
                        break;
                    }
                    if lt
                        .split_once('=')
                        .is_some_and(|(k, _)| unquote(k).eq_ignore_ascii_case(f))
                    {
                        return Some(j + 1);
                    }
                }
            }
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_yaml_and_toml_fields() {
        let yaml = "http:\n  routers:\n    api:\n      service: s\n      rule: \"Host(`a`\"\n    other:\n      rule: x\n";
        let toml = "[http.routers.api]\nservice = \"s\"\nrule = \"Host(`a`\"\n";
        let src = vec![
            (PathBuf::from("a.yml"), yaml.to_string()),
            (PathBuf::from("b.toml"), toml.to_string()),
        ];
        assert_eq!(
            find(&src, "routers", "api", Some("rule")),
            Some((PathBuf::from("a.yml"), 5))
        );
        assert_eq!(
            find(&src, "routers", "other", None),
            Some((PathBuf::from("a.yml"), 6))
        );
        assert_eq!(
            find(&src[1..], "routers", "api", Some("rule")),
            Some((PathBuf::from("b.toml"), 3))
        );
        assert_eq!(find(&src, "routers", "nope", None), None);
    }
}
