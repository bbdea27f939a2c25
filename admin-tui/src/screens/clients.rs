//! OAuth clients: list, create, rotate a secret (shown once), delete.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{Outcome, failed};
use crate::action::{Reply, Request, Response, Tag};
use crate::api::{ClientSettings, ClientType, OAuthClient};
use crate::overlay::{Form, FormKind, Overlay};
use crate::remote::Remote;
use crate::ui::{Theme, loading};

const NEW_CLIENT_USAGE: &str = "Write: name, confidential|public, redirect URI[, then any of \
     par jar dpop first-party no-pkce secret-post secret-jwt]";

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub list: Remote<Vec<OAuthClient>>,
    pub selected: usize,
}

impl State {
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        let clients = self.list.ready().map(Vec::as_slice).unwrap_or_default();
        let selected = clients.get(self.selected);
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(clients.len().saturating_sub(1));
                Outcome::default()
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::default()
            }
            KeyCode::Char('c') => Outcome::open(Overlay::Form(Form::new(
                FormKind::NewClient,
                "New client: name, confidential|public, redirect URI[, par jar dpop ...]",
                "",
            ))),
            KeyCode::Char('R') => selected.map_or_else(Outcome::default, |c| {
                Outcome::ask(
                    format!(
                        "Rotate the secret of {}? The old secret stops working at once.",
                        c.name
                    ),
                    Request::RotateClientSecret(c.client_id.clone()),
                )
            }),
            KeyCode::Char('d') => selected.map_or_else(Outcome::default, |c| {
                Outcome::ask(
                    format!("Delete client {}?", c.name),
                    Request::DeleteClient(c.client_id.clone()),
                )
            }),
            _ => Outcome::default(),
        }
    }

    /// The new-client form was submitted: `name, confidential|public, redirect URI`, then
    /// setting words, separated by commas or spaces (`ClientSettings::from_words`).
    pub fn create(&self, text: &str) -> Outcome {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [name, kind, redirect, rest @ ..] if !name.is_empty() => {
                let client_type = match *kind {
                    "confidential" => ClientType::Confidential,
                    "public" => ClientType::Public,
                    _ => return Outcome::error(NEW_CLIENT_USAGE),
                };
                let words: Vec<&str> = rest.iter().flat_map(|p| p.split_whitespace()).collect();
                let settings = match ClientSettings::from_words(&words) {
                    Ok(settings) => settings,
                    Err(unknown) => {
                        return Outcome::error(format!(
                            "Unknown setting {unknown:?}. {NEW_CLIENT_USAGE}"
                        ));
                    }
                };
                Outcome::send(Request::CreateClient {
                    name: (*name).to_owned(),
                    client_type,
                    redirect_uri: (*redirect).to_owned(),
                    settings,
                })
            }
            _ => Outcome::error(NEW_CLIENT_USAGE),
        }
    }

    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::Clients(clients)) => {
                let last = clients.len().saturating_sub(1);
                if self.list.settle(tag.seq, clients) {
                    self.selected = self.selected.min(last);
                }
                Outcome::default()
            }
            Ok(Response::ClientSecret(client)) => {
                let client = *client;
                let saved = Outcome::send(Request::Clients)
                    .with_status(format!("Client {} saved", client.name), false);
                match client.client_secret {
                    Some(secret) => Outcome {
                        overlay: Some(Overlay::Secret {
                            name: client.name,
                            secret,
                        }),
                        ..saved
                    },
                    None => saved,
                }
            }
            Ok(Response::ClientDeleted) => {
                Outcome::send(Request::Clients).with_status("Client deleted", false)
            }
            Ok(_) => Outcome::default(),
            Err(error) => failed(&mut self.list, tag, &error),
        }
    }

    pub fn view(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" Clients  (c create  R rotate secret  d delete) ");
        let Some(list) = self.list.ready() else {
            frame.render_widget(
                Paragraph::new(loading(&self.list.data).unwrap_or_default()).block(block),
                area,
            );
            return;
        };
        let rows = list.iter().enumerate().map(|(i, c)| {
            let row = Row::new(vec![
                Cell::from(c.name.clone()),
                Cell::from(c.client_id.clone()),
                Cell::from(type_word(c.client_type)),
                Cell::from(settings(c)),
                Cell::from(c.redirect_uris.first().cloned().unwrap_or_default()),
            ]);
            if i == self.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
        let table = Table::new(
            rows,
            [
                Constraint::Percentage(20),
                Constraint::Length(24),
                Constraint::Length(13),
                Constraint::Length(16),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new(vec![
                "Name",
                "Client id",
                "Type",
                "Settings",
                "Redirect URI",
            ])
            .style(theme.accent()),
        )
        .block(block);
        frame.render_widget(table, area);
    }
}

/// The settings that set a client apart from the defaults, in a few words.
fn settings(client: &OAuthClient) -> String {
    let method = client.token_endpoint_auth_method.as_str();
    let marks = [
        (method == "private_key_jwt", "key JWT"),
        (method == "client_secret_jwt", "secret JWT"),
        (client.first_party, "first-party"),
        (client.require_pushed_authorization_requests, "PAR"),
        (client.require_signed_request_object, "JAR"),
        (client.dpop_bound_access_tokens, "DPoP"),
        (!client.require_pkce, "no PKCE"),
    ];
    let words: Vec<&str> = marks
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, word)| *word)
        .collect();
    words.join(", ")
}

/// The type as the API and the new-client form spell it.
fn type_word(client_type: ClientType) -> &'static str {
    match client_type {
        ClientType::Confidential => "confidential",
        ClientType::Public => "public",
    }
}
