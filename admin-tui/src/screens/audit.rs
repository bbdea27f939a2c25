//! The audit trail, newest first, filtered by event type; live, so it follows new events.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{Outcome, failed};
use crate::action::{Reply, Request, Response, Tag};
use crate::api::AuditEvent;
use crate::overlay::{Form, FormKind, Overlay};
use crate::remote::Remote;
use crate::ui::{Theme, loading, timestamp};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub events: Remote<Vec<AuditEvent>>,
    /// An event type; empty for all.
    pub filter: String,
}

impl State {
    pub fn reload(&self) -> Request {
        Request::Audit(self.filter.clone())
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        match key.code {
            KeyCode::Char('/') => Outcome::open(Overlay::Form(Form::new(
                FormKind::AuditFilter,
                "Event type (e.g. login.failed; empty for all)",
                self.filter.clone(),
            ))),
            _ => Outcome::default(),
        }
    }

    /// The filter form was submitted.
    pub fn filter(&mut self, text: &str) -> Outcome {
        self.filter = text.trim().to_owned();
        Outcome::send(self.reload())
    }

    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::Audit(events)) => {
                self.events.settle(tag.seq, events);
                Outcome::default()
            }
            Ok(_) => Outcome::default(),
            Err(error) => failed(&mut self.events, tag, &error),
        }
    }

    pub fn view(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let filter = if self.filter.is_empty() {
            "all events".to_owned()
        } else {
            self.filter.clone()
        };
        let block = Block::default()
            .borders(Borders::ALL)
            .title(format!(" Audit: {filter}  (/ filter, follows new events) "));
        let Some(events) = self.events.ready() else {
            frame.render_widget(
                Paragraph::new(loading(&self.events.data).unwrap_or_default()).block(block),
                area,
            );
            return;
        };
        let rows = events.iter().map(|e| {
            Row::new(vec![
                Cell::from(timestamp(e.at).chars().take(19).collect::<String>()),
                Cell::from(e.action.clone()),
                Cell::from(
                    e.actor_id
                        .map(|a| a.to_string().chars().take(8).collect::<String>())
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(e.ip.clone().unwrap_or_default()),
            ])
        });
        let table = Table::new(
            rows,
            [
                Constraint::Length(20),
                Constraint::Min(20),
                Constraint::Length(9),
                Constraint::Length(16),
            ],
        )
        .header(Row::new(vec!["Time", "Event", "Actor", "IP"]).style(theme.accent()))
        .block(block);
        frame.render_widget(table, area);
    }
}
