//! Problems found while translating a provider's source into config: the "no silent config
//! errors" promise starts here. Compile attaches each to its item in the report.

use serde::{Deserialize, Serialize};

/// What kind of item a problem belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemKind {
    Router,
    Service,
    Middleware,
    ServersTransport,
    TlsCertificate,
    TlsOptions,
    TlsStore,
    /// A whole source (a file that did not parse, a container whose labels could not be read).
    Source,
}

/// Error disables the item; warning keeps it serving and shows the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem, attached to an item by kind and (unqualified, provider-local) name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    pub kind: ItemKind,
    pub name: String,
    pub severity: Severity,
    /// Where it came from: a label (`traefik.http.routers.a.rulee`), a key path with file and line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn error(kind: ItemKind, name: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            kind,
            name: name.into(),
            severity: Severity::Error,
            location: None,
            message: message.into(),
        }
    }
    pub fn warning(kind: ItemKind, name: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            kind,
            name: name.into(),
            severity: Severity::Warning,
            location: None,
            message: message.into(),
        }
    }
    pub fn at(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{}: {}", loc, self.message),
            None => f.write_str(&self.message),
        }
    }
}
