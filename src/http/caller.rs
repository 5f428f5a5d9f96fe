//! Who is calling: the extractors that turn a request's bearer token or API
//! key into a user, and refuse what its scope does not
//! allow; and the client address a request comes from. The audit middleware
//! resolves the credential first and leaves the [`Caller`] in the request's
//! extensions; the extractors take it from there.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::domain::UserId;
use crate::pipeline::Error;
use crate::pipeline::credentials::Caller;
use crate::pipeline::state::AppState;

/// The caller a request's bearer credential proves, resolved once per request.
pub async fn resolve(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    if let Some(caller) = parts.extensions.get::<Caller>() {
        return Ok(*caller);
    }
    let caller = state.credentials.resolve(bearer(parts)?).await?;
    parts.extensions.insert(caller);
    Ok(caller)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        resolve(parts, state).await
    }
}

/// The caller, proven by a valid bearer credential whose scope allows the
/// request: one that reads only is refused any method but `GET`, `HEAD` and
/// `OPTIONS` (403 `insufficient_scope`).
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = resolve(parts, state).await?;
        if !parts.method.is_safe() && !caller.scope.writes() {
            return Err(Error::InsufficientScope.into());
        }
        Ok(Self(caller.user))
    }
}

/// The caller of a request that changes no data although its method is not
/// a read (making a download link or a session, signing out, revoking a
/// key): any valid credential.
#[derive(Debug, Clone, Copy)]
pub struct Reader(pub UserId);

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(resolve(parts, state).await?.user))
    }
}

/// An operator: an admin's token, an `admin` key, or a token `depot token
/// --admin` minted. Anyone else with a valid credential hears that the
/// route does not exist (404).
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub UserId);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = resolve(parts, state).await?;
        if !caller.admin() {
            return Err(Error::NotFound("route").into());
        }
        Ok(Self(caller.user))
    }
}

/// The bearer token of a request.
pub fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?;
    header
        .to_str()
        .ok()
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or(ApiError::Unauthorized(
            "authorization header is not a bearer token",
        ))
}

/// The client a request comes from, worked out once per request: its peer,
/// or — behind a trusted proxy — the address `X-Forwarded-For` names (see
/// [`Limits::client_address`](crate::pipeline::limits::Limits::client_address)).
pub fn client_address(parts: &mut Parts, state: &AppState) -> IpAddr {
    if let Some(Client(address)) = parts.extensions.get::<Client>() {
        return *address;
    }
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(peer)| peer.ip());
    let forwarded = parts
        .headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok());
    let address = state.limits.client_behind(peer, forwarded);
    parts.extensions.insert(Client(address));
    address
}

/// The client address of a request, as an extractor; kept in the request's
/// extensions once worked out.
#[derive(Debug, Clone, Copy)]
pub struct Client(pub IpAddr);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(parts, state)))
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";
