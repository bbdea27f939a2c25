//! The signing keys: the ring as the server reports it, a scheduled rotation and an
//! emergency one that revokes the active key.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use super::{Outcome, failed};
use crate::action::{Reply, Request, Response, Tag};
use crate::api::{Key, KeyState};
use crate::remote::Remote;
use crate::ui::{Theme, loading, timestamp};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub list: Remote<Vec<Key>>,
}

/// The screen has no selection, so keys need no state.
pub fn on_key(key: KeyEvent) -> Outcome {
    match key.code {
        KeyCode::Char('R') => Outcome::ask(
            "Rotate the signing key? The new key signs after the pre-publication window.".into(),
            Request::RotateKeys {
                revoke_current: false,
            },
        ),
        KeyCode::Char('X') => Outcome::ask(
            "EMERGENCY: revoke the active key now? Every token it signed stops working.".into(),
            Request::RotateKeys {
                revoke_current: true,
            },
        ),
        _ => Outcome::default(),
    }
}

impl State {
    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::Keys(keys)) => {
                self.list.settle(tag.seq, keys);
                Outcome::default()
            }
            Ok(Response::KeysRotated(keys)) => {
                self.list.settle(tag.seq, keys);
                Outcome::default().with_status("Key ring rotated", false)
            }
            Ok(_) => Outcome::default(),
            Err(error) => failed(&mut self.list, tag, &error),
        }
    }

    pub fn view(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" Signing keys  (R rotate  X emergency rotation) ");
        let Some(list) = self.list.ready() else {
            frame.render_widget(
                Paragraph::new(loading(&self.list.data).unwrap_or_default()).block(block),
                area,
            );
            return;
        };
        let rows = list.iter().map(|k| {
            let row = Row::new(vec![
                Cell::from(k.generation.to_string()),
                Cell::from(k.kid.clone()),
                Cell::from(state_word(k.state)),
                Cell::from(timestamp(k.activate_at)),
            ]);
            if k.state == KeyState::Active {
                row.style(theme.accent())
            } else {
                row
            }
        });
        let table = Table::new(
            rows,
            [
                Constraint::Length(4),
                Constraint::Min(20),
                Constraint::Length(9),
                Constraint::Length(21),
            ],
        )
        .header(Row::new(vec!["Gen", "Kid", "State", "Signs from"]).style(theme.accent()))
        .block(block);
        frame.render_widget(table, area);
    }
}

/// The state as the API spells it.
fn state_word(state: KeyState) -> &'static str {
    match state {
        KeyState::Next => "next",
        KeyState::Active => "active",
        KeyState::Retiring => "retiring",
        KeyState::Retired => "retired",
        KeyState::Revoked => "revoked",
    }
}
