//! The `easeld` binary: arguments, logging, signals. Everything else is
//! in the library (`easel_daemon::run`).

use clap::{Parser, Subcommand};
use easel_daemon::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "easeld",
    version,
    about = "The easel installation daemon: generators, MQTT control, gallery page"
)]
struct Cli {
    /// TOML configuration; without it easeld runs on its embedded defaults.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Subcommand)]
enum Sub {
    /// Validate a configuration file and list every problem in it.
    Check,
    /// Print a password file line for NAME (`[mqtt] password_file`) from
    /// the password on standard input.
    Passwd {
        /// The user: a controller's id, or a name listed in `[mqtt] admins`.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    easel_daemon::logs::init();
    if let Some(Sub::Passwd { name }) = &cli.command {
        return passwd(name);
    }
    // `check` runs every check start-up runs, the disk's included.
    if let (Some(Sub::Check), Some(path)) = (&cli.command, &cli.config) {
        return match Config::check(path) {
            Ok(config) => {
                for w in Config::warnings(path, &config) {
                    let line = w.line.map(|l| format!("{l}:")).unwrap_or_default();
                    eprintln!(
                        "{}:{line} {}: warning: {}",
                        path.display(),
                        w.key,
                        w.message
                    );
                }
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    let config = match &cli.config {
        Some(path) => match Config::load(path) {
            Ok(config) => config,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        },
        None if matches!(cli.command, Some(Sub::Check)) => {
            eprintln!("easeld check needs --config FILE");
            return ExitCode::from(2);
        }
        None => Config::embedded_defaults(),
    };
    // What start-up ignores is said once; what it meets on disk (a model
    // that does not load) the piece says as it meets it.
    if let Some(path) = &cli.config {
        for w in Config::warnings(path, &config) {
            tracing::warn!("{}: {}: {}", path.display(), w.key, w.message);
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Handlers are installed before anything starts: a SIGTERM while
    // models load must still mean "stop cleanly", not the default kill.
    let shutdown = {
        let _runtime = runtime.enter();
        shutdown_signal()
    };
    let result = runtime.block_on(easel_daemon::run(config, shutdown));
    // A thread still busy (a model half-loaded, a file read that hangs)
    // must not hold the exit: dropping the runtime would wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("easeld: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `easeld passwd NAME`: one `NAME:$argon2id$…` line on stdout.
fn passwd(name: &str) -> ExitCode {
    if !easel_protocol::is_valid_node_id(name) {
        eprintln!("easeld passwd: {name:?} is not [a-z0-9_-]{{1,32}}");
        return ExitCode::from(2);
    }
    let mut password = String::new();
    if std::io::stdin().read_line(&mut password).is_err() {
        eprintln!("easeld passwd: cannot read the password from standard input");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("easeld passwd: the password on standard input is empty");
        return ExitCode::from(2);
    }
    match easel_daemon::mqtt::gate::hash_password(password) {
        Ok(hash) => {
            println!("{name}:{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("easeld passwd: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the SIGINT/SIGTERM handlers now (inside the runtime); the
/// future resolves on either signal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    }
}
