//! What can happen: keys, ticks, requests for background work and their answers.

use crossterm::event::KeyEvent;
use serde_json::Value;

use crate::api::{
    ApiError, ApiResource, AuditEvent, Key, OAuthClient, Session, Stats, User, UserPage, UserQuery,
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
    UserSessions(String),
    UpdateUser {
        id: String,
        change: Value,
        done: String,
    },
    UserAction {
        id: String,
        action: &'static str,
        done: String,
    },
    Clients,
    CreateClient {
        name: String,
        client_type: String,
        redirect_uri: String,
    },
    RotateClientSecret(String),
    DeleteClient(String),
    Resources,
    CreateResource {
        identifier: String,
        name: String,
        scopes: Vec<String>,
    },
    DeleteResource(String),
    Keys,
    RotateKeys {
        revoke_current: bool,
    },
    Audit(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    SignedIn,
    Stats(Stats),
    Users(UserPage),
    UserSessions(Vec<Session>),
    UserChanged { user: Option<User>, done: String },
    Clients(Vec<OAuthClient>),
    ClientSecret(OAuthClient),
    ClientDeleted,
    Resources(Vec<ApiResource>),
    ResourceCreated(ApiResource),
    ResourceDeleted,
    Keys(Vec<Key>),
    KeysRotated(Vec<Key>),
    Audit(Vec<AuditEvent>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Key(KeyEvent),
    /// Periodic: live screens refresh.
    Tick,
    Request(Request),
    Response(Result<Response, ApiError>),
}
