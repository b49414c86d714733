//! Static configuration (Traefik v3 keys) and the command line: the first step of the flow.
//! `parse_command` reads the arguments and environment, loads the static file (YAML/TOML,
//! `--configFile` or found where Traefik looks), the `TRAEFIK_*`/`WHARF_*` variables and the
//! `--a.b.c=v` flags, merges them with precedence CLI > environment > file (and `WHARF_*` over
//! `TRAEFIK_*`), and returns what to do: run, check, print the version, health-check, or help.
//! main wires the result into providers, compile and the listeners.
//!
//! Differences from Traefik, on purpose:
//! - Traefik reads a single source (flags, or file, or env); wharf merges all three (see
//!   [`load`](load::load)). With one source the result is the same.
//! - `providers.providersThrottleDuration` defaults to 100ms (Traefik 2s): wharf promises a
//!   change serves within 1 s.
//! - `providers.docker.allowEmptyServices` defaults to true (Traefik false): a starting or
//!   unhealthy container shows a 503 router instead of vanishing into a 404.
//! - `providers.docker.labelPrefix` (default `traefik`) is wharf's addition.
//! - An unknown environment variable with the `WHARF_`/`TRAEFIK_` prefix only warns
//!   (Kubernetes injects `WHARF_PORT`-style service variables); an unknown key in a file or a
//!   flag is an error naming the nearest valid key.
//! - `wharf run [flags]` is accepted as well as `wharf [flags]`.

mod address;
mod load;
mod merge;
mod sources;
mod types;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use address::{parse_address, AddressError, ListenAddress};
pub use load::{load, LoadInput, Loaded, Sources};
pub use sources::{find_config_file, search_dirs, split_key, FlagItem, ENV_PREFIXES, FILE_NAMES};
pub use types::*;

/// Where a problem's key was set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The static file.
    File(PathBuf),
    /// A command-line flag, as written.
    Flag(String),
    /// An environment variable, by name.
    Env(String),
    /// The command line itself (not a key).
    Args,
    /// A derived default (e.g. the `traefik` entry point that `api.insecure` creates).
    Default,
}

/// One configuration problem with its location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub origin: Origin,
    /// Canonical or user-spelled key path (`entryPoints.web.address`); empty for whole-source
    /// problems such as a syntax error.
    pub key: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File(p) => {
                write!(f, "{}", p.display())?;
                if let Some(l) = self.line {
                    write!(f, ":{l}")?;
                }
                f.write_str(": ")?;
            }
            Origin::Flag(flag) => write!(f, "flag {flag}: ")?,
            Origin::Env(var) => write!(f, "env {var}: ")?,
            Origin::Args => f.write_str("command line: ")?,
            Origin::Default => {}
        }
        // The canonicalizer's messages already name the key (`unknown key `api.insecur``).
        if !self.key.is_empty() && !self.message.contains(&format!("`{}`", self.key)) {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why the static configuration or the command line cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Every problem found (file, flags, values), each with its location.
    #[error("{}", join_problems(.0))]
    Invalid(Vec<ConfigProblem>),
    /// A command-line usage error (unknown command, missing value).
    #[error("{0}")]
    Usage(String),
}

impl ConfigError {
    /// The problems as a list (a usage error is one problem located at the command line).
    pub fn problems(&self) -> Vec<ConfigProblem> {
        match self {
            ConfigError::Invalid(p) => p.clone(),
            ConfigError::Usage(m) => {
                vec![ConfigProblem {
                    origin: Origin::Args,
                    key: String::new(),
                    line: None,
                    message: m.clone(),
                }]
            }
        }
    }
}

fn join_problems(p: &[ConfigProblem]) -> String {
    p.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where `wharf healthcheck` sends its request: the ping entry point's address (loopback when
/// it listens on all interfaces) and `/ping`, as Traefik's healthcheck command does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PingTarget {
    pub entry_point: String,
    pub addr: SocketAddr,
    /// `http` or `https` (when the entry point has `http.tls`).
    pub scheme: &'static str,
    /// Always `/ping`.
    pub path: &'static str,
}

impl PingTarget {
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.addr, self.path)
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Serve (`wharf [flags]` or `wharf run [flags]`).
    Run(Loaded),
    /// `wharf check [flags]`: validate; `problems` holds every static-config problem (the
    /// runtime adds dynamic-file checks using `loaded`'s file provider). Exit 1 if any.
    Check {
        loaded: Option<Loaded>,
        problems: Vec<ConfigProblem>,
    },
    /// `wharf version`.
    Version,
    /// `wharf healthcheck [flags]`: GET the ping endpoint, exit 0 on 200.
    Healthcheck { loaded: Loaded, target: PingTarget },
    /// `--help`, `-h` or `wharf help`: the text to print (exit 0).
    Help(String),
}

/// The version line `wharf version` prints.
pub fn version_text() -> String {
    format!(
        "wharf {} (Traefik v3 compatible)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Parses the command line (`args` WITHOUT the program name, i.e. `std::env::args().skip(1)`)
/// and the environment (`std::env::vars()`), and loads the static configuration.
///
/// Flag forms: `--a.b.c=v`, `--a.b.c v` (the next argument is the value unless it starts with
/// `-`; for a boolean key or a section it must be `true` or `false`), bare `--a.b.c` = true;
/// one leading dash works too. Keys are case-insensitive; `--configFile`/`--configfile` names
/// the file.
pub fn parse_command(args: &[String], env: &[(String, String)]) -> Result<Command, ConfigError> {
    // Tolerate a program name passed by mistake (`std::env::args()` without `skip(1)`), also
    // when wharf is installed under Traefik's name.
    let args = match args.first() {
        Some(a0)
            if matches!(
                Path::new(a0).file_name().and_then(|n| n.to_str()),
                Some("wharf" | "traefik")
            ) =>
        {
            &args[1..]
        }
        _ => args,
    };
    let mut rest = args;
    let mut command = "run";
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            command = match first.to_ascii_lowercase().as_str() {
                "run" => "run",
                "check" => "check",
                "version" => "version",
                "healthcheck" => "healthcheck",
                "help" => "help",
                other => {
                    return Err(ConfigError::Usage(format!(
                        "unknown command {other:?} (commands: run, check, version, healthcheck, help; see `wharf --help`)"
                    )))
                }
            };
            rest = &args[1..];
        }
    }
    let parsed = parse_flags(rest)?;
    if parsed.help || command == "help" {
        return Ok(Command::Help(help_text()));
    }
    let input = || LoadInput {
        flags: &parsed.items,
        config_file: parsed.config_file.as_deref(),
        env,
    };
    match command {
        "version" => Ok(Command::Version),
        "check" => match load(input()) {
            Ok(l) => Ok(Command::Check {
                loaded: Some(l),
                problems: Vec::new(),
            }),
            Err(e) => Ok(Command::Check {
                loaded: None,
                problems: e.problems(),
            }),
        },
        "healthcheck" => {
            let loaded = load(input())?;
            let target = ping_target(&loaded.config)?;
            Ok(Command::Healthcheck { loaded, target })
        }
        _ => Ok(Command::Run(load(input())?)),
    }
}

/// The ping endpoint of a loaded configuration (Traefik's healthcheck needs `ping` enabled).
pub fn ping_target(config: &StaticConfig) -> Result<PingTarget, ConfigError> {
    let ping = config.ping.as_ref().ok_or_else(|| {
        ConfigError::Usage("please enable `ping` to use the health check (--ping)".into())
    })?;
    let ep = config.entry_points.get(&ping.entry_point).ok_or_else(|| {
        ConfigError::Usage(format!(
            "the ping entry point {:?} is not defined",
            ping.entry_point
        ))
    })?;
    let addr = parse_address(&ep.address).map_err(|e| {
        ConfigError::Usage(format!("entryPoints.{}.address: {e}", ping.entry_point))
    })?;
    Ok(PingTarget {
        entry_point: ping.entry_point.clone(),
        addr: addr.local_target(),
        scheme: if ep.http.tls.is_some() {
            "https"
        } else {
            "http"
        },
        path: "/ping",
    })
}

struct ParsedFlags {
    items: Vec<FlagItem>,
    config_file: Option<PathBuf>,
    help: bool,
}

fn parse_flags(args: &[String]) -> Result<ParsedFlags, ConfigError> {
    let mut out = ParsedFlags {
        items: Vec::new(),
        config_file: None,
        help: false,
    };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(body) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            return Err(ConfigError::Usage(format!(
                "unexpected argument {arg:?} (flags look like --entryPoints.web.address=:80)"
            )));
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name.eq_ignore_ascii_case("help") || name == "h" {
            out.help = true;
            continue;
        }
        let path = split_key(name);
        let takes_next = |next: &str| {
            if next.starts_with('-') {
                return false;
            }
            if load::is_bool_or_section(&path) {
                return next.eq_ignore_ascii_case("true") || next.eq_ignore_ascii_case("false");
            }
            true
        };
        if name.eq_ignore_ascii_case("configfile") {
            let value = match inline {
                Some(v) => v,
                None if i < args.len() && !args[i].starts_with('-') => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => return Err(ConfigError::Usage("--configFile needs a path".into())),
            };
            out.config_file = Some(PathBuf::from(value));
            continue;
        }
        let (value, text) = match inline {
            Some(v) => (v, arg.clone()),
            None if i < args.len() && takes_next(&args[i]) => {
                i += 1;
                (args[i - 1].clone(), format!("{arg} {}", args[i - 1]))
            }
            None => ("true".to_string(), arg.clone()),
        };
        out.items.push(FlagItem { text, path, value });
    }
    Ok(out)
}

/// `wharf --help`.
pub fn help_text() -> String {
    let mut s = String::new();
    s.push_str(&version_text());
    s.push_str(
        "\n\nUsage:\n  wharf [run] [--key=value ...]      serve (Traefik v3 static keys as flags)\n  wharf check [--configFile=FILE]    validate the static (and file-provider) configuration\n  wharf healthcheck --ping           exit 0 when the running instance answers /ping\n  wharf version                      print the version\n\nConfiguration sources, highest precedence first:\n  flags        --entryPoints.web.address=:80  --api.insecure=true  --providers.docker\n  environment  WHARF_ENTRYPOINTS_WEB_ADDRESS=:80, then TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:80\n  file         --configFile=FILE, else traefik.{yml,yaml,toml} or wharf.{yml,yaml,toml} in\n               /etc/traefik, $XDG_CONFIG_HOME, $HOME/.config, the working directory\nKeys are case-insensitive and named as in Traefik v3's static configuration reference.\n",
    );
    s
}

#[cfg(test)]
mod tests;
