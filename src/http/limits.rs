//! The rate-limit middleware: which limit a request counts against, under
//! whose name, and the answer — 429 `rate_limited` with `Retry-After`, and
//! on every counted request the `RateLimit-Policy` and `RateLimit` headers
//! of the IETF draft (draft-ietf-httpapi-ratelimit-headers):
//! `RateLimit-Policy: "uploads";q=3000;w=1`, `RateLimit: "uploads";r=2999;t=1`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::caller;
use super::error::ApiError;
use super::is_upload;
use crate::pipeline::Error;
use crate::pipeline::error::retry_seconds;
use crate::pipeline::limits::{Limit, Standing};
use crate::pipeline::state::AppState;

const RATELIMIT: &str = "ratelimit";
const RATELIMIT_POLICY: &str = "ratelimit-policy";

/// The middleware (a route layer, so the route is known).
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let Some(standing) = count(&state, &mut parts).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if !standing.decision.allowed {
        crate::metrics::rate_limited(standing.limit.name());
        return ApiError::from(Error::RateLimited(standing)).into_response();
    }
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // A refusal by a narrower limit (failed sign-ins) tells its own.
    if !response.headers().contains_key(RATELIMIT) {
        tell(response.headers_mut(), &standing);
    }
    response
}

/// Counts the request against its limit: sign-ins per client address,
/// uploads and other requests per user (or API key), requests without a
/// valid credential per client address.
async fn count(state: &AppState, parts: &mut Parts) -> Option<Standing> {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    if parts.method == Method::POST
        && matches!(route.as_str(), "/api/v1/auth/login" | "/api/v1/auth/register")
    {
        let address = caller::client_address(parts, state);
        return state.limits.take(Limit::Login, &address.to_string()).await;
    }
    let caller = if parts.headers.contains_key(AUTHORIZATION) {
        caller::resolve(parts, state).await.ok()
    } else {
        None
    };
    let Some(caller) = caller else {
        let address = caller::client_address(parts, state);
        return state.limits.take(Limit::Anonymous, &address.to_string()).await;
    };
    let limit = if is_upload(parts.method.as_str(), &route) {
        Limit::Uploads
    } else {
        Limit::Requests
    };
    let who = match caller.key {
        Some(key) => format!("key{key}"),
        None => format!("user{}", caller.user),
    };
    state.limits.take(limit, &who).await
}

/// Tells the client how the limit it counted against stands; when it was
/// refused, also when to come back.
pub fn tell(headers: &mut HeaderMap, standing: &Standing) {
    let name = standing.limit.name();
    let window = seconds(standing.rate.per.as_secs_f64());
    let (remaining, until) = if standing.decision.allowed {
        (
            standing.decision.remaining,
            seconds(standing.decision.reset.as_secs_f64()),
        )
    } else {
        let retry = retry_seconds(standing);
        headers.insert(RETRY_AFTER, HeaderValue::from(retry));
        (0, retry)
    };
    let values = [
        (
            RATELIMIT_POLICY,
            format!("\"{name}\";q={};w={window}", standing.rate.count),
        ),
        (RATELIMIT, format!("\"{name}\";r={remaining};t={until}")),
    ];
    for (header, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header, value);
        }
    }
}

/// Whole seconds, rounded up.
fn seconds(seconds: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // small, non-negative
    let whole = seconds.ceil() as u64;
    whole
}
