//! `bprwire-serve CONFIG.toml`: serves the configuration until SIGTERM or
//! SIGINT, then answers what is in flight and exits 0 (1 if the shutdown
//! deadline passed first, 2 for a configuration or port refused at start).
//! `--check` reads and checks the configuration (model and response
//! included) and exits.

use std::process::ExitCode;

use bprwire_serve::config::Config;
use bprwire_serve::{ServeError, Server};
use tokio_util::sync::CancellationToken;

const USAGE: &str = "usage: bprwire-serve CONFIG.toml [--check]";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BPRWIRE_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, check) = match args.as_slice() {
        [p] if !p.starts_with('-') => (p.clone(), false),
        [p, c] if c == "--check" => (p.clone(), true),
        [c, p] if c == "--check" => (p.clone(), true),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::load(path.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bprwire-serve: {e}");
            return ExitCode::from(2);
        }
    };
    if check {
        return match bprwire_serve::builtin_model(&config) {
            Ok(_) => {
                println!("{path}: ok");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("bprwire-serve: {e}");
                ExitCode::from(2)
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bprwire-serve: {e}");
                return ExitCode::from(2);
            }
        };
        // The one line a supervisor (or a test) reads to find the ports.
        let grpc = server
            .grpc_addr()
            .map(|a| format!(", grpc on {a}"))
            .unwrap_or_default();
        println!(
            "bprwire-serve: thrift on {}, http on {}{grpc}",
            server.thrift_addr(),
            server.http_addr()
        );
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received");
            signal.cancel();
        });
        match server.run(shutdown).await {
            Ok(()) => {
                tracing::info!("stopped: every call read was answered");
                ExitCode::SUCCESS
            }
            Err(e @ ServeError::Deadline(_)) => {
                eprintln!("bprwire-serve: {e}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("bprwire-serve: {e}");
                ExitCode::from(2)
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
