//! The rate-limit hoop: counts the request against a bucket before the handler runs.

use salvo::prelude::*;

use super::context::{app_state, client_ip};
use super::respond::{render_error, set_rate_headers};
use crate::error::ApiError;
use crate::service::rate_limit::{Bucket, check};

pub struct RateLimited(pub Bucket);

#[async_trait]
impl Handler for RateLimited {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let state = match app_state(depot) {
            Ok(state) => state,
            Err(e) => {
                render_error(&e, depot, res);
                ctrl.skip_rest();
                return;
            }
        };
        let Some(ip) = client_ip(req, &state.config.trusted_proxies) else {
            // No address to count against (not a TCP peer): refuse rather than skip the limit.
            render_error(
                &ApiError::bad_request("The client address is unknown"),
                depot,
                res,
            );
            ctrl.skip_rest();
            return;
        };
        match check(&state, self.0, &ip.to_string()).await {
            Ok(Some(decision)) => set_rate_headers(res, &decision),
            Ok(None) => {}
            Err(refused) => {
                if refused.rate.is_some() {
                    tracing::info!(bucket = ?self.0, %ip, "rate limited");
                }
                render_error(&refused, depot, res);
                ctrl.skip_rest();
            }
        }
    }
}
