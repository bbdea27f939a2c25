//! The sign-in form: login and password, then a code from the authenticator app when the
//! account has MFA.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::Outcome;
use crate::action::{Reply, Request};
use crate::api::ApiError;
use crate::ui::{Theme, centered};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub login: String,
    pub password: String,
    pub totp: String,
    /// 0 login, 1 password, 2 code.
    pub focus: usize,
    pub needs_totp: bool,
    pub busy: bool,
}

impl State {
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        let fields = if self.needs_totp { 3 } else { 2 };
        match key.code {
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % fields,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + fields - 1) % fields,
            KeyCode::Enter => {
                if self.login.is_empty() || self.password.is_empty() {
                    return Outcome::error("Enter your email or username and password");
                }
                self.busy = true;
                return Outcome::send(Request::SignIn {
                    login: self.login.clone(),
                    password: self.password.clone(),
                    totp: Some(self.totp.clone()).filter(|t| !t.is_empty()),
                });
            }
            KeyCode::Backspace => {
                self.field().pop();
            }
            KeyCode::Char(c) => self.field().push(c),
            _ => {}
        }
        Outcome::default()
    }

    fn field(&mut self) -> &mut String {
        match self.focus {
            0 => &mut self.login,
            1 => &mut self.password,
            _ => &mut self.totp,
        }
    }

    /// The session ended: sign in again, with the login kept and the secrets gone.
    pub fn signed_out(&mut self) {
        self.busy = false;
        self.password.clear();
        self.totp.clear();
    }

    /// Answers to a sign-in that did not succeed (success is the app's: it changes screens).
    pub fn on_reply(&mut self, reply: Reply) -> Outcome {
        self.busy = false;
        match reply {
            Ok(_) => Outcome::default(),
            Err(ApiError::MfaRequired) => {
                self.needs_totp = true;
                self.focus = 2;
                Outcome::default().with_status("Enter the code from your authenticator app", false)
            }
            Err(error) => Outcome::error(error.to_string()),
        }
    }

    pub fn view(&self, server: &str, theme: &Theme, frame: &mut Frame, area: Rect) {
        let height = if self.needs_totp { 11 } else { 9 };
        let area = centered(area, 56, height);
        let field = |label: &str, value: String, index: usize| {
            let marker = if self.focus == index { ">" } else { " " };
            Line::from(vec![
                Span::styled(
                    format!("{marker} {label:<10}"),
                    if self.focus == index {
                        theme.accent()
                    } else {
                        Style::new()
                    },
                ),
                Span::raw(value),
            ])
        };
        let mut lines = vec![
            Line::from(format!("Server: {server}")),
            Line::raw(""),
            field("Login", self.login.clone(), 0),
            field("Password", "*".repeat(self.password.chars().count()), 1),
        ];
        if self.needs_totp {
            lines.push(field("Code", self.totp.clone(), 2));
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            if self.busy {
                "Signing in…"
            } else {
                "[Tab] next field  [Enter] sign in  [Esc] quit"
            },
            theme.dim(),
        ));
        frame.render_widget(Clear, area);
        frame.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Sign in to Sigil "),
            ),
            area,
        );
    }
}
