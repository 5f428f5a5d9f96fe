//! `POST /api/v1/sessions` and `GET /api/v1/sessions/{id}`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::files;
use crate::db::sessions::SessionRow;
use crate::domain::timestamp;
use crate::http::caller::{AuthUser, Reader};
use crate::http::error::ApiError;
use crate::http::session_hint::{announce, parse_session};
use crate::pipeline::session;
use crate::pipeline::state::AppState;

/// A session as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    /// The active file's name, if the session has one.
    pub active_file: Option<String>,
}

impl SessionView {
    async fn of(state: &AppState, row: SessionRow) -> Result<Self, ApiError> {
        let active_file = match row.active_file_id {
            Some(id) => files::find_by_id(state.db.pool(), id)
                .await?
                .map(|file| file.file_name),
            None => None,
        };
        Ok(Self {
            id: row.id,
            created_at: timestamp::to_rfc3339(row.created_at),
            last_seen_at: timestamp::to_rfc3339(row.last_seen_at),
            expires_at: timestamp::to_rfc3339(row.expires_at),
            active_file,
        })
    }
}

/// Starts a new session for the caller: 201, its id in the body, `Location`,
/// `X-Session-Id` and the `depot_session` cookie.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    responses((status = 201, description = "A new session; also set as the `depot_session` cookie", body = SessionView)))]
/// A credential that only reads may open a session too: a session is the
/// client's own bookkeeping (its active file, its history), not data.
pub async fn create(State(state): State<AppState>, Reader(user): Reader) -> Result<Response, ApiError> {
    let session = session::start(&state, user).await?;
    let mut headers = HeaderMap::new();
    announce(&mut headers, &session, state.sessions.ttl);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/sessions/{}", session.id)) {
        headers.insert(LOCATION, location);
    }
    let view = SessionView::of(&state, session.row).await?;
    Ok((StatusCode::CREATED, headers, Json(view)).into_response())
}

/// The caller's session; another user's, an unknown or an expired one is 404.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = String, Path, format = "uuid")),
    responses((status = 200, description = "The session", body = SessionView),
        (status = 404, description = "Not your session, or expired (`session_expired`)", body = crate::http::openapi::ErrorBody), (status = 422, description = "A malformed session id", body = crate::http::openapi::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<SessionView>, ApiError> {
    let id = parse_session(&id)?;
    let row = session::find(&state, user, id).await?;
    Ok(Json(SessionView::of(&state, row).await?))
}
