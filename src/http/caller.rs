//! Who is calling: the extractors that turn a request's bearer token or
//! download link into a user id.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::auth::Keys;
use crate::domain::UserId;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

impl FromRef<AppState> for Keys {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

/// The caller, proven by a valid bearer token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl<S> FromRequestParts<S> for AuthUser
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (user, _) = Keys::from_ref(state).verify_claims(bearer(parts)?)?;
        Ok(Self(user))
    }
}

/// An operator, proven by a token `depot token --admin` minted. Anyone else
/// with a valid token hears that the route does not exist (404).
#[derive(Debug, Clone, Copy)]
pub struct AdminUser(pub UserId);

impl<S> FromRequestParts<S> for AdminUser
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Keys::from_ref(state).verify_claims(bearer(parts)?)? {
            (user, true) => Ok(Self(user)),
            (_, false) => Err(Error::NotFound("route").into()),
        }
    }
}

/// Who reads a file's content: a bearer token's user, or — on a request
/// without an `Authorization` header — the holder of a download link
/// (`?link=…`, from `POST /api/v1/files/{file_name}/link`), which opens that
/// one file only (`only`).
#[derive(Debug, Clone)]
pub struct ContentReader {
    pub user: UserId,
    pub only: Option<String>,
}

impl<S> FromRequestParts<S> for ContentReader
where
    Keys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(AUTHORIZATION) {
            let (user, _) = Keys::from_ref(state).verify_claims(bearer(parts)?)?;
            return Ok(Self { user, only: None });
        }
        let link = link(parts).ok_or(ApiError::Unauthorized("missing bearer token"))?;
        let (user, file) = Keys::from_ref(state).verify_link(&link)?;
        Ok(Self {
            user,
            only: Some(file),
        })
    }
}

/// The download link token of a request (`?link=`), if it has one.
pub fn link(parts: &Parts) -> Option<String> {
    url::form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(key, _)| key == "link")
        .map(|(_, value)| value.into_owned())
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
