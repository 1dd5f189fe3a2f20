//! `bprwire-serve CONFIG.toml`: serves the configuration until SIGTERM or
//! SIGINT, then answers what is in flight and exits 0 (1 if the shutdown
//! deadline passed first, 2 for a configuration or port refused at start).
//! `--check` builds everything start-up builds (model, layout, response
//! plan, each front end's settings, the open-file limit) but the listeners,
//! and exits. SIGHUP is logged and otherwise ignored (one model per
//! process: nothing to reload); it never stops the server.

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
        // Everything start-up builds but the listeners.
        return match bprwire_serve::Prepared::new(config) {
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
    let code = runtime.block_on(async move {
        // Handlers first: a signal that comes as soon as the ports are
        // announced must not find SIGHUP's default (the end of the process).
        let signals = Signals::install();
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
        let rescan = server.rescan_trigger();
        tokio::spawn(async move {
            signals.wait(&rescan).await;
            tracing::info!("signal received");
            signal.cancel();
        });
        match server.run(shutdown).await {
            Ok(()) => {
                tracing::info!("stopped: every call read was answered");
                ExitCode::SUCCESS
            }
            Err(e @ ServeError::Deadline(..)) => {
                eprintln!("bprwire-serve: {e}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("bprwire-serve: {e}");
                ExitCode::from(2)
            }
        }
    });
    // A model load still running on a blocking thread (it stops at its
    // next step) does not hold the exit past a second.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

/// The signals the server takes: SIGTERM and SIGINT stop it; SIGHUP
/// makes it look at its model repository now (with one model in its
/// configuration file, it is logged and serving goes on). Its default
/// action, the end of the process, would drop every call in flight.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            hup: signal(SignalKind::hangup()).expect("SIGHUP handler"),
        }
    }

    /// Waits for SIGTERM or SIGINT; each SIGHUP notifies `rescan`.
    async fn wait(mut self, rescan: &tokio::sync::Notify) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP received: looking at the model repository");
                    rescan.notify_one();
                }
            }
        }
    }
}
