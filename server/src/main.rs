use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sigil_server::audit::Acting;
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
    /// Rotate the signing keys (with the embedded store, stop the server first).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage OAuth clients directly in the store (with the embedded store, stop the server
    /// first: one process owns the data file).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Manage API resources (RFC 8707) directly in the store (with the embedded store, stop
    /// the server first).
    Resources {
        #[command(subcommand)]
        command: ResourcesCommand,
    },
    /// Manage users directly in the store (with the embedded store, stop the server first).
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create an administrator, active and with the email verified; prints it as JSON. The
    /// password is read from stdin with --password-stdin (never from the command line, which
    /// other users can see), or generated and printed once on stderr.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        server: ServeArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Publish a new key now; it signs after two JWKS cache lifetimes. With
    /// --revoke-current the active key is dropped at once and the new key signs immediately.
    Rotate {
        #[arg(long)]
        revoke_current: bool,
        #[command(flatten)]
        server: ServeArgs,
    },
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Register a client; prints it as JSON, with the secret of a confidential client (shown
    /// this once).
    Create {
        /// Boxed: the client's settings outweigh every other command's.
        #[command(flatten)]
        client: Box<ClientArgs>,
        #[command(flatten)]
        server: ServeArgs,
    },
    /// List the registered clients as JSON.
    List {
        #[command(flatten)]
        server: ServeArgs,
    },
}

#[derive(Subcommand)]
enum ResourcesCommand {
    /// Register an API resource; prints it as JSON.
    Create {
        /// Absolute URI: the `aud` of tokens for this resource.
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: String,
        /// A scope the resource defines; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Client id of a service that serves the resource (may introspect its tokens).
        #[arg(long = "resource-server")]
        resource_servers: Vec<String>,
        #[command(flatten)]
        server: ServeArgs,
    },
    /// List the registered API resources as JSON.
    List {
        #[command(flatten)]
        server: ServeArgs,
    },
}

#[derive(clap::Args)]
struct ClientArgs {
    #[arg(long)]
    name: String,
    /// confidential or public
    #[arg(long = "type", default_value = "confidential")]
    client_type: String,
    /// Repeat for several.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// authorization_code, refresh_token, client_credentials; repeat for several
    /// (default: authorization_code and refresh_token).
    #[arg(long = "grant-type")]
    grant_types: Vec<String>,
    /// Repeat for several (default: openid profile email).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// Skip the consent screen (Sigil's own applications).
    #[arg(long)]
    first_party: bool,
    /// Accept only pushed authorization requests from this client (RFC 9126).
    #[arg(long)]
    require_pushed_requests: bool,
    /// Excuse a confidential client from PKCE (legacy clients that cannot send it).
    #[arg(long)]
    without_pkce: bool,
    /// Accept only signed request objects from this client (RFC 9101).
    #[arg(long)]
    require_signed_requests: bool,
    /// Accept only token requests with a DPoP proof: every access token bound (RFC 9449).
    #[arg(long)]
    require_dpop: bool,
    /// client_secret_basic (default for confidential), client_secret_post,
    /// client_secret_jwt, private_key_jwt, none (public).
    #[arg(long)]
    auth_method: Option<String>,
    /// A file holding the client's public keys (a JWKS), for private_key_jwt.
    #[arg(long)]
    jwks_file: Option<PathBuf>,
    /// Or the URL where the client publishes them.
    #[arg(long)]
    jwks_uri: Option<String>,
}

#[derive(clap::Args, Clone)]
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
        Some(Command::Clients { command }) => return clients_command(command),
        Some(Command::Keys { command }) => return keys_command(command),
        Some(Command::Resources { command }) => return resources_command(command),
        Some(Command::Users { command }) => return users_command(command),
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
        tracing::info!("shutdown requested");
        handle.drain().await;
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

/// Runs an administrative command against the store: loads the configuration as `serve`
/// does, prints the command's JSON answer, or its error on stderr.
fn run_tool<Fut>(name: &str, server: ServeArgs, work: impl FnOnce(Config) -> Fut) -> ExitCode
where
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let config = match load(server) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work(config)) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("sigil {name}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An API error as one line: the field errors when there are some.
fn error_line(e: sigil_server::error::ApiError) -> String {
    let details: Vec<String> = e
        .details
        .iter()
        .map(|d| format!("{}: {}", d.field, d.message))
        .collect();
    if details.is_empty() {
        e.message
    } else {
        details.join("; ")
    }
}

fn clients_command(command: ClientsCommand) -> ExitCode {
    let server = match &command {
        ClientsCommand::Create { server, .. } | ClientsCommand::List { server } => server.clone(),
    };
    run_tool("clients", server, |config| {
        run_clients_command(command, config)
    })
}

async fn run_clients_command(command: ClientsCommand, config: Config) -> Result<String, String> {
    use sigil_server::service::oauth::clients::{self, ClientInput};
    use sigil_server::views;
    let state = sigil_server::startup::tool_state(config)
        .await
        .map_err(|e| e.to_string())?;
    let value = match command {
        ClientsCommand::Create { client, .. } => {
            let jwks = match &client.jwks_file {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .map_err(|e| format!("{}: {e}", path.display()))
                        .and_then(|text| {
                            serde_json::from_str(&text)
                                .map_err(|e| format!("{}: not JSON: {e}", path.display()))
                        })?,
                ),
                None => None,
            };
            let input = ClientInput {
                name: Some(client.name),
                client_type: Some(client.client_type),
                redirect_uris: client.redirect_uris,
                post_logout_redirect_uris: client.post_logout_redirect_uris,
                grant_types: (!client.grant_types.is_empty()).then_some(client.grant_types),
                scopes: (!client.scopes.is_empty()).then_some(client.scopes),
                first_party: client.first_party,
                require_pushed_authorization_requests: client.require_pushed_requests,
                require_pkce: Some(!client.without_pkce),
                require_signed_request_object: client.require_signed_requests,
                dpop_bound_access_tokens: client.require_dpop,
                token_endpoint_auth_method: client.auth_method,
                jwks,
                jwks_uri: client.jwks_uri,
            };
            let (created, secret) = clients::create(&state, input, &Acting::command_line())
                .await
                .map_err(error_line)?;
            serde_json::to_string_pretty(&views::client(&created, secret))
        }
        ClientsCommand::List { .. } => {
            let list = state
                .stores
                .clients
                .list_clients()
                .await
                .map_err(|e| e.to_string())?;
            let shown: Vec<_> = list.iter().map(|c| views::client(c, None)).collect();
            serde_json::to_string_pretty(&shown)
        }
    };
    value.map_err(|e| e.to_string())
}

fn resources_command(command: ResourcesCommand) -> ExitCode {
    let server = match &command {
        ResourcesCommand::Create { server, .. } | ResourcesCommand::List { server } => {
            server.clone()
        }
    };
    run_tool("resources", server, |config| async move {
        use sigil_server::service::api_resources::{self, ResourceInput};
        use sigil_server::views;
        let state = sigil_server::startup::tool_state(config)
            .await
            .map_err(|e| e.to_string())?;
        let value = match command {
            ResourcesCommand::Create {
                identifier,
                name,
                scopes,
                resource_servers,
                ..
            } => {
                let input = ResourceInput {
                    identifier: Some(identifier),
                    name: Some(name),
                    scopes: Some(scopes),
                    resource_servers: Some(resource_servers),
                };
                let created = api_resources::create(&state, input, &Acting::command_line())
                    .await
                    .map_err(error_line)?;
                serde_json::to_string_pretty(&views::resource(&created))
            }
            ResourcesCommand::List { .. } => {
                let list = state
                    .stores
                    .resources
                    .list_resources()
                    .await
                    .map_err(|e| e.to_string())?;
                let shown: Vec<_> = list.iter().map(views::resource).collect();
                serde_json::to_string_pretty(&shown)
            }
        };
        value.map_err(|e| e.to_string())
    })
}

fn keys_command(command: KeysCommand) -> ExitCode {
    let KeysCommand::Rotate {
        revoke_current,
        server,
    } = command;
    run_tool("keys rotate", server, |config| async move {
        let state = sigil_server::startup::tool_state(config)
            .await
            .map_err(|e| e.to_string())?;
        let keys = sigil_server::service::admin::rotate_keys(
            &state,
            revoke_current,
            &Acting::command_line(),
        )
        .await
        .map_err(error_line)?;
        serde_json::to_string_pretty(&keys).map_err(|e| e.to_string())
    })
}

fn users_command(command: UsersCommand) -> ExitCode {
    let UsersCommand::CreateAdmin {
        email,
        username,
        password_stdin,
        server,
    } = command;
    run_tool("users create-admin", server, |config| async move {
        use sigil_server::service::{admin, bootstrap};
        let password = if password_stdin {
            let mut text = zeroize::Zeroizing::new(String::new());
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("reading the password from stdin: {e}"))?;
            let line = text.strip_suffix('\n').unwrap_or(&text);
            zeroize::Zeroizing::new(line.strip_suffix('\r').unwrap_or(line).to_owned())
        } else {
            bootstrap::generate_password()
        };
        let state = sigil_server::startup::tool_state(config)
            .await
            .map_err(|e| e.to_string())?;
        let input = admin::NewUserInput {
            email: Some(email),
            username: Some(username),
            password: Some(password.to_string()),
            first_name: None,
            last_name: None,
            phone: None,
            roles: Some(vec!["admin".to_owned()]),
            status: Some("active".to_owned()),
            email_verified: Some(true),
        };
        let user = admin::create(&state, input, &Acting::command_line())
            .await
            .map_err(error_line)?;
        tracing::info!(event = "cli.admin_created", user_id = %user.id, "created an admin from the command line");
        if !password_stdin {
            // Printed once, to the terminal only, never to the log stream.
            eprintln!("password: {}", password.as_str());
        }
        let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
        let view = serde_json::json!({
            "id": user.id,
            "email": user.email,
            "username": user.username,
            "roles": roles,
            "status": "active",
            "emailVerified": user.email_verified,
        });
        serde_json::to_string_pretty(&view).map_err(|e| e.to_string())
    })
}
