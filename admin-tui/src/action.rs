//! What can happen: keys, ticks, requests for background work and their answers. Every request
//! travels with a [`Tag`] naming the pane that owns it, and its answer comes back with the same
//! tag, so an answer (or an error) reaches that pane alone.

use crossterm::event::KeyEvent;
use serde_json::Value;
use uuid::Uuid;

use crate::api::{
    ApiError, ApiResource, AuditEvent, ClientSettings, ClientType, Key, OAuthClient, Session,
    Stats, User, UserPage, UserQuery,
};

/// Work the runtime does in the background; the answer comes back as [`Action::Response`].
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    SignIn {
        login: String,
        password: String,
        totp: Option<String>,
    },
    Stats,
    Users(UserQuery),
    UserSessions(Uuid),
    UpdateUser {
        id: Uuid,
        change: Value,
        done: String,
    },
    UserAction {
        id: Uuid,
        action: &'static str,
        done: String,
    },
    Clients,
    CreateClient {
        name: String,
        client_type: ClientType,
        redirect_uri: String,
        settings: ClientSettings,
    },
    RotateClientSecret(String),
    DeleteClient(String),
    Resources,
    CreateResource {
        identifier: String,
        name: String,
        scopes: Vec<String>,
    },
    DeleteResource(Uuid),
    Keys,
    RotateKeys {
        revoke_current: bool,
    },
    Audit(String),
}

/// A part of the console that waits for answers of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    SignIn,
    Dashboard,
    Users,
    UserDetail,
    Clients,
    Keys,
    Audit,
    Resources,
}

/// Whether a request fetches what a pane shows or changes something on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Only the newest load of a pane counts; answers to older ones are stale.
    Load,
    /// Every change is answered, whatever was asked after it.
    Change,
}

impl Request {
    /// The pane the answer belongs to, whichever screen is showing when it arrives.
    pub fn pane(&self) -> Pane {
        match self {
            Self::SignIn { .. } => Pane::SignIn,
            Self::Stats => Pane::Dashboard,
            Self::Users(_) | Self::UpdateUser { .. } | Self::UserAction { .. } => Pane::Users,
            Self::UserSessions(_) => Pane::UserDetail,
            Self::Clients
            | Self::CreateClient { .. }
            | Self::RotateClientSecret(_)
            | Self::DeleteClient(_) => Pane::Clients,
            Self::Resources | Self::CreateResource { .. } | Self::DeleteResource(_) => {
                Pane::Resources
            }
            Self::Keys | Self::RotateKeys { .. } => Pane::Keys,
            Self::Audit(_) => Pane::Audit,
        }
    }

    pub fn purpose(&self) -> Purpose {
        match self {
            Self::Stats
            | Self::Users(_)
            | Self::UserSessions(_)
            | Self::Clients
            | Self::Resources
            | Self::Keys
            | Self::Audit(_) => Purpose::Load,
            _ => Purpose::Change,
        }
    }
}

/// Who asked, for what, and when: `seq` grows with every request the console sends, so of two
/// loads for one pane the later one has the larger number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    pub pane: Pane,
    pub purpose: Purpose,
    pub seq: u64,
}

/// A request or an answer with the tag that ties them together.
#[derive(Debug, Clone, PartialEq)]
pub struct Tagged<T> {
    pub tag: Tag,
    pub body: T,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    SignedIn,
    Stats(Stats),
    Users(UserPage),
    UserSessions(Vec<Session>),
    /// Boxed: a user is several times the size of any other answer, and every action would
    /// carry that size.
    UserChanged {
        user: Option<Box<User>>,
        done: String,
    },
    Clients(Vec<OAuthClient>),
    /// Boxed for the same reason: a client carries its keys.
    ClientSecret(Box<OAuthClient>),
    ClientDeleted,
    Resources(Vec<ApiResource>),
    ResourceCreated(ApiResource),
    ResourceDeleted,
    Keys(Vec<Key>),
    KeysRotated(Vec<Key>),
    Audit(Vec<AuditEvent>),
}

pub type Reply = Result<Response, ApiError>;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Key(KeyEvent),
    /// Periodic: live screens refresh.
    Tick,
    Request(Tagged<Request>),
    Response(Tagged<Reply>),
}
