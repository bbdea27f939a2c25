//! The console's state and its one update function: no I/O, no await. Keys and answers come
//! in as [`Action`]s; background work goes out as [`Action::Request`].

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use crate::action::{Action, Request, Response};
use crate::api::{
    ApiError, ApiResource, AuditEvent, Key, OAuthClient, Session, Stats, UserPage, UserQuery,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Screen {
    #[default]
    Dashboard,
    Users,
    Clients,
    Keys,
    Audit,
    Resources,
}

impl Screen {
    /// In the order of their number keys.
    pub const ALL: [Screen; 6] = [
        Self::Dashboard,
        Self::Users,
        Self::Clients,
        Self::Keys,
        Self::Audit,
        Self::Resources,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Self::Dashboard => "Dashboard",
            Self::Users => "Users",
            Self::Clients => "Clients",
            Self::Keys => "Keys",
            Self::Audit => "Audit",
            Self::Resources => "Resources",
        }
    }

    fn next(self) -> Self {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}

/// Remote data.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Loadable<T> {
    #[default]
    Idle,
    Loading,
    Ready(T),
    Failed(String),
}

impl<T> Loadable<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Self::Ready(t) => Some(t),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignInForm {
    pub login: String,
    pub password: String,
    pub totp: String,
    /// 0 login, 1 password, 2 code.
    pub focus: usize,
    pub needs_totp: bool,
    pub busy: bool,
}

/// What the one-line input edits.
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    UserSearch,
    Roles {
        user_id: String,
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
pub struct Input {
    pub kind: InputKind,
    pub prompt: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub prompt: String,
    pub request: Request,
}

const STATUS_FILTERS: [Option<&str>; 5] = [
    None,
    Some("active"),
    Some("pending"),
    Some("suspended"),
    Some("deleted"),
];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub server: String,
    pub signed_in: bool,
    pub sign_in: SignInForm,
    pub screen: Screen,
    pub stats: Loadable<Stats>,
    /// Logins in the last hour, one sample per refresh, for the sparkline.
    pub login_rate: Vec<u64>,
    pub users: Loadable<UserPage>,
    pub user_query: UserQuery,
    pub selected_user: usize,
    pub detail_open: bool,
    pub user_sessions: Loadable<Vec<Session>>,
    pub clients: Loadable<Vec<OAuthClient>>,
    pub selected_client: usize,
    /// A secret shown once, until dismissed.
    pub revealed_secret: Option<(String, String)>,
    pub resources: Loadable<Vec<ApiResource>>,
    pub selected_resource: usize,
    pub keys: Loadable<Vec<Key>>,
    pub audit: Loadable<Vec<AuditEvent>>,
    pub audit_filter: String,
    pub input: Option<Input>,
    pub confirm: Option<Confirm>,
    /// The last role change sent, resent with the password if the server asks for it.
    pub sensitive: Option<Request>,
    pub help: bool,
    /// A message and whether it is an error.
    pub status: Option<(String, bool)>,
    /// Requests under way (the spinner turns while > 0).
    pub pending: usize,
    pub spinner: usize,
    pub quit: bool,
    pub color: bool,
}

impl State {
    pub fn new(server: &str, color: bool) -> Self {
        Self {
            server: server.to_owned(),
            color,
            user_query: UserQuery {
                page: 1,
                ..UserQuery::default()
            },
            ..Self::default()
        }
    }

    pub fn selected_user_id(&self) -> Option<String> {
        self.users
            .ready()
            .and_then(|p| p.users.get(self.selected_user))
            .map(|u| u.id.clone())
    }

    fn selected_user_name(&self) -> String {
        self.users
            .ready()
            .and_then(|p| p.users.get(self.selected_user))
            .map(|u| u.username.clone())
            .unwrap_or_default()
    }

    fn request(&mut self, request: Request) -> Option<Action> {
        self.pending += 1;
        match &request {
            Request::Stats => mark_loading(&mut self.stats),
            Request::Users(_) => mark_loading(&mut self.users),
            Request::UserSessions(_) => self.user_sessions = Loadable::Loading,
            Request::Clients => mark_loading(&mut self.clients),
            Request::Resources => mark_loading(&mut self.resources),
            Request::Keys => mark_loading(&mut self.keys),
            Request::Audit(_) => mark_loading(&mut self.audit),
            _ => {}
        }
        Some(Action::Request(request))
    }

    /// The request that reloads the current screen.
    fn reload(&mut self) -> Option<Action> {
        let request = match self.screen {
            Screen::Dashboard => Request::Stats,
            Screen::Users => Request::Users(self.user_query.clone()),
            Screen::Clients => Request::Clients,
            Screen::Keys => Request::Keys,
            Screen::Audit => Request::Audit(self.audit_filter.clone()),
            Screen::Resources => Request::Resources,
        };
        self.request(request)
    }

    pub fn update(&mut self, action: Action) -> Option<Action> {
        match action {
            Action::Key(key) => self.on_key(key),
            Action::Tick => {
                self.spinner = self.spinner.wrapping_add(1);
                let live = matches!(self.screen, Screen::Dashboard | Screen::Audit);
                (self.signed_in && live && self.pending == 0 && self.input.is_none())
                    .then(|| self.reload())
                    .flatten()
            }
            Action::Request(request) => self.request(request),
            Action::Response(result) => {
                self.pending = self.pending.saturating_sub(1);
                self.on_response(result)
            }
        }
    }

    fn on_response(&mut self, result: Result<Response, ApiError>) -> Option<Action> {
        match result {
            Ok(response) => self.on_success(response),
            Err(ApiError::MfaRequired) => {
                self.sign_in.busy = false;
                self.sign_in.needs_totp = true;
                self.sign_in.focus = 2;
                self.status = Some(("Enter the code from your authenticator app".into(), false));
                None
            }
            Err(ApiError::ReauthenticationRequired) => {
                let retry = self.sensitive.take()?;
                self.input = Some(Input {
                    kind: InputKind::Password { retry },
                    prompt: "Your password, to confirm this change".into(),
                    text: String::new(),
                });
                None
            }
            Err(ApiError::Unauthorized(message)) => {
                self.signed_in = false;
                self.sign_in.busy = false;
                self.sign_in.password.clear();
                self.sign_in.totp.clear();
                self.status = Some((format!("Signed out: {message}"), true));
                None
            }
            Err(other) => {
                self.sign_in.busy = false;
                let message = other.to_string();
                for failed in [
                    &mut self.stats as &mut dyn Fail,
                    &mut self.users,
                    &mut self.clients,
                    &mut self.resources,
                    &mut self.keys,
                    &mut self.audit,
                    &mut self.user_sessions,
                ] {
                    failed.fail(&message);
                }
                self.status = Some((message, true));
                None
            }
        }
    }

    fn on_success(&mut self, response: Response) -> Option<Action> {
        match response {
            Response::SignedIn => {
                self.signed_in = true;
                self.sign_in = SignInForm::default();
                self.status = Some((format!("Signed in to {}", self.server), false));
                self.reload()
            }
            Response::Stats(stats) => {
                self.login_rate.push(stats.logins_last_hour);
                let excess = self.login_rate.len().saturating_sub(60);
                self.login_rate.drain(..excess);
                self.stats = Loadable::Ready(stats);
                None
            }
            Response::Users(page) => {
                self.selected_user = self.selected_user.min(page.users.len().saturating_sub(1));
                self.users = Loadable::Ready(page);
                None
            }
            Response::UserSessions(sessions) => {
                self.user_sessions = Loadable::Ready(sessions);
                None
            }
            Response::UserChanged { done, .. } => {
                self.sensitive = None;
                self.status = Some((done, false));
                self.request(Request::Users(self.user_query.clone()))
            }
            Response::Clients(clients) => {
                self.selected_client = self.selected_client.min(clients.len().saturating_sub(1));
                self.clients = Loadable::Ready(clients);
                None
            }
            Response::ClientSecret(client) => {
                if let Some(secret) = client.client_secret.clone() {
                    self.revealed_secret = Some((client.name.clone(), secret));
                }
                self.status = Some((format!("Client {} saved", client.name), false));
                self.request(Request::Clients)
            }
            Response::ClientDeleted => {
                self.status = Some(("Client deleted".into(), false));
                self.request(Request::Clients)
            }
            Response::Resources(resources) => {
                self.selected_resource = self
                    .selected_resource
                    .min(resources.len().saturating_sub(1));
                self.resources = Loadable::Ready(resources);
                None
            }
            Response::ResourceCreated(resource) => {
                self.status = Some((format!("Resource {} registered", resource.name), false));
                self.request(Request::Resources)
            }
            Response::ResourceDeleted => {
                self.status = Some(("Resource deleted".into(), false));
                self.request(Request::Resources)
            }
            Response::Keys(keys) => {
                self.keys = Loadable::Ready(keys);
                None
            }
            Response::KeysRotated(keys) => {
                self.keys = Loadable::Ready(keys);
                self.status = Some(("Key ring rotated".into(), false));
                None
            }
            Response::Audit(events) => {
                self.audit = Loadable::Ready(events);
                None
            }
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            self.quit = true;
            return None;
        }
        if !self.signed_in {
            return self.on_sign_in_key(key);
        }
        if self.revealed_secret.is_some() {
            if matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
                self.revealed_secret = None;
            }
            return None;
        }
        if let Some(confirm) = &self.confirm {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Enter => {
                    let request = confirm.request.clone();
                    self.confirm = None;
                    self.request(request)
                }
                KeyCode::Char('n') | KeyCode::Esc => {
                    self.confirm = None;
                    self.status = Some(("Cancelled".into(), false));
                    None
                }
                _ => None,
            };
        }
        if self.input.is_some() {
            return self.on_input_key(key);
        }
        if self.help {
            if matches!(
                key.code,
                KeyCode::Esc | KeyCode::Char('?') | KeyCode::Char('q')
            ) {
                self.help = false;
            }
            return None;
        }
        match key.code {
            KeyCode::Char('q') => {
                if self.detail_open {
                    self.detail_open = false;
                } else {
                    self.quit = true;
                }
                None
            }
            KeyCode::Esc => {
                self.detail_open = false;
                None
            }
            KeyCode::Char('?') => {
                self.help = true;
                None
            }
            KeyCode::Char(c @ '1'..='6') => {
                let index = usize::from(c as u8 - b'1');
                self.switch(Screen::ALL[index])
            }
            KeyCode::Tab => self.switch(self.screen.next()),
            KeyCode::Char('r') => self.reload(),
            _ => match self.screen {
                Screen::Users => self.on_users_key(key),
                Screen::Clients => self.on_clients_key(key),
                Screen::Keys => self.on_keys_key(key),
                Screen::Audit => self.on_audit_key(key),
                Screen::Resources => self.on_resources_key(key),
                Screen::Dashboard => None,
            },
        }
    }

    fn switch(&mut self, screen: Screen) -> Option<Action> {
        self.screen = screen;
        self.detail_open = false;
        self.reload()
    }

    fn on_sign_in_key(&mut self, key: KeyEvent) -> Option<Action> {
        let fields = if self.sign_in.needs_totp { 3 } else { 2 };
        match key.code {
            KeyCode::Esc => {
                self.quit = true;
                None
            }
            KeyCode::Tab | KeyCode::Down => {
                self.sign_in.focus = (self.sign_in.focus + 1) % fields;
                None
            }
            KeyCode::BackTab | KeyCode::Up => {
                self.sign_in.focus = (self.sign_in.focus + fields - 1) % fields;
                None
            }
            KeyCode::Enter => {
                if self.sign_in.login.is_empty() || self.sign_in.password.is_empty() {
                    self.status = Some(("Enter your email or username and password".into(), true));
                    return None;
                }
                self.sign_in.busy = true;
                let totp = Some(self.sign_in.totp.clone()).filter(|t| !t.is_empty());
                self.request(Request::SignIn {
                    login: self.sign_in.login.clone(),
                    password: self.sign_in.password.clone(),
                    totp,
                })
            }
            KeyCode::Backspace => {
                self.sign_in_field().pop();
                None
            }
            KeyCode::Char(c) => {
                self.sign_in_field().push(c);
                None
            }
            _ => None,
        }
    }

    fn sign_in_field(&mut self) -> &mut String {
        match self.sign_in.focus {
            0 => &mut self.sign_in.login,
            1 => &mut self.sign_in.password,
            _ => &mut self.sign_in.totp,
        }
    }

    fn on_input_key(&mut self, key: KeyEvent) -> Option<Action> {
        let input = self.input.as_mut()?;
        match key.code {
            KeyCode::Esc => {
                self.input = None;
                None
            }
            KeyCode::Backspace => {
                input.text.pop();
                None
            }
            KeyCode::Char(c) => {
                input.text.push(c);
                None
            }
            KeyCode::Enter => {
                let input = self.input.take()?;
                self.submit_input(input)
            }
            _ => None,
        }
    }

    fn submit_input(&mut self, input: Input) -> Option<Action> {
        match input.kind {
            InputKind::UserSearch => {
                self.user_query.search = input.text.trim().to_owned();
                self.user_query.page = 1;
                self.selected_user = 0;
                self.request(Request::Users(self.user_query.clone()))
            }
            InputKind::AuditFilter => {
                self.audit_filter = input.text.trim().to_owned();
                self.request(Request::Audit(self.audit_filter.clone()))
            }
            InputKind::Roles { user_id } => {
                let roles: Vec<String> = input
                    .text
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
                self.request(change)
            }
            InputKind::Password { retry } => match retry {
                Request::UpdateUser {
                    id,
                    mut change,
                    done,
                } => {
                    change["password"] = json!(input.text);
                    self.request(Request::UpdateUser { id, change, done })
                }
                other => self.request(other),
            },
            InputKind::NewResource => self.new_resource(&input.text),
            InputKind::NewClient => {
                let parts: Vec<&str> = input.text.split(',').map(str::trim).collect();
                match parts.as_slice() {
                    [name, kind @ ("confidential" | "public"), redirect] if !name.is_empty() => {
                        self.request(Request::CreateClient {
                            name: (*name).to_owned(),
                            client_type: (*kind).to_owned(),
                            redirect_uri: (*redirect).to_owned(),
                        })
                    }
                    _ => {
                        self.status = Some((
                            "Write: name, confidential|public, redirect URI".into(),
                            true,
                        ));
                        None
                    }
                }
            }
        }
    }

    /// `identifier, name, scope scope ...`
    fn new_resource(&mut self, text: &str) -> Option<Action> {
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
                self.request(Request::CreateResource {
                    identifier: identifier.to_owned(),
                    name: name.to_owned(),
                    scopes,
                })
            }
            _ => {
                self.status = Some(("Write: identifier URI, name, scopes".into(), true));
                None
            }
        }
    }

    fn on_resources_key(&mut self, key: KeyEvent) -> Option<Action> {
        let resources = self.resources.ready().cloned().unwrap_or_default();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected_resource =
                    (self.selected_resource + 1).min(resources.len().saturating_sub(1));
                None
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected_resource = self.selected_resource.saturating_sub(1);
                None
            }
            KeyCode::Char('c') => {
                self.input = Some(Input {
                    kind: InputKind::NewResource,
                    prompt: "New resource: identifier URI, name, scopes (space-separated)".into(),
                    text: String::new(),
                });
                None
            }
            KeyCode::Char('d') => {
                let r = resources.get(self.selected_resource)?.clone();
                self.ask(
                    format!(
                        "Delete resource {}? No new token is addressed to {}.",
                        r.name, r.identifier
                    ),
                    Request::DeleteResource(r.id),
                )
            }
            _ => None,
        }
    }

    fn ask(&mut self, prompt: String, request: Request) -> Option<Action> {
        self.confirm = Some(Confirm { prompt, request });
        None
    }

    fn on_users_key(&mut self, key: KeyEvent) -> Option<Action> {
        let count = self.users.ready().map_or(0, |p| p.users.len());
        let pages = self.users.ready().map_or(1, |p| p.pagination.pages.max(1));
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected_user = (self.selected_user + 1).min(count.saturating_sub(1));
                None
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected_user = self.selected_user.saturating_sub(1);
                None
            }
            KeyCode::Right | KeyCode::Char('l') | KeyCode::PageDown
                if self.user_query.page < pages =>
            {
                self.user_query.page += 1;
                self.selected_user = 0;
                self.request(Request::Users(self.user_query.clone()))
            }
            KeyCode::Left | KeyCode::Char('h') | KeyCode::PageUp if self.user_query.page > 1 => {
                self.user_query.page -= 1;
                self.selected_user = 0;
                self.request(Request::Users(self.user_query.clone()))
            }
            KeyCode::Char('/') => {
                self.input = Some(Input {
                    kind: InputKind::UserSearch,
                    prompt: "Search email or username".into(),
                    text: self.user_query.search.clone(),
                });
                None
            }
            KeyCode::Char('f') => {
                let current = STATUS_FILTERS
                    .iter()
                    .position(|f| *f == self.user_query.status.as_deref())
                    .unwrap_or(0);
                self.user_query.status =
                    STATUS_FILTERS[(current + 1) % STATUS_FILTERS.len()].map(str::to_owned);
                self.user_query.page = 1;
                self.request(Request::Users(self.user_query.clone()))
            }
            KeyCode::Enter => {
                let id = self.selected_user_id()?;
                self.detail_open = true;
                self.request(Request::UserSessions(id))
            }
            _ => self.on_user_command(key),
        }
    }

    fn on_user_command(&mut self, key: KeyEvent) -> Option<Action> {
        let id = self.selected_user_id()?;
        let name = self.selected_user_name();
        let change = |status: &str| json!({ "status": status });
        match key.code {
            KeyCode::Char('s') => self.ask(
                format!("Suspend {name}? Their sessions end at once."),
                Request::UpdateUser {
                    id,
                    change: change("suspended"),
                    done: format!("{name} suspended"),
                },
            ),
            KeyCode::Char('a') => self.ask(
                format!("Activate {name}?"),
                Request::UpdateUser {
                    id,
                    change: change("active"),
                    done: format!("{name} activated"),
                },
            ),
            KeyCode::Char('e') => {
                let roles = self
                    .users
                    .ready()
                    .and_then(|p| p.users.get(self.selected_user))
                    .map(|u| u.roles.join(","))
                    .unwrap_or_default();
                self.input = Some(Input {
                    kind: InputKind::Roles { user_id: id },
                    prompt: format!("Roles of {name} (user, moderator, admin)"),
                    text: roles,
                });
                None
            }
            KeyCode::Char('u') => self.request(Request::UserAction {
                id,
                action: "unlock",
                done: format!("{name} unlocked"),
            }),
            KeyCode::Char('m') => self.ask(
                format!("Reset MFA of {name}? They can sign in with the password alone."),
                Request::UserAction {
                    id,
                    action: "reset-mfa",
                    done: format!("MFA of {name} reset"),
                },
            ),
            KeyCode::Char('x') => self.ask(
                format!("Sign {name} out of every session?"),
                Request::UserAction {
                    id,
                    action: "revoke-sessions",
                    done: format!("Sessions of {name} revoked"),
                },
            ),
            KeyCode::Char('d') => self.ask(
                format!("Delete {name}? The account cannot sign in again."),
                Request::UserAction {
                    id,
                    action: "delete",
                    done: format!("{name} deleted"),
                },
            ),
            _ => None,
        }
    }

    fn on_clients_key(&mut self, key: KeyEvent) -> Option<Action> {
        let clients = self.clients.ready().cloned().unwrap_or_default();
        let selected = clients.get(self.selected_client).cloned();
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected_client =
                    (self.selected_client + 1).min(clients.len().saturating_sub(1));
                None
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.selected_client = self.selected_client.saturating_sub(1);
                None
            }
            KeyCode::Char('c') => {
                self.input = Some(Input {
                    kind: InputKind::NewClient,
                    prompt: "New client: name, confidential|public, redirect URI".into(),
                    text: String::new(),
                });
                None
            }
            KeyCode::Char('R') => {
                let c = selected?;
                self.ask(
                    format!(
                        "Rotate the secret of {}? The old secret stops working at once.",
                        c.name
                    ),
                    Request::RotateClientSecret(c.client_id),
                )
            }
            KeyCode::Char('d') => {
                let c = selected?;
                self.ask(
                    format!("Delete client {}?", c.name),
                    Request::DeleteClient(c.client_id),
                )
            }
            _ => None,
        }
    }

    fn on_keys_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('R') => self.ask(
                "Rotate the signing key? The new key signs after the pre-publication window."
                    .into(),
                Request::RotateKeys {
                    revoke_current: false,
                },
            ),
            KeyCode::Char('X') => self.ask(
                "EMERGENCY: revoke the active key now? Every token it signed stops working.".into(),
                Request::RotateKeys {
                    revoke_current: true,
                },
            ),
            _ => None,
        }
    }

    fn on_audit_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Char('/') => {
                self.input = Some(Input {
                    kind: InputKind::AuditFilter,
                    prompt: "Event type (e.g. login.failed; empty for all)".into(),
                    text: self.audit_filter.clone(),
                });
                None
            }
            _ => None,
        }
    }
}

fn mark_loading<T>(value: &mut Loadable<T>) {
    // Keep showing what we have while it refreshes.
    if !matches!(value, Loadable::Ready(_)) {
        *value = Loadable::Loading;
    }
}

/// Lets an error reach whichever remote value was loading.
trait Fail {
    fn fail(&mut self, message: &str);
}

impl<T> Fail for Loadable<T> {
    fn fail(&mut self, message: &str) {
        if matches!(self, Loadable::Loading) {
            *self = Loadable::Failed(message.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Pagination, User};
    use crossterm::event::{KeyEventKind, KeyEventState};

    pub fn key(code: KeyCode) -> Action {
        Action::Key(KeyEvent {
            code,
            modifiers: KeyModifiers::NONE,
            kind: KeyEventKind::Press,
            state: KeyEventState::NONE,
        })
    }

    fn typed(state: &mut State, text: &str) {
        for c in text.chars() {
            state.update(key(KeyCode::Char(c)));
        }
    }

    pub fn user(i: usize, status: &str) -> User {
        User {
            id: format!("00000000-0000-0000-0000-00000000000{i}"),
            email: format!("user{i}@example.com"),
            username: format!("user{i}"),
            status: status.into(),
            roles: vec!["user".into()],
            mfa_enabled: false,
            email_verified: true,
            locked_until: None,
            last_login: None,
            created_at: "2026-11-01T10:00:00Z".into(),
        }
    }

    fn signed_in() -> State {
        let mut state = State::new("http://localhost:8080", false);
        state.signed_in = true;
        state
    }

    /// A role change the server wants re-authenticated asks for the password and resends the
    /// same change with it; the console stays signed in.
    #[test]
    fn role_change_asks_for_the_password_when_the_sign_in_is_old() {
        let mut state = signed_in();
        state.users = Loadable::Ready(UserPage {
            users: vec![user(1, "active")],
            pagination: Pagination {
                page: 1,
                limit: 20,
                total: 1,
                pages: 1,
            },
        });
        state.screen = Screen::Users;
        state.update(key(KeyCode::Char('e')));
        for _ in 0..4 {
            state.update(key(KeyCode::Backspace));
        }
        typed(&mut state, "admin");
        let sent = state.update(key(KeyCode::Enter));
        let Some(Action::Request(Request::UpdateUser { change, .. })) = sent else {
            panic!("no update: {sent:?}");
        };
        assert_eq!(change, json!({"roles": ["admin"]}));
        state.update(Action::Response(Err(ApiError::ReauthenticationRequired)));
        assert!(state.signed_in);
        assert!(matches!(
            state.input.as_ref().map(|i| &i.kind),
            Some(InputKind::Password { .. })
        ));
        typed(&mut state, "pw");
        let resent = state.update(key(KeyCode::Enter));
        let Some(Action::Request(Request::UpdateUser { change, .. })) = resent else {
            panic!("not resent: {resent:?}");
        };
        assert_eq!(change, json!({"roles": ["admin"], "password": "pw"}));
    }

    /// Resources: key 6 opens the screen; `c` registers one from "identifier, name, scopes";
    /// `d` deletes the selected one after a confirmation.
    #[test]
    fn resources_screen() {
        let mut state = signed_in();
        assert_eq!(
            state.update(key(KeyCode::Char('6'))),
            Some(Action::Request(Request::Resources))
        );
        assert_eq!(state.screen, Screen::Resources);
        state.update(Action::Response(Ok(Response::Resources(vec![
            ApiResource {
                id: "r1".into(),
                identifier: "https://orders.example.com".into(),
                name: "Orders".into(),
                scopes: vec!["orders:read".into()],
                resource_servers: vec![],
            },
        ]))));
        state.update(key(KeyCode::Char('c')));
        typed(
            &mut state,
            "https://api.example.com, API, api:read api:write",
        );
        assert_eq!(
            state.update(key(KeyCode::Enter)),
            Some(Action::Request(Request::CreateResource {
                identifier: "https://api.example.com".into(),
                name: "API".into(),
                scopes: vec!["api:read".into(), "api:write".into()],
            }))
        );
        state.update(key(KeyCode::Char('c')));
        typed(&mut state, "only-one-part");
        assert_eq!(state.update(key(KeyCode::Enter)), None);
        assert!(state.status.as_ref().is_some_and(|(_, error)| *error));
        state.update(key(KeyCode::Char('d')));
        assert_eq!(
            state.update(key(KeyCode::Char('y'))),
            Some(Action::Request(Request::DeleteResource("r1".into())))
        );
    }

    /// Sign-in sends the typed credentials; MFA brings up the code field.
    #[test]
    fn sign_in_flow() {
        let mut state = State::new("http://x", false);
        typed(&mut state, "admin");
        state.update(key(KeyCode::Tab));
        typed(&mut state, "secret");
        let sent = state.update(key(KeyCode::Enter));
        assert_eq!(
            sent,
            Some(Action::Request(Request::SignIn {
                login: "admin".into(),
                password: "secret".into(),
                totp: None
            }))
        );
        state.update(Action::Response(Err(ApiError::MfaRequired)));
        assert!(state.sign_in.needs_totp);
        assert_eq!(state.sign_in.focus, 2);
        typed(&mut state, "123456");
        let sent = state.update(key(KeyCode::Enter));
        assert!(
            matches!(sent, Some(Action::Request(Request::SignIn { totp: Some(ref t), .. })) if t == "123456")
        );
        let next = state.update(Action::Response(Ok(Response::SignedIn)));
        assert!(state.signed_in);
        assert_eq!(next, Some(Action::Request(Request::Stats)));
    }

    /// 1-5 and Tab switch screens, each loading its data; q quits.
    #[test]
    fn screens_and_quit() {
        let mut state = signed_in();
        assert_eq!(
            state.update(key(KeyCode::Char('2'))),
            Some(Action::Request(Request::Users(state.user_query.clone())))
        );
        assert_eq!(state.screen, Screen::Users);
        assert_eq!(
            state.update(key(KeyCode::Tab)),
            Some(Action::Request(Request::Clients))
        );
        state.update(key(KeyCode::Char('5')));
        assert_eq!(state.screen, Screen::Audit);
        state.update(key(KeyCode::Char('?')));
        assert!(state.help);
        state.update(key(KeyCode::Esc));
        assert!(!state.help);
        state.update(key(KeyCode::Char('q')));
        assert!(state.quit);
    }

    /// Search, paging, and a confirmed suspension of the selected user.
    #[test]
    fn users_search_page_and_suspend() {
        let mut state = signed_in();
        state.update(key(KeyCode::Char('2')));
        state.update(Action::Response(Ok(Response::Users(UserPage {
            users: vec![user(1, "active"), user(2, "active")],
            pagination: Pagination {
                page: 1,
                limit: 20,
                total: 30,
                pages: 2,
            },
        }))));
        state.update(key(KeyCode::Char('/')));
        typed(&mut state, "bob");
        let sent = state.update(key(KeyCode::Enter));
        assert!(
            matches!(sent, Some(Action::Request(Request::Users(ref q))) if q.search == "bob" && q.page == 1)
        );
        state.update(Action::Response(Ok(Response::Users(UserPage {
            users: vec![user(1, "active"), user(2, "active")],
            pagination: Pagination {
                page: 1,
                limit: 20,
                total: 30,
                pages: 2,
            },
        }))));
        let next = state.update(key(KeyCode::Right));
        assert!(matches!(next, Some(Action::Request(Request::Users(ref q))) if q.page == 2));
        state.update(key(KeyCode::Char('j')));
        assert_eq!(state.selected_user, 1);
        assert_eq!(state.update(key(KeyCode::Char('s'))), None, "asks first");
        assert!(state.confirm.is_some());
        let sent = state.update(key(KeyCode::Char('y')));
        assert!(
            matches!(sent, Some(Action::Request(Request::UpdateUser { ref id, .. })) if id.ends_with('2'))
        );
        assert!(state.confirm.is_none());
    }

    /// A 401 sends the console back to sign-in; other errors show in the status line.
    #[test]
    fn errors() {
        let mut state = signed_in();
        state.update(key(KeyCode::Char('4')));
        state.update(Action::Response(Err(ApiError::Server {
            status: 503,
            code: "SERVICE_UNAVAILABLE".into(),
            message: "down".into(),
        })));
        assert!(matches!(state.keys, Loadable::Failed(_)));
        assert!(
            state
                .status
                .as_ref()
                .is_some_and(|(m, err)| *err && m.contains("down"))
        );
        state.update(Action::Response(Err(ApiError::Unauthorized(
            "expired".into(),
        ))));
        assert!(!state.signed_in);
    }

    /// A rotated secret stays on screen until dismissed.
    #[test]
    fn secret_shown_once() {
        let mut state = signed_in();
        state.update(key(KeyCode::Char('3')));
        state.update(Action::Response(Ok(Response::ClientSecret(OAuthClient {
            client_id: "c1".into(),
            name: "App".into(),
            client_type: "confidential".into(),
            redirect_uris: vec![],
            first_party: false,
            client_secret: Some("s3cr3t".into()),
        }))));
        assert_eq!(state.revealed_secret, Some(("App".into(), "s3cr3t".into())));
        state.update(key(KeyCode::Char('q')));
        assert!(!state.quit, "keys go to the secret popup first");
        state.update(key(KeyCode::Enter));
        assert!(state.revealed_secret.is_none());
    }
}
