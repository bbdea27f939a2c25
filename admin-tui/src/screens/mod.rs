//! The console's screens, one module each with its state, its update (keys, submitted forms,
//! the answers tagged for its panes) and its view. A screen never does I/O: it answers with an
//! [`Outcome`] that the app carries out.

pub mod audit;
pub mod clients;
pub mod dashboard;
pub mod keys;
pub mod resources;
pub mod sign_in;
pub mod user_detail;
pub mod users;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::action::{Pane, Purpose, Reply, Request, Tag};
use crate::api::ApiError;
use crate::overlay::Overlay;
use crate::remote::Remote;
use crate::ui::Theme;

/// The tabs, in the order of their number keys.
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

    pub fn next(self) -> Self {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    /// Screens that follow the server by themselves, refreshed on every tick.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Dashboard | Self::Audit)
    }
}

/// What a screen wants done after a key, a submitted form or an answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub send: Option<Request>,
    pub overlay: Option<Overlay>,
    /// A message and whether it is an error.
    pub status: Option<(String, bool)>,
}

impl Outcome {
    pub fn send(request: Request) -> Self {
        Self {
            send: Some(request),
            ..Self::default()
        }
    }

    pub fn open(overlay: Overlay) -> Self {
        Self {
            overlay: Some(overlay),
            ..Self::default()
        }
    }

    /// Sends `request` once the operator confirms.
    pub fn ask(prompt: String, request: Request) -> Self {
        Self::open(Overlay::Confirm { prompt, request })
    }

    pub fn error(message: impl Into<String>) -> Self {
        Self::default().with_status(message, true)
    }

    pub fn with_status(mut self, message: impl Into<String>, error: bool) -> Self {
        self.status = Some((message.into(), error));
        self
    }
}

/// An error answering `tag`: the newest load of a pane marks that pane failed; an answer to a
/// superseded load is dropped, since a newer one is on its way.
pub fn failed<T>(remote: &mut Remote<T>, tag: Tag, error: &ApiError) -> Outcome {
    let message = error.to_string();
    if tag.purpose == Purpose::Load {
        if remote.is_stale(tag.seq) {
            return Outcome::default();
        }
        remote.fail(tag.seq, &message);
    }
    Outcome::error(message)
}

/// Every screen's state; which one shows is the app's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Screens {
    pub sign_in: sign_in::State,
    pub dashboard: dashboard::State,
    pub users: users::State,
    pub clients: clients::State,
    pub keys: keys::State,
    pub audit: audit::State,
    pub resources: resources::State,
}

impl Screens {
    /// The request that reloads `screen`.
    pub fn reload(&self, screen: Screen) -> Request {
        match screen {
            Screen::Dashboard => Request::Stats,
            Screen::Users => self.users.reload(),
            Screen::Clients => Request::Clients,
            Screen::Keys => Request::Keys,
            Screen::Audit => self.audit.reload(),
            Screen::Resources => Request::Resources,
        }
    }

    pub fn on_key(&mut self, screen: Screen, key: KeyEvent) -> Outcome {
        match screen {
            Screen::Dashboard => Outcome::default(),
            Screen::Users => self.users.on_key(key),
            Screen::Clients => self.clients.on_key(key),
            Screen::Keys => keys::on_key(key),
            Screen::Audit => self.audit.on_key(key),
            Screen::Resources => self.resources.on_key(key),
        }
    }

    /// Closes what `q` and Esc close before they quit: the user detail pane. Says whether
    /// something closed.
    pub fn back(&mut self) -> bool {
        std::mem::take(&mut self.users.detail.open)
    }

    /// A load went out for the pane in `tag`; it shows as loading until answered.
    pub fn sent(&mut self, tag: Tag) {
        if tag.purpose != Purpose::Load {
            return;
        }
        let seq = tag.seq;
        match tag.pane {
            Pane::SignIn => {}
            Pane::Dashboard => self.dashboard.stats.refresh(seq),
            Pane::Users => self.users.list.refresh(seq),
            // Another user's sessions: the previous ones must not show meanwhile.
            Pane::UserDetail => self.users.detail.sessions.reload(seq),
            Pane::Clients => self.clients.list.refresh(seq),
            Pane::Keys => self.keys.list.refresh(seq),
            Pane::Audit => self.audit.events.refresh(seq),
            Pane::Resources => self.resources.list.refresh(seq),
        }
    }

    /// Hands an answer to the pane that asked for it, and to no other.
    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match tag.pane {
            Pane::SignIn => self.sign_in.on_reply(reply),
            Pane::Dashboard => self.dashboard.on_reply(tag, reply),
            Pane::Users => self.users.on_reply(tag, reply),
            Pane::UserDetail => self.users.detail.on_reply(tag, reply),
            Pane::Clients => self.clients.on_reply(tag, reply),
            Pane::Keys => self.keys.on_reply(tag, reply),
            Pane::Audit => self.audit.on_reply(tag, reply),
            Pane::Resources => self.resources.on_reply(tag, reply),
        }
    }

    pub fn view(&self, screen: Screen, theme: &Theme, frame: &mut Frame, area: Rect) {
        match screen {
            Screen::Dashboard => self.dashboard.view(theme, frame, area),
            Screen::Users => self.users.view(theme, frame, area),
            Screen::Clients => self.clients.view(theme, frame, area),
            Screen::Keys => self.keys.view(theme, frame, area),
            Screen::Audit => self.audit.view(theme, frame, area),
            Screen::Resources => self.resources.view(theme, frame, area),
        }
    }
}
