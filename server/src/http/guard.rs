//! Who is calling. [`Authenticate`] checks the bearer token once per request and leaves the
//! [`Principal`] in the depot; [`require`] refuses a principal without a permission; handlers
//! read the result with [`principal`] or [`authorized`].
//!
//! Both readers fail closed: a handler mounted without its hoop finds nothing in the depot
//! and refuses, instead of serving an unauthenticated caller.

use salvo::prelude::*;

use super::context::app_state;
use super::respond::render_error;
use crate::domain::Permission;
use crate::error::{ApiError, ApiResult};
use crate::service::principal::{Principal, authenticate, bearer_token};

/// Set by [`require`] after its check passed.
struct Authorized;

/// The caller behind the `Authorization: Bearer` header, fully checked (SPEC section 5:
/// issuer, audience, expiry, session, account status).
pub struct Authenticate;

#[async_trait]
impl Handler for Authenticate {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        match principal_of(req, depot).await {
            Ok(principal) => {
                depot.insert_typed(principal);
            }
            Err(err) => {
                render_error(&err, depot, res);
                ctrl.skip_rest();
            }
        }
    }
}

async fn principal_of(req: &Request, depot: &Depot) -> ApiResult<Principal> {
    let state = app_state(depot)?;
    let header = req.headers().get("authorization").map(|v| v.to_str());
    let header = match header {
        None => None,
        // A header that is not visible ASCII is no valid bearer header.
        Some(Err(_)) => Some(""),
        Some(Ok(value)) => Some(value),
    };
    authenticate(&state, bearer_token(header)?).await
}

/// Refuses (403 `INSUFFICIENT_PERMISSIONS`) a principal whose roles do not grant `permission`.
/// Mounted inside [`Authenticate`].
pub fn require(permission: Permission) -> Require {
    Require(permission)
}

pub struct Require(Permission);

#[async_trait]
impl Handler for Require {
    async fn handle(
        &self,
        _req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        match principal(depot).and_then(|p| p.require(self.0)) {
            Ok(()) => {
                depot.insert_typed(Authorized);
            }
            Err(err) => {
                render_error(&err, depot, res);
                ctrl.skip_rest();
            }
        }
    }
}

/// The authenticated caller.
pub fn principal(depot: &Depot) -> ApiResult<&Principal> {
    depot
        .get_typed::<Principal>()
        .map_err(|_| ApiError::internal("route mounted without the Authenticate hoop"))
}

/// The authenticated caller, once a [`require`] hoop has checked a permission.
pub fn authorized(depot: &Depot) -> ApiResult<&Principal> {
    depot
        .get_typed::<Authorized>()
        .map_err(|_| ApiError::internal("route mounted without a permission hoop"))?;
    principal(depot)
}
