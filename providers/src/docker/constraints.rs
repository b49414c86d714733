//! `providers.docker.constraints`: the expression Traefik matches against a container's labels
//! to decide whether the container makes any route (``Label(`a`,`b`) && !LabelRegex(`c`,`d.*`)``).
//! Parsed once from the static config; `build()` evaluates it per container.

use std::collections::BTreeMap;

use regex::Regex;

/// Why a constraints expression did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("providers.docker.constraints: {message} at offset {offset}")]
pub struct ConstraintError {
    pub message: String,
    pub offset: usize,
}

/// A parsed constraints expression.
#[derive(Debug, Clone)]
pub enum Constraint {
    /// The label is present with exactly this value.
    Label(String, String),
    /// The label is present and its value matches (unanchored, as Go's `MatchString`).
    LabelRegex(String, Regex),
    Not(Box<Constraint>),
    And(Box<Constraint>, Box<Constraint>),
    Or(Box<Constraint>, Box<Constraint>),
}

impl Constraint {
    pub fn parse(src: &str) -> Result<Constraint, ConstraintError> {
        let mut p = Parser {
            s: src.as_bytes(),
            src,
            pos: 0,
        };
        let c = p.or()?;
        p.ws();
        if p.pos != p.s.len() {
            return Err(p.err("unexpected text after the expression"));
        }
        Ok(c)
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Constraint::Label(k, v) => labels.get(k) == Some(v),
            Constraint::LabelRegex(k, re) => labels.get(k).is_some_and(|v| re.is_match(v)),
            Constraint::Not(c) => !c.matches(labels),
            Constraint::And(a, b) => a.matches(labels) && b.matches(labels),
            Constraint::Or(a, b) => a.matches(labels) || b.matches(labels),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, m: &str) -> ConstraintError {
        ConstraintError {
            message: m.to_string(),
            offset: self.pos,
        }
    }
    fn ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.src[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Result<Constraint, ConstraintError> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = Constraint::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Constraint, ConstraintError> {
        let mut left = self.unary()?;
        while self.eat("&&") {
            let right = self.unary()?;
            left = Constraint::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Constraint, ConstraintError> {
        if self.eat("!") {
            return Ok(Constraint::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let c = self.or()?;
            if !self.eat(")") {
                return Err(self.err("missing )"));
            }
            return Ok(c);
        }
        self.ws();
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            self.pos += 1;
        }
        let name = &self.src[start..self.pos];
        match name {
            "Label" | "LabelRegex" => {}
            "" => return Err(self.err("expected Label(...), LabelRegex(...), ! or (")),
            _ => {
                self.pos = start;
                return Err(self.err(&format!(
                    "unknown matcher {name:?} (use Label or LabelRegex)"
                )));
            }
        }
        if !self.eat("(") {
            return Err(self.err("expected ("));
        }
        let key = self.string()?;
        if !self.eat(",") {
            return Err(self.err("expected , between the two arguments"));
        }
        let value = self.string()?;
        if !self.eat(")") {
            return Err(self.err("expected )"));
        }
        if name == "Label" {
            Ok(Constraint::Label(key, value))
        } else {
            let re =
                Regex::new(&value).map_err(|e| self.err(&format!("bad regex {value:?}: {e}")))?;
            Ok(Constraint::LabelRegex(key, re))
        }
    }
    /// A backquoted or double-quoted string.
    fn string(&mut self) -> Result<String, ConstraintError> {
        self.ws();
        let q = match self.s.get(self.pos) {
            Some(&q @ (b'`' | b'"')) => q,
            _ => return Err(self.err("expected a `quoted` string")),
        };
        let start = self.pos + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == q)
            .ok_or_else(|| self.err("unterminated string"))?;
        self.pos = start + end + 1;
        Ok(self.src[start..start + end].to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(l: &[(&str, &str)]) -> BTreeMap<String, String> {
        l.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matches_like_traefik() {
        let l = labels(&[("env", "prod"), ("team", "payments-eu")]);
        let t = |e: &str| Constraint::parse(e).unwrap().matches(&l);
        assert!(t("Label(`env`, `prod`)"));
        assert!(!t("Label(`env`, `dev`)"));
        assert!(t("LabelRegex(`team`, `pay.*`)"));
        assert!(t("LabelRegex(`team`, `eu`)"));
        assert!(!t("LabelRegex(`missing`, `.*`)"));
        assert!(t("!Label(`env`,`dev`) && Label(`env`,`prod`)"));
        assert!(t("Label(`env`,`dev`) || Label(`team`,`payments-eu`)"));
        assert!(!t("!(Label(`env`,`prod`) || Label(`x`,`y`))"));
        assert!(t(r#"Label("env", "prod")"#));
        // && binds tighter than ||.
        assert!(t("Label(`a`,`b`) && Label(`c`,`d`) || Label(`env`,`prod`)"));
    }

    #[test]
    fn errors_are_precise() {
        for bad in [
            "",
            "Label(`a`)",
            "Lable(`a`,`b`)",
            "Label(`a`,`b`) &&",
            "(Label(`a`,`b`)",
            "LabelRegex(`a`,`(`)",
            "Label(`a`,`b`) x",
        ] {
            assert!(Constraint::parse(bad).is_err(), "{bad} should fail");
        }
        let e = Constraint::parse("Lable(`a`,`b`)").unwrap_err();
        assert!(e.message.contains("Lable"), "{e}");
    }
}
