//! The `defaultRule` template: a small evaluator for the subset of Go's text/template that
//! Traefik documents for `providers.docker.defaultRule` (``Host(`{{ normalize .Name }}`)``).
//! Parsed once from the static config; evaluated by `build()` for each container without a rule.
//!
//! Supported: literal text; actions `{{ ... }}` (with `{{-` / `-}}` trimming); fields `.Name`,
//! `.ContainerName`, `.Labels` (and `.Labels.key` for simple keys); string literals ("..." and
//! `...`); pipelines `a | f`; parentheses; functions `normalize`, `index`, `lower`, `upper`,
//! `trim`, `trimPrefix`, `trimSuffix`, `replace`, `default`, `printf "%s"`-less `print`.

use std::collections::BTreeMap;

/// Why a template did not parse or evaluate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("defaultRule template: unclosed action (missing \"}}}}\")")]
    Unclosed,
    #[error("defaultRule template: {0}")]
    Syntax(String),
    #[error("defaultRule template: unknown function {0:?} (known: normalize, index, lower, upper, trim, trimPrefix, trimSuffix, replace, default, print)")]
    UnknownFunction(String),
    #[error("defaultRule template: unknown field .{0} (known: .Name, .ContainerName, .Labels)")]
    UnknownField(String),
    #[error("defaultRule template: {0}")]
    Eval(String),
}

/// The data a template sees for one container.
#[derive(Debug, Clone, Copy)]
pub struct TemplateModel<'a> {
    /// The service name (compose `service_project`, else the container name), normalized.
    pub name: &'a str,
    /// The container name without Docker's leading `/`.
    pub container_name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Action(Pipeline),
}

type Pipeline = Vec<Command>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Command {
    args: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    /// `.A.B`: path of field names; empty path = `.` (the model itself, unsupported alone).
    Field(Vec<String>),
    Str(String),
    Func(String),
    Paren(Pipeline),
}

/// A parsed template, ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: &[&str] = &[
    "normalize",
    "index",
    "lower",
    "upper",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "default",
    "print",
];

impl Template {
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let mut nodes = Vec::new();
        let mut rest = src;
        let mut trim_next_left = false;
        while let Some(open) = rest.find("{{") {
            let mut text = &rest[..open];
            if trim_next_left {
                text = text.trim_start();
            }
            let after = &rest[open + 2..];
            let (trim_left, after) = match after.strip_prefix("- ") {
                Some(a) => (true, a),
                None => (false, after),
            };
            if trim_left {
                text = text.trim_end();
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.to_string()));
            }
            let close = find_close(after).ok_or(TemplateError::Unclosed)?;
            let mut inner = &after[..close];
            trim_next_left = false;
            if let Some(i) = inner.strip_suffix(" -") {
                inner = i;
                trim_next_left = true;
            }
            rest = &after[close + 2..];
            let tokens = tokenize(inner)?;
            let mut pos = 0;
            let pipe = parse_pipeline(&tokens, &mut pos)?;
            if pos != tokens.len() {
                return Err(TemplateError::Syntax(format!(
                    "unexpected {:?} in action",
                    tokens[pos]
                )));
            }
            if pipe.is_empty() {
                return Err(TemplateError::Syntax("empty action {{ }}".into()));
            }
            nodes.push(Node::Action(pipe));
        }
        let text = if trim_next_left {
            rest.trim_start()
        } else {
            rest
        };
        if !text.is_empty() {
            nodes.push(Node::Text(text.to_string()));
        }
        Ok(Template { nodes })
    }

    /// A template that is only text (no actions).
    pub fn text(s: &str) -> Template {
        Template {
            nodes: vec![Node::Text(s.to_string())],
        }
    }

    pub fn render(&self, model: &TemplateModel<'_>) -> Result<String, TemplateError> {
        let mut out = String::new();
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Action(p) => match eval_pipeline(p, model)? {
                    Value::Str(s) => out.push_str(&s),
                    Value::Map => {
                        return Err(TemplateError::Eval("cannot print a map (use index)".into()))
                    }
                },
            }
        }
        Ok(out)
    }
}

/// Finds the `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Field(Vec<String>),
    Str(String),
    Ident(String),
    Pipe,
    LParen,
    RParen,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, TemplateError> {
    let mut toks = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                toks.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                toks.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                toks.push(Tok::RParen);
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(TemplateError::Syntax("unterminated string".into())),
                        Some('"') => break,
                        Some('\\') => {
                            i += 1;
                            match chars.get(i) {
                                Some('n') => v.push('\n'),
                                Some('t') => v.push('\t'),
                                Some(&o) => v.push(o),
                                None => {
                                    return Err(TemplateError::Syntax("unterminated string".into()))
                                }
                            }
                        }
                        Some(&o) => v.push(o),
                    }
                    i += 1;
                }
                i += 1;
                toks.push(Tok::Str(v));
            }
            '`' => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| TemplateError::Syntax("unterminated raw string".into()))?;
                toks.push(Tok::Str(chars[start..start + end].iter().collect()));
                i = start + end + 1;
            }
            '.' => {
                let mut path = Vec::new();
                while chars.get(i) == Some(&'.') {
                    i += 1;
                    let start = i;
                    while chars
                        .get(i)
                        .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                    {
                        i += 1;
                    }
                    if start == i {
                        break;
                    }
                    path.push(chars[start..i].iter().collect());
                }
                toks.push(Tok::Field(path));
            }
            c if c.is_alphabetic() => {
                let start = i;
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_')
                {
                    i += 1;
                }
                toks.push(Tok::Ident(chars[start..i].iter().collect()));
            }
            other => {
                return Err(TemplateError::Syntax(format!(
                    "unexpected character {other:?}"
                )))
            }
        }
    }
    Ok(toks)
}

fn parse_pipeline(toks: &[Tok], pos: &mut usize) -> Result<Pipeline, TemplateError> {
    let mut pipe = Vec::new();
    loop {
        let mut args = Vec::new();
        while let Some(t) = toks.get(*pos) {
            match t {
                Tok::Pipe | Tok::RParen => break,
                Tok::LParen => {
                    *pos += 1;
                    let inner = parse_pipeline(toks, pos)?;
                    if toks.get(*pos) != Some(&Tok::RParen) {
                        return Err(TemplateError::Syntax("missing )".into()));
                    }
                    *pos += 1;
                    args.push(Term::Paren(inner));
                }
                Tok::Field(p) => {
                    args.push(Term::Field(p.clone()));
                    *pos += 1;
                }
                Tok::Str(s) => {
                    args.push(Term::Str(s.clone()));
                    *pos += 1;
                }
                Tok::Ident(f) => {
                    if !FUNCS.contains(&f.as_str()) {
                        return Err(TemplateError::UnknownFunction(f.clone()));
                    }
                    args.push(Term::Func(f.clone()));
                    *pos += 1;
                }
            }
        }
        if args.is_empty() {
            if pipe.is_empty() && toks.get(*pos).is_none() {
                return Ok(pipe);
            }
            return Err(TemplateError::Syntax("empty command in pipeline".into()));
        }
        if args.len() > 1 && !matches!(args[0], Term::Func(_)) {
            return Err(TemplateError::Syntax(
                "a value cannot take arguments".into(),
            ));
        }
        pipe.push(Command { args });
        if toks.get(*pos) == Some(&Tok::Pipe) {
            *pos += 1;
            continue;
        }
        return Ok(pipe);
    }
}

#[derive(Debug, Clone)]
enum Value {
    Str(String),
    /// Only `.Labels` is a map; `index` reads it.
    Map,
}

fn eval_pipeline(p: &Pipeline, m: &TemplateModel<'_>) -> Result<Value, TemplateError> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        prev = Some(eval_command(cmd, prev.take(), m)?);
    }
    prev.ok_or_else(|| TemplateError::Eval("empty pipeline".into()))
}

fn eval_term(t: &Term, m: &TemplateModel<'_>) -> Result<Value, TemplateError> {
    match t {
        Term::Str(s) => Ok(Value::Str(s.clone())),
        Term::Paren(p) => eval_pipeline(p, m),
        Term::Func(f) => eval_func(f, Vec::new(), m),
        Term::Field(path) => {
            let first = path
                .first()
                .ok_or_else(|| TemplateError::Eval("`.` alone has no value".into()))?;
            match (first.as_str(), path.len()) {
                ("Name", 1) => Ok(Value::Str(m.name.to_string())),
                ("ContainerName", 1) => Ok(Value::Str(m.container_name.to_string())),
                ("Labels", 1) => Ok(Value::Map),
                ("Labels", _) => Ok(Value::Str(
                    m.labels
                        .get(&path[1..].join("."))
                        .cloned()
                        .unwrap_or_default(),
                )),
                _ => Err(TemplateError::UnknownField(path.join("."))),
            }
        }
    }
}

fn eval_command(
    cmd: &Command,
    piped: Option<Value>,
    m: &TemplateModel<'_>,
) -> Result<Value, TemplateError> {
    match &cmd.args[0] {
        Term::Func(f) => {
            let mut args = cmd.args[1..]
                .iter()
                .map(|a| eval_term(a, m))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(v) = piped {
                args.push(v);
            }
            eval_func(f, args, m)
        }
        t => {
            if piped.is_some() {
                return Err(TemplateError::Syntax("cannot pipe into a value".into()));
            }
            eval_term(t, m)
        }
    }
}

fn str_arg(f: &str, v: &Value) -> Result<String, TemplateError> {
    match v {
        Value::Str(s) => Ok(s.clone()),
        Value::Map => Err(TemplateError::Eval(format!(
            "{f}: expected a string, got the Labels map"
        ))),
    }
}

fn eval_func(f: &str, args: Vec<Value>, m: &TemplateModel<'_>) -> Result<Value, TemplateError> {
    let want = |n: usize| -> Result<(), TemplateError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(TemplateError::Eval(format!(
                "{f}: wants {n} argument(s), got {}",
                args.len()
            )))
        }
    };
    let s = |i: usize| str_arg(f, &args[i]);
    Ok(Value::Str(match f {
        "normalize" => {
            want(1)?;
            normalize(&s(0)?)
        }
        "lower" => {
            want(1)?;
            s(0)?.to_lowercase()
        }
        "upper" => {
            want(1)?;
            s(0)?.to_uppercase()
        }
        "trim" => {
            want(1)?;
            s(0)?.trim().to_string()
        }
        "trimPrefix" => {
            want(2)?;
            let v = s(1)?;
            v.strip_prefix(s(0)?.as_str()).unwrap_or(&v).to_string()
        }
        "trimSuffix" => {
            want(2)?;
            let v = s(1)?;
            v.strip_suffix(s(0)?.as_str()).unwrap_or(&v).to_string()
        }
        "replace" => {
            want(3)?;
            s(2)?.replace(s(0)?.as_str(), &s(1)?)
        }
        "default" => {
            want(2)?;
            let v = s(1)?;
            if v.is_empty() {
                s(0)?
            } else {
                v
            }
        }
        "print" => args
            .iter()
            .map(|a| str_arg(f, a))
            .collect::<Result<Vec<_>, _>>()?
            .concat(),
        "index" => {
            want(2)?;
            match &args[0] {
                Value::Map => m.labels.get(&s(1)?).cloned().unwrap_or_default(),
                Value::Str(_) => {
                    return Err(TemplateError::Eval(
                        "index: first argument must be .Labels".into(),
                    ))
                }
            }
        }
        other => return Err(TemplateError::UnknownFunction(other.to_string())),
    }))
}

/// Traefik's `provider.Normalize`: runs of characters that are not letters or digits become
/// one `-`, leading and trailing ones vanish.
pub fn normalize(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, name: &str, labels: &[(&str, &str)]) -> Result<String, TemplateError> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Template::parse(t)?.render(&TemplateModel {
            name,
            container_name: "c-1",
            labels: &labels,
        })
    }

    #[test]
    fn default_rule() {
        assert_eq!(
            render("Host(`{{ normalize .Name }}`)", "web_app", &[]).unwrap(),
            "Host(`web-app`)"
        );
    }

    #[test]
    fn index_labels_and_pipelines() {
        let l = [("com.example.domain", "example.org")];
        assert_eq!(
            render(
                r#"Host(`{{ .Name }}.{{ index .Labels "com.example.domain" }}`)"#,
                "svc",
                &l
            )
            .unwrap(),
            "Host(`svc.example.org`)"
        );
        assert_eq!(
            render("{{ .Name | normalize | upper }}", "a_b", &[]).unwrap(),
            "A-B"
        );
        assert_eq!(
            render("{{ lower (normalize .Name) }}", "A.B", &[]).unwrap(),
            "a-b"
        );
        assert_eq!(render("{{ .ContainerName }}", "x", &[]).unwrap(), "c-1");
        assert_eq!(
            render(r#"{{ index .Labels "missing" | default "d" }}"#, "x", &[]).unwrap(),
            "d"
        );
        assert_eq!(render("a {{- .Name -}} b", "x", &[]).unwrap(), "axb");
    }

    #[test]
    fn errors() {
        assert_eq!(Template::parse("{{ .Name "), Err(TemplateError::Unclosed));
        assert!(
            matches!(Template::parse("{{ nope .Name }}"), Err(TemplateError::UnknownFunction(f)) if f == "nope")
        );
        assert!(matches!(
            render("{{ .Bogus }}", "x", &[]),
            Err(TemplateError::UnknownField(_))
        ));
        assert!(render("{{ .Labels }}", "x", &[]).is_err());
        assert!(Template::parse("{{ }}").is_err());
    }

    #[test]
    fn normalize_like_traefik() {
        assert_eq!(normalize("foo_bar.baz"), "foo-bar-baz");
        assert_eq!(normalize("/my--container_"), "my-container");
        assert_eq!(normalize("whoami_myproject"), "whoami-myproject");
    }
}
