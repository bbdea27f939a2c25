//! The pane under the user list: the selected user's record and sessions.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::{Outcome, failed};
use crate::action::{Reply, Response, Tag};
use crate::api::{Session, User};
use crate::remote::{Loadable, Remote};
use crate::ui::{Theme, loading, timestamp};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub open: bool,
    pub sessions: Remote<Vec<Session>>,
}

impl State {
    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::UserSessions(sessions)) => {
                self.sessions.settle(tag.seq, sessions);
                Outcome::default()
            }
            Ok(_) => Outcome::default(),
            Err(error) => failed(&mut self.sessions, tag, &error),
        }
    }

    pub fn view(&self, user: &User, theme: &Theme, frame: &mut Frame, area: Rect) {
        let mut lines = vec![
            Line::from(vec![
                Span::styled("Id ", theme.accent()),
                Span::raw(user.user.id.to_string()),
            ]),
            Line::from(format!(
                "Created {}  last login {}",
                timestamp(user.user.created_at),
                user.user
                    .last_login
                    .map_or_else(|| "never".into(), timestamp)
            )),
            Line::from(format!(
                "MFA {}  email verified {}  locked until {}",
                if user.user.mfa_enabled { "on" } else { "off" },
                if user.user.email_verified {
                    "yes"
                } else {
                    "no"
                },
                user.account_locked_until
                    .map_or_else(|| "-".into(), timestamp)
            )),
            Line::styled(
                "s suspend  a activate  e roles  u unlock  m reset MFA  x revoke sessions  d delete",
                theme.dim(),
            ),
        ];
        match &self.sessions.data {
            Loadable::Ready(sessions) if sessions.is_empty() => {
                lines.push(Line::raw("No sessions."));
            }
            Loadable::Ready(sessions) => lines.extend(sessions.iter().map(session_line)),
            other => lines.push(Line::raw(loading(other).unwrap_or_default())),
        }
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {} ", user.user.username)),
            ),
            area,
        );
    }
}

fn session_line(s: &Session) -> Line<'static> {
    let device = format!("{} on {}", s.device_info.browser, s.device_info.os);
    Line::raw(format!(
        "• {} {} {} {}",
        s.client_id,
        device,
        s.ip_address.clone().unwrap_or_default(),
        timestamp(s.last_activity)
    ))
}
