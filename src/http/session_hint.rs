//! How a request names its session — a path segment or form field (seed 2), the
//! `X-Session-Id` header, or the `depot_session` cookie — and how a response tells
//! the client which session it worked in.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use cookie::{Cookie, SameSite};

use crate::domain::SessionId;
use crate::pipeline::Error;
use crate::pipeline::session::{Named, Session};

pub const SESSION_HEADER: &str = "x-session-id";
pub const SESSION_COOKIE: &str = "depot_session";

/// The session-naming parts of a request, read but not yet trusted.
#[derive(Debug, Clone, Default)]
pub struct SessionHint {
    header: Option<String>,
    cookie: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for SessionHint {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(SESSION_HEADER)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .filter(|value| !value.trim().is_empty());
        let cookie = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|cookie| cookie.name() == SESSION_COOKIE)
            .map(|cookie| cookie.value().to_owned());
        Ok(Self { header, cookie })
    }
}

impl SessionHint {
    /// The session the header, else the cookie, names, if it is a session id.
    pub fn claimed(&self) -> Option<SessionId> {
        [&self.header, &self.cookie]
            .into_iter()
            .flatten()
            .find_map(|raw| SessionId::parse(raw.trim()).ok())
    }

    /// What the request named: `explicit` (a path segment or form field) first,
    /// then the header, then the cookie. A malformed header is the client's error;
    /// a malformed cookie is ignored (a new session replaces it).
    pub fn named(&self, explicit: Option<SessionId>) -> Result<Named, Error> {
        if let Some(id) = explicit {
            return Ok(Named::Explicit(id));
        }
        if let Some(raw) = &self.header {
            return parse_session(raw).map(Named::Explicit);
        }
        Ok(match self.cookie.as_deref().map(SessionId::parse) {
            Some(Ok(id)) => Named::Cookie(id),
            _ => Named::Nothing,
        })
    }
}

/// Parses a session id given by the client (422 when it is not a UUID).
pub fn parse_session(raw: &str) -> Result<SessionId, Error> {
    SessionId::parse(raw).map_err(|err| Error::InvalidSessionId(err.to_string()))
}

/// Names the session in `X-Session-Id`, and (re)sets the browser's cookie when
/// depot chose or extended the session for it.
pub fn announce(headers: &mut HeaderMap, session: &Session, ttl: Duration) {
    if let Ok(value) = HeaderValue::from_str(&session.id.to_string()) {
        headers.insert(SESSION_HEADER, value);
    }
    if session.set_cookie {
        let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let cookie = Cookie::build((SESSION_COOKIE, session.id.to_string()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age))
            .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            headers.append(SET_COOKIE, value);
        }
    }
}
