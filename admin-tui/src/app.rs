//! What the screens share, and the one update function: no I/O, no await. Keys and answers
//! come in as [`Action`]s; background work goes out as [`Action::Request`], tagged so that
//! its answer goes back to the pane that asked.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::action::{Action, Reply, Request, Response, Tag, Tagged};
use crate::api::ApiError;
use crate::overlay::{Closed, Form, FormKind, Overlay};
use crate::screens::{Outcome, Screen, Screens, users};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct App {
    pub server: String,
    pub signed_in: bool,
    pub screen: Screen,
    pub screens: Screens,
    pub overlay: Overlay,
    /// A message and whether it is an error.
    pub status: Option<(String, bool)>,
    /// Requests under way (the spinner turns while > 0).
    pub pending: usize,
    pub spinner: usize,
    /// The number of the last request sent; see [`Tag::seq`].
    seq: u64,
    pub quit: bool,
    pub color: bool,
}

impl App {
    pub fn new(server: &str, color: bool) -> Self {
        Self {
            server: server.to_owned(),
            color,
            ..Self::default()
        }
    }

    pub fn update(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Key(key) => self.on_key(key),
            Action::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                // Not while typing: the refresh would come back under the operator's hands.
                let typing = matches!(self.overlay, Overlay::Form(_));
                (self.signed_in && self.screen.is_live() && self.pending == 0 && !typing)
                    .then(|| self.reload())
            }
            // Sent from outside the screens: numbered afresh, so it counts as the newest.
            Action::Request(Tagged { body, .. }) => Some(self.send(body)),
            Action::Response(Tagged { tag, body }) => {
                self.pending = self.pending.saturating_sub(1);
                self.on_reply(tag, body)
            }
        }
    }

    /// Tags `request` with the next number and the pane it is for, which shows it loading.
    fn send(&mut self, request: Request) -> Action {
        self.seq += 1;
        self.pending += 1;
        let tag = Tag {
            pane: request.pane(),
            purpose: request.purpose(),
            seq: self.seq,
        };
        self.screens.sent(tag);
        Action::Request(Tagged { tag, body: request })
    }

    fn reload(&mut self) -> Action {
        let request = self.screens.reload(self.screen);
        self.send(request)
    }

    fn apply(&mut self, outcome: Outcome) -> Option<Action> {
        if let Some(overlay) = outcome.overlay {
            self.overlay = overlay;
        }
        if let Some(status) = outcome.status {
            self.status = Some(status);
        }
        outcome.send.map(|request| self.send(request))
    }

    fn on_reply(&mut self, tag: Tag, reply: Reply) -> Option<Action> {
        match reply {
            // The session is the app's, whichever pane heard about it.
            Err(ApiError::Unauthorized(message)) => {
                self.signed_in = false;
                self.screens.sign_in.signed_out();
                self.status = Some((format!("Signed out: {message}"), true));
                None
            }
            Ok(Response::SignedIn) => {
                self.signed_in = true;
                self.screens.sign_in = Default::default();
                self.status = Some((format!("Signed in to {}", self.server), false));
                Some(self.reload())
            }
            reply => {
                let outcome = self.screens.on_reply(tag, reply);
                self.apply(outcome)
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return None;
        }
        if !self.signed_in {
            if key.code == KeyCode::Esc {
                self.quit = true;
                return None;
            }
            let outcome = self.screens.sign_in.on_key(key);
            return self.apply(outcome);
        }
        if self.overlay.is_open() {
            return self.on_overlay_key(key);
        }
        match key.code {
            KeyCode::Char('q') => {
                if !self.screens.back() {
                    self.quit = true;
                }
                None
            }
            KeyCode::Esc => {
                self.screens.back();
                None
            }
            KeyCode::Char('?') => {
                self.overlay = Overlay::Help;
                None
            }
            KeyCode::Char(c @ '1'..='6') => {
                let index = usize::from(c as u8 - b'1');
                self.switch(Screen::ALL[index])
            }
            KeyCode::Tab => self.switch(self.screen.next()),
            KeyCode::Char('r') => Some(self.reload()),
            _ => {
                let outcome = self.screens.on_key(self.screen, key);
                self.apply(outcome)
            }
        }
    }

    fn switch(&mut self, screen: Screen) -> Option<Action> {
        self.screen = screen;
        self.screens.back();
        Some(self.reload())
    }

    fn on_overlay_key(&mut self, key: KeyEvent) -> Option<Action> {
        match self.overlay.on_key(key)? {
            Closed::Dismissed => None,
            Closed::Cancelled => {
                self.status = Some(("Cancelled".into(), false));
                None
            }
            Closed::Confirmed(request) => Some(self.send(request)),
            Closed::Submitted(form) => self.submit(form),
        }
    }

    /// A form's text goes to the screen that opened it.
    fn submit(&mut self, form: Form) -> Option<Action> {
        let Form { kind, text, .. } = form;
        let screens = &mut self.screens;
        let outcome = match kind {
            FormKind::UserSearch => screens.users.search(&text),
            FormKind::Roles { user_id } => screens.users.set_roles(user_id, &text),
            FormKind::Password { retry } => users::State::retry_with_password(retry, text),
            FormKind::AuditFilter => screens.audit.filter(&text),
            FormKind::NewClient => screens.clients.create(&text),
            FormKind::NewResource => screens.resources.create(&text),
        };
        self.apply(outcome)
    }
}

#[cfg(test)]
mod tests;
