//! `sigil-admin`: the terminal console for Sigil operators. What is shared (screen, overlay,
//! status line, requests under way) in [`app`]; each screen's state, update and view in
//! [`screens`]; popups and dialogs in [`overlay`]; the frame around them in [`ui`]; the HTTP
//! client in [`api`]. [`perform`] runs a request in the background and answers with the
//! action the update loop expects, tagged like the request.

pub mod action;
pub mod api;
pub mod app;
pub mod overlay;
pub mod remote;
pub mod screens;
pub mod transport;
pub mod ui;

use action::{Action, Request, Response, Tagged};
use api::Client;

/// Runs one request against the server; the answer goes back into `App::update` with the
/// request's tag.
pub async fn perform(client: &Client, request: Tagged<Request>) -> Action {
    let Tagged { tag, body } = request;
    let result = match body {
        Request::SignIn {
            login,
            password,
            totp,
        } => client
            .sign_in(&login, &password, totp.as_deref())
            .await
            .map(|()| Response::SignedIn),
        Request::Stats => client.stats().await.map(Response::Stats),
        Request::Users(query) => client.users(&query).await.map(Response::Users),
        Request::UserSessions(id) => client.user_sessions(id).await.map(Response::UserSessions),
        Request::UpdateUser { id, change, done } => {
            client
                .update_user(id, change)
                .await
                .map(|user| Response::UserChanged {
                    user: Some(Box::new(user)),
                    done,
                })
        }
        Request::UserAction { id, action, done } => client
            .user_action(id, action)
            .await
            .map(|()| Response::UserChanged { user: None, done }),
        Request::Clients => client.clients().await.map(Response::Clients),
        Request::CreateClient {
            name,
            client_type,
            redirect_uri,
            settings,
        } => client
            .create_client(&name, client_type, &redirect_uri, &settings)
            .await
            .map(|c| Response::ClientSecret(Box::new(c))),
        Request::RotateClientSecret(id) => client
            .rotate_client_secret(&id)
            .await
            .map(|c| Response::ClientSecret(Box::new(c))),
        Request::DeleteClient(id) => client
            .delete_client(&id)
            .await
            .map(|()| Response::ClientDeleted),
        Request::Resources => client.resources().await.map(Response::Resources),
        Request::CreateResource {
            identifier,
            name,
            scopes,
        } => client
            .create_resource(&identifier, &name, &scopes)
            .await
            .map(Response::ResourceCreated),
        Request::DeleteResource(id) => client
            .delete_resource(id)
            .await
            .map(|()| Response::ResourceDeleted),
        Request::Keys => client.keys().await.map(Response::Keys),
        Request::RotateKeys { revoke_current } => client
            .rotate_keys(revoke_current)
            .await
            .map(Response::KeysRotated),
        Request::Audit(filter) => client.audit(&filter).await.map(Response::Audit),
    };
    Action::Response(Tagged { tag, body: result })
}
