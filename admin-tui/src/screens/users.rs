//! Users: a paged, searchable, filterable list; commands on the selected user (suspend,
//! activate, roles, unlock, reset MFA, revoke sessions, delete); the detail pane below.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use serde_json::json;
use uuid::Uuid;

use super::{Outcome, failed, user_detail};
use crate::action::{Reply, Request, Response, Tag};
use crate::api::{ApiError, User, UserPage, UserQuery};
use crate::overlay::{Form, FormKind, Overlay};
use crate::remote::Remote;
use crate::ui::{Theme, loading};

/// What `f` cycles through.
const STATUS_FILTERS: [Option<&str>; 5] = [
    None,
    Some("active"),
    Some("pending"),
    Some("suspended"),
    Some("deleted"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub list: Remote<UserPage>,
    pub query: UserQuery,
    pub selected: usize,
    pub detail: user_detail::State,
    /// The last role change sent, resent with the password if the server asks for it.
    pub sensitive: Option<Request>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            list: Remote::default(),
            query: UserQuery {
                page: 1,
                ..UserQuery::default()
            },
            selected: 0,
            detail: user_detail::State::default(),
            sensitive: None,
        }
    }
}

impl State {
    pub fn reload(&self) -> Request {
        Request::Users(self.query.clone())
    }

    pub fn selected_user(&self) -> Option<&User> {
        self.list.ready().and_then(|p| p.users.get(self.selected))
    }

    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        let count = self.list.ready().map_or(0, |p| p.users.len());
        let pages = self.list.ready().map_or(1, |p| p.pagination.pages.max(1));
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(count.saturating_sub(1));
                Outcome::default()
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::default()
            }
            KeyCode::Right | KeyCode::Char('l') | KeyCode::PageDown if self.query.page < pages => {
                self.query.page += 1;
                self.selected = 0;
                Outcome::send(self.reload())
            }
            KeyCode::Left | KeyCode::Char('h') | KeyCode::PageUp if self.query.page > 1 => {
                self.query.page -= 1;
                self.selected = 0;
                Outcome::send(self.reload())
            }
            KeyCode::Char('/') => Outcome::open(Overlay::Form(Form::new(
                FormKind::UserSearch,
                "Search email or username",
                self.query.search.clone(),
            ))),
            KeyCode::Char('f') => {
                let current = STATUS_FILTERS
                    .iter()
                    .position(|f| *f == self.query.status.as_deref())
                    .unwrap_or(0);
                self.query.status =
                    STATUS_FILTERS[(current + 1) % STATUS_FILTERS.len()].map(str::to_owned);
                self.query.page = 1;
                Outcome::send(self.reload())
            }
            KeyCode::Enter => match self.selected_user() {
                Some(user) => {
                    let id = user.user.id;
                    self.detail.open = true;
                    Outcome::send(Request::UserSessions(id))
                }
                None => Outcome::default(),
            },
            _ => self.command(key),
        }
    }

    /// A command on the selected user; the dangerous ones ask first.
    fn command(&self, key: KeyEvent) -> Outcome {
        let Some(user) = self.selected_user() else {
            return Outcome::default();
        };
        let (id, name) = (user.user.id, &user.user.username);
        let status = |status: &str, done: String| Request::UpdateUser {
            id,
            change: json!({ "status": status }),
            done,
        };
        let action = |action, done| Request::UserAction { id, action, done };
        match key.code {
            KeyCode::Char('s') => Outcome::ask(
                format!("Suspend {name}? Their sessions end at once."),
                status("suspended", format!("{name} suspended")),
            ),
            KeyCode::Char('a') => Outcome::ask(
                format!("Activate {name}?"),
                status("active", format!("{name} activated")),
            ),
            KeyCode::Char('e') => Outcome::open(Overlay::Form(Form::new(
                FormKind::Roles { user_id: id },
                format!("Roles of {name} (user, moderator, admin)"),
                user.user.roles.join(","),
            ))),
            KeyCode::Char('u') => Outcome::send(action("unlock", format!("{name} unlocked"))),
            KeyCode::Char('m') => Outcome::ask(
                format!("Reset MFA of {name}? They can sign in with the password alone."),
                action("reset-mfa", format!("MFA of {name} reset")),
            ),
            KeyCode::Char('x') => Outcome::ask(
                format!("Sign {name} out of every session?"),
                action("revoke-sessions", format!("Sessions of {name} revoked")),
            ),
            KeyCode::Char('d') => Outcome::ask(
                format!("Delete {name}? The account cannot sign in again."),
                action("delete", format!("{name} deleted")),
            ),
            _ => Outcome::default(),
        }
    }

    /// The search form was submitted.
    pub fn search(&mut self, text: &str) -> Outcome {
        self.query.search = text.trim().to_owned();
        self.query.page = 1;
        self.selected = 0;
        Outcome::send(self.reload())
    }

    /// The roles form was submitted: roles separated by commas or spaces.
    pub fn set_roles(&mut self, user_id: Uuid, text: &str) -> Outcome {
        let roles: Vec<String> = text
            .split([',', ' '])
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        let change = Request::UpdateUser {
            id: user_id,
            change: json!({ "roles": roles }),
            done: "Roles saved".into(),
        };
        self.sensitive = Some(change.clone());
        Outcome::send(change)
    }

    /// The password form was submitted: the change that needed it goes again, with it.
    pub fn retry_with_password(retry: Request, password: String) -> Outcome {
        Outcome::send(match retry {
            Request::UpdateUser {
                id,
                mut change,
                done,
            } => {
                change["password"] = json!(password);
                Request::UpdateUser { id, change, done }
            }
            other => other,
        })
    }

    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::Users(page)) => {
                let last = page.users.len().saturating_sub(1);
                if self.list.settle(tag.seq, page) {
                    self.selected = self.selected.min(last);
                }
                Outcome::default()
            }
            Ok(Response::UserChanged { done, .. }) => {
                self.sensitive = None;
                Outcome::send(self.reload()).with_status(done, false)
            }
            Ok(_) => Outcome::default(),
            Err(ApiError::ReauthenticationRequired) => match self.sensitive.take() {
                Some(retry) => Outcome::open(Overlay::Form(Form::new(
                    FormKind::Password { retry },
                    "Your password, to confirm this change",
                    "",
                ))),
                None => Outcome::default(),
            },
            Err(error) => failed(&mut self.list, tag, &error),
        }
    }

    pub fn view(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let (list_area, detail_area) = if self.detail.open {
            let [a, b] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(area);
            (a, Some(b))
        } else {
            (area, None)
        };
        let block = Block::default().borders(Borders::ALL).title(self.title());
        match self.list.ready() {
            None => frame.render_widget(
                Paragraph::new(loading(&self.list.data).unwrap_or_default()).block(block),
                list_area,
            ),
            Some(page) => frame.render_widget(self.table(page, theme).block(block), list_area),
        }
        if let (Some(area), Some(user)) = (detail_area, self.selected_user()) {
            self.detail.view(user, theme, frame, area);
        }
    }

    fn title(&self) -> String {
        let filter = self.query.status.clone().unwrap_or_else(|| "all".into());
        let search = if self.query.search.is_empty() {
            String::new()
        } else {
            format!(" search \"{}\"", self.query.search)
        };
        match self.list.ready() {
            Some(p) => format!(
                " Users: {filter}{search}, page {}/{} ({} total) ",
                p.pagination.page,
                p.pagination.pages.max(1),
                p.pagination.total
            ),
            None => format!(" Users: {filter}{search} "),
        }
    }

    fn table<'a>(&self, page: &'a UserPage, theme: &Theme) -> Table<'a> {
        let rows = page.users.iter().enumerate().map(|(i, u)| {
            let mut flags = String::new();
            if u.user.mfa_enabled {
                flags.push('M');
            }
            if u.account_locked_until.is_some() {
                flags.push('L');
            }
            let row = Row::new(vec![
                Cell::from(u.user.username.clone()),
                Cell::from(u.user.email.clone()),
                Cell::from(u.user.status.clone()),
                Cell::from(u.user.roles.join(",")),
                Cell::from(flags),
            ]);
            if i == self.selected {
                row.style(theme.selected())
            } else {
                row
            }
        });
        Table::new(
            rows,
            [
                Constraint::Percentage(22),
                Constraint::Percentage(40),
                Constraint::Length(10),
                Constraint::Percentage(20),
                Constraint::Length(3),
            ],
        )
        .header(Row::new(vec!["Username", "Email", "Status", "Roles", ""]).style(theme.accent()))
    }
}
