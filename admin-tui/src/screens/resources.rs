//! API resources (RFC 8707) tokens can be addressed to: list, register, delete.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{Outcome, failed};
use crate::action::{Reply, Request, Response, Tag};
use crate::api::ApiResource;
use crate::overlay::{Form, FormKind, Overlay};
use crate::remote::Remote;
use crate::ui::{Theme, loading};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub list: Remote<Vec<ApiResource>>,
    pub selected: usize,
}

impl State {
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        let resources = self.list.ready().map(Vec::as_slice).unwrap_or_default();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(resources.len().saturating_sub(1));
                Outcome::default()
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::default()
            }
            KeyCode::Char('c') => Outcome::open(Overlay::Form(Form::new(
                FormKind::NewResource,
                "New resource: identifier URI, name, scopes (space-separated)",
                "",
            ))),
            KeyCode::Char('d') => resources
                .get(self.selected)
                .map_or_else(Outcome::default, |r| {
                    Outcome::ask(
                        format!(
                            "Delete resource {}? No new token is addressed to {}.",
                            r.name, r.identifier
                        ),
                        Request::DeleteResource(r.id),
                    )
                }),
            _ => Outcome::default(),
        }
    }

    /// The new-resource form was submitted: `identifier, name, scope scope ...`.
    pub fn create(&self, text: &str) -> Outcome {
        let mut parts = text.splitn(3, ',').map(str::trim);
        match (parts.next(), parts.next(), parts.next()) {
            (Some(identifier), Some(name), scopes)
                if !identifier.is_empty() && !name.is_empty() =>
            {
                let scopes = scopes
                    .unwrap_or("")
                    .split([' ', ','])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                Outcome::send(Request::CreateResource {
                    identifier: identifier.to_owned(),
                    name: name.to_owned(),
                    scopes,
                })
            }
            _ => Outcome::error("Write: identifier URI, name, scopes"),
        }
    }

    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::Resources(resources)) => {
                let last = resources.len().saturating_sub(1);
                if self.list.settle(tag.seq, resources) {
                    self.selected = self.selected.min(last);
                }
                Outcome::default()
            }
            Ok(Response::ResourceCreated(resource)) => Outcome::send(Request::Resources)
                .with_status(format!("Resource {} registered", resource.name), false),
            Ok(Response::ResourceDeleted) => {
                Outcome::send(Request::Resources).with_status("Resource deleted", false)
            }
            Ok(_) => Outcome::default(),
            Err(error) => failed(&mut self.list, tag, &error),
        }
    }

    pub fn view(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" API resources  (c create  d delete) ");
        let Some(list) = self.list.ready() else {
            frame.render_widget(
                Paragraph::new(loading(&self.list.data).unwrap_or_default()).block(block),
                area,
            );
            return;
        };
        let rows = list.iter().enumerate().map(|(i, r)| {
            let row = Row::new(vec![
                Cell::from(r.name.clone()),
                Cell::from(r.identifier.clone()),
                Cell::from(r.scopes.join(" ")),
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
                Constraint::Percentage(40),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["Name", "Identifier (aud)", "Scopes"]).style(theme.accent()))
        .block(block);
        frame.render_widget(table, area);
    }
}
