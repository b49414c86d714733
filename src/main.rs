//! wharf's binary: parses the command line, loads static config, starts providers, compile loop,
//! proxy and API. The only place where `anyhow` is used.
//!
//! Commands: `wharf [run] [flags]` serves; `wharf check` validates static + file-provider config
//! and the compile report (exit 1 on any problem); `wharf version`; `wharf healthcheck --ping`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use wharf::config::{self, Command, Loaded};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: Vec<(String, String)> = std::env::vars().collect();
    let command = match config::parse_command(&args, &env) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems() {
                eprintln!("error: {p}");
            }
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        Command::Version => {
            println!("{}", config::version_text());
            println!(
                "OS/Arch:      {}/{}",
                std::env::consts::OS,
                std::env::consts::ARCH
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Help(text) => {
            println!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(loaded) => run(loaded),
        Command::Check { loaded, problems } => Ok(check(loaded.as_ref(), &problems)),
        Command::Healthcheck { target, .. } => healthcheck(&target),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // With one CPU to run on (a container limited to one core, a process pinned with taskset) a
    // work-stealing scheduler only adds cross-thread wake-ups and atomics: a single-threaded
    // runtime serves the same load for fewer instructions per request (bench/README.md).
    // `TOKIO_WORKER_THREADS` set by the operator keeps the multi-threaded one.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1)
        && std::env::var_os("TOKIO_WORKER_THREADS").is_none();
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run(loaded: Loaded) -> anyhow::Result<ExitCode> {
    wharf::run::init_logging(&loaded.config.log.level, &loaded.config.log.format)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let rt = runtime()?;
    rt.block_on(async {
        let providers =
            wharf::run::start_providers(&loaded.config).context("starting providers")?;
        wharf::run::run(&loaded, providers)
            .await
            .context("wharf stopped")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Prints every problem (static config, file provider, compile report) with its location.
fn check(loaded: Option<&Loaded>, static_problems: &[config::ConfigProblem]) -> ExitCode {
    let mut errors = 0usize;
    for p in static_problems {
        println!("error: {p}");
        errors += 1;
    }
    if let Some(loaded) = loaded {
        for w in &loaded.warnings {
            println!("warning: {w}");
        }
        // Service building may start health-check tasks: give it a runtime.
        let outcome = match runtime() {
            Ok(rt) => rt.block_on(async { wharf::run::check_dynamic(&loaded.config) }),
            Err(e) => {
                println!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        for line in &outcome.lines {
            println!("{line}");
        }
        errors += outcome.errors;
    }
    if errors == 0 {
        println!("configuration OK");
        ExitCode::SUCCESS
    } else {
        println!("{errors} problem(s) found");
        ExitCode::FAILURE
    }
}

fn healthcheck(target: &config::PingTarget) -> anyhow::Result<ExitCode> {
    if target.scheme != "http" {
        anyhow::bail!(
            "the ping entry point `{}` uses TLS; wharf healthcheck speaks plain HTTP only",
            target.entry_point
        );
    }
    let rt = runtime()?;
    match rt.block_on(wharf::run::healthcheck(
        target.addr,
        target.path,
        Duration::from_secs(5),
    )) {
        Ok(()) => {
            println!("OK: {}", target.url());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {}: {e}", target.url());
            Ok(ExitCode::FAILURE)
        }
    }
}
