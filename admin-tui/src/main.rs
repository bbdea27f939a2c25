//! The terminal: setup and restore (with a panic hook, via ratatui::init), input on a thread,
//! a tick for live screens, and requests run in the background so the UI never waits.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use crossterm::event::{self, Event, KeyEventKind};
use sigil_admin::action::Action;
use sigil_admin::api::Client;
use sigil_admin::app::App;
use sigil_admin::{perform, ui};
use tokio::sync::mpsc;

/// Terminal console for Sigil operators.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Sigil's base URL.
    #[arg(long, env = "SIGIL_ADMIN_URL")]
    url: Option<String>,
    /// A TOML file with `url = "..."` (used when neither --url nor SIGIL_ADMIN_URL is set).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Allow plain http to a server that is not on this machine.
    #[arg(long)]
    insecure: bool,
}

#[derive(serde::Deserialize)]
struct FileConfig {
    url: String,
}

fn server_url(args: &Args) -> Result<String, String> {
    if let Some(url) = &args.url {
        return Ok(url.clone());
    }
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: FileConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        return Ok(file.url);
    }
    Ok("http://localhost:8080".into())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let url = match server_url(&args).and_then(|url| {
        sigil_admin::transport::check(&url, args.insecure)?;
        Ok(url)
    }) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("sigil-admin: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let client = Arc::new(Client::new(&url));
    let mut app = App::new(&url, color);
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();

    let keys = tx.clone();
    std::thread::spawn(move || {
        loop {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(Event::Key(key)) if key.kind == KeyEventKind::Press => {
                        if keys.send(Action::Key(key)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Resize(..)) => {
                        if keys.send(Action::Tick).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                Ok(false) => {}
                Err(_) => return,
            }
        }
    });
    let ticks = tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            if ticks.send(Action::Tick).is_err() {
                return;
            }
        }
    });

    let mut terminal = ratatui::init();
    while !app.quit {
        if terminal.draw(|frame| ui::view(&app, frame)).is_err() {
            break;
        }
        let Some(action) = rx.recv().await else { break };
        let mut next = Some(action);
        while let Some(action) = next.take() {
            next = match app.update(action) {
                Some(Action::Request(request)) => {
                    let (client, tx) = (client.clone(), tx.clone());
                    tokio::spawn(async move {
                        let _ = tx.send(perform(&client, request).await);
                    });
                    None
                }
                other => other,
            };
        }
    }
    ratatui::restore();
    client.sign_out().await;
    std::process::ExitCode::SUCCESS
}
