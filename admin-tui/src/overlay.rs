//! Popups and dialogs: one [`Overlay`] at a time over the screen, taking the keys first.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;

use crate::action::Request;
use crate::ui::popup;

/// What sits over the screen. Opening one replaces whatever was open, so a secret shown once
/// is never hidden under another dialog.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Overlay {
    #[default]
    None,
    Help,
    /// Sends `request` once the operator says yes.
    Confirm {
        prompt: String,
        request: Request,
    },
    /// A one-line input.
    Form(Form),
    /// A client secret, shown this once, until dismissed.
    Secret {
        name: String,
        secret: String,
    },
}

/// What a one-line input is for; the screen that opened it handles what was typed.
#[derive(Debug, Clone, PartialEq)]
pub enum FormKind {
    UserSearch,
    Roles {
        user_id: uuid::Uuid,
    },
    AuditFilter,
    NewClient,
    NewResource,
    /// The admin's own password, to resend a change that needs re-authentication.
    Password {
        retry: Request,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub kind: FormKind,
    pub prompt: String,
    pub text: String,
}

impl Form {
    pub fn new(kind: FormKind, prompt: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            kind,
            prompt: prompt.into(),
            text: text.into(),
        }
    }
}

/// How a key left the overlay.
#[derive(Debug, Clone, PartialEq)]
pub enum Closed {
    /// Dismissed, nothing to do.
    Dismissed,
    /// A confirmation answered no.
    Cancelled,
    Confirmed(Request),
    Submitted(Form),
}

impl Overlay {
    pub fn is_open(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Handles a key; `Some` when the key closed the overlay.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Closed> {
        let closes = match self {
            Self::None => false,
            Self::Help => matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
            ),
            Self::Secret { .. } => matches!(key.code, KeyCode::Esc | KeyCode::Enter),
            Self::Confirm { .. } => matches!(
                key.code,
                KeyCode::Char('y' | 'n') | KeyCode::Enter | KeyCode::Esc
            ),
            Self::Form(form) => match key.code {
                KeyCode::Backspace => {
                    form.text.pop();
                    false
                }
                KeyCode::Char(c) => {
                    form.text.push(c);
                    false
                }
                KeyCode::Esc | KeyCode::Enter => true,
                _ => false,
            },
        };
        if !closes {
            return None;
        }
        Some(match std::mem::take(self) {
            Self::Confirm { request, .. }
                if matches!(key.code, KeyCode::Char('y') | KeyCode::Enter) =>
            {
                Closed::Confirmed(request)
            }
            Self::Confirm { .. } => Closed::Cancelled,
            Self::Form(form) if key.code == KeyCode::Enter => Closed::Submitted(form),
            _ => Closed::Dismissed,
        })
    }

    pub fn view(&self, frame: &mut Frame) {
        match self {
            Self::None => {}
            Self::Help => popup(frame, "Key bindings", &HELP.join("\n"), 78, 13),
            Self::Confirm { prompt, .. } => popup(
                frame,
                "Confirm",
                &format!("{prompt}\n\n[y] yes   [n] no"),
                60,
                7,
            ),
            Self::Form(form) => {
                let text = match form.kind {
                    FormKind::Password { .. } => "•".repeat(form.text.chars().count()),
                    _ => form.text.clone(),
                };
                popup(
                    frame,
                    &form.prompt,
                    &format!("{text}_\n\n[Enter] apply   [Esc] cancel"),
                    70,
                    6,
                );
            }
            Self::Secret { name, secret } => popup(
                frame,
                "Client secret (shown once)",
                &format!(
                    "{name}\n\n{secret}\n\nCopy it now (select with the mouse, or shift+drag in most terminals); it is not shown again.\n[Enter] done"
                ),
                74,
                10,
            ),
        }
    }
}

const HELP: [&str; 10] = [
    "1-6, Tab   switch screen (Dashboard, Users, Clients, Keys, Audit, Resources)",
    "r          refresh            ?  this help          q  back / quit",
    "Users      ↑↓ / j k select   ←→ / h l page   / search   f status filter",
    "           Enter details   s suspend   a activate   e roles   u unlock",
    "           m reset MFA   x revoke sessions   d delete",
    "Clients    c create   R rotate secret   d delete",
    "Keys       R rotate   X emergency rotation (revokes the active key)",
    "Audit      / filter by event type",
    "Resources  c create   d delete",
    "Dialogs    y / Enter confirm   n / Esc cancel",
];
