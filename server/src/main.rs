use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigil_server::config::{Config, ConfigError, Settings};
use sigil_server::service::bootstrap::Bootstrap;
use sigil_server::{App, telemetry};

/// Sigil, an OAuth2 / OpenID Connect identity provider.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Validate the configuration and exit.
    CheckConfig(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// A TOML file with settings; flags and environment variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

fn load(args: ServeArgs) -> Result<Config, ConfigError> {
    let settings = match &args.config {
        Some(path) => args.settings.over(Settings::from_toml_file(path)?)?,
        None => args.settings,
    };
    Config::from_settings(settings)
}

fn main() -> ExitCode {
    // A missing .env is normal; a broken one is reported by the variable it fails to set.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let (args, check_only) = match cli.command {
        Some(Command::Serve(args)) => (args, false),
        Some(Command::CheckConfig(args)) => (args, true),
        None => (cli.serve, false),
    };
    let config = match load(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if check_only {
        println!(
            "configuration ok (issuer {}, listen {})",
            config.issuer, config.listen
        );
        return ExitCode::SUCCESS;
    }
    telemetry::init(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitCode {
    let data_dir = config.data_dir.clone();
    let app = match App::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("sigil: start-up failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        address = %app.local_addr(),
        issuer = %app.state().config.issuer,
        data_dir = %data_dir.display(),
        "sigil is listening"
    );
    match app.bootstrap() {
        Bootstrap::Generated { email, password } => {
            // Printed once, to the terminal only, never to the log stream.
            eprintln!(
                "\n  Created the first admin account.\n    email:    {email}\n    password: {}\n  Store it now; it is not shown again.\n",
                password.as_str()
            );
        }
        Bootstrap::Created { email } => {
            tracing::info!(%email, "created the bootstrap admin with the configured password");
        }
        Bootstrap::NotNeeded => {}
    }
    let handle = app.shutdown_handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
        handle.stop();
    });
    app.run_until_stopped().await;
    tracing::info!("sigil stopped");
    ExitCode::SUCCESS
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
