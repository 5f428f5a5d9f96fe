//! `GET /api/ingestion/history` (seed 1): the session's upload attempts, newest
//! first, as JSON a front end can render without checks: RFC 3339 UTC times,
//! `size` with `size_human`, empty strings rather than nulls where a default
//! exists. A stored record that does not make sense is skipped and logged.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::db::history::{self, HistoryFilter, RecordRow, Scope};
use crate::domain::processing::Status;
use crate::domain::{SessionId, size, timestamp};
use crate::http::caller::AuthUser;
use crate::http::error::ApiError;
use crate::http::session_hint::{SessionHint, announce, parse_session};
use crate::pipeline::Error;
use crate::pipeline::session;
use crate::pipeline::state::AppState;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 100;

/// Every value arrives as text so that a bad one is refused with its name.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    page: Option<String>,
    page_size: Option<String>,
    /// One status or several, comma-separated.
    status: Option<String>,
    /// RFC 3339 timestamp or `YYYY-MM-DD` (from the start of that UTC day).
    from: Option<String>,
    /// RFC 3339 timestamp or `YYYY-MM-DD` (to the end of that UTC day).
    to: Option<String>,
    /// Case-insensitive part of the file name.
    filename: Option<String>,
    /// `session` (default) or `user` (all of the user's sessions).
    scope: Option<String>,
    /// The session, when neither `X-Session-Id` nor the cookie names it.
    session_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryPage {
    pub records: Vec<RecordView>,
    pub page: i64,
    pub page_size: i64,
    /// Matching records in all pages.
    pub total: i64,
    pub total_pages: i64,
    pub scope: &'static str,
    pub session_id: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecordView {
    pub id: String,
    pub session_id: String,
    /// The client's name for the upload.
    pub filename: String,
    /// depot's name for the stored file (empty until known).
    pub file_name: String,
    pub size: i64,
    pub size_human: String,
    pub content_type: String,
    pub status: &'static str,
    /// Empty unless `failed`.
    pub error_code: String,
    pub error_message: String,
    pub started_at: String,
    /// When the attempt completed or failed; null while it runs.
    pub completed_at: Option<String>,
}

#[utoipa::path(get, path = "/api/ingestion/history", tag = "sessions", params(HistoryParams),
    responses((status = 200, description = "The session's upload attempts, newest first", body = HistoryPage),
        (status = 422, description = "A bad parameter, named", body = crate::http::openapi::ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    hint: SessionHint,
    params: Result<Query<HistoryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|rejection| Error::Validation(rejection.body_text()))?;
    let page = positive("page", params.page.as_deref(), 1, i64::MAX)?;
    let page_size = positive(
        "page_size",
        params.page_size.as_deref(),
        DEFAULT_PAGE_SIZE,
        MAX_PAGE_SIZE,
    )?;
    let filter = filter_of(&params)?;
    let user_scope = match params.scope.as_deref() {
        None | Some("session") => false,
        Some("user") => true,
        Some(_) => {
            return Err(Error::Validation("`scope` must be `session` or `user`".into()).into());
        }
    };
    let explicit = params
        .session_id
        .as_deref()
        .filter(|id| !id.trim().is_empty())
        .map(parse_session)
        .transpose()?;
    let session = session::resolve(&state, user, hint.named(explicit)?).await?;
    let scope = if user_scope {
        Scope::User
    } else {
        Scope::Session(session.id)
    };

    let (rows, total) = history::page(state.db.pool(), user, scope, &filter, page, page_size).await?;
    let body = HistoryPage {
        records: rows.into_iter().filter_map(RecordView::checked).collect(),
        page,
        page_size,
        total,
        total_pages: (total + page_size - 1) / page_size,
        scope: if user_scope { "user" } else { "session" },
        session_id: session.id.to_string(),
    };
    let mut headers = HeaderMap::new();
    announce(&mut headers, &session, state.sessions.ttl);
    Ok((headers, Json(body)).into_response())
}

impl RecordView {
    /// The front end's view of a stored record, or `None` (logged) when the row is
    /// malformed: an unknown status, a negative size, a bad id or timestamp.
    fn checked(row: RecordRow) -> Option<Self> {
        let problem = match (
            row.status.parse::<Status>(),
            SessionId::parse(&row.session_id),
            u64::try_from(row.size),
        ) {
            (Err(err), _, _) => Some(err.to_string()),
            (_, Err(err), _) => Some(err.to_string()),
            (_, _, Err(_)) => Some(format!("negative size {}", row.size)),
            (Ok(status), Ok(_), Ok(bytes)) => {
                let started_at = timestamp::to_rfc3339(row.started_at);
                let completed_at = row.completed_at.map(timestamp::to_rfc3339);
                if started_at.is_empty() || completed_at.as_deref() == Some("") {
                    Some("timestamp out of range".to_owned())
                } else {
                    return Some(Self {
                        size_human: size::human(bytes),
                        id: row.id,
                        session_id: row.session_id,
                        filename: row.filename,
                        file_name: row.file_name,
                        size: row.size,
                        content_type: row.content_type,
                        status: status.as_str(),
                        error_code: row.error_code,
                        error_message: row.error_message,
                        started_at,
                        completed_at,
                    });
                }
            }
        };
        tracing::warn!(
            record = row.id,
            problem = problem.unwrap_or_default(),
            "skipped a malformed processing record"
        );
        None
    }
}

fn positive(name: &str, raw: Option<&str>, default: i64, max: i64) -> Result<i64, ApiError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<i64>() {
        Ok(value) if (1..=max).contains(&value) => Ok(value),
        _ if max == i64::MAX => {
            Err(Error::Validation(format!("`{name}` must be a whole number from 1")).into())
        }
        _ => Err(Error::Validation(format!("`{name}` must be a whole number from 1 to {max}")).into()),
    }
}

fn filter_of(params: &HistoryParams) -> Result<HistoryFilter, ApiError> {
    let statuses = match params.status.as_deref() {
        None => Vec::new(),
        Some(raw) => raw
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(|part| {
                part.parse::<Status>()
                    .map_err(|err| Error::Validation(format!("`status`: {err}")))
            })
            .collect::<Result<_, _>>()?,
    };
    let from = params
        .from
        .as_deref()
        .map(|raw| instant("from", raw, DayEdge::Start))
        .transpose()?;
    let to = params
        .to
        .as_deref()
        .map(|raw| instant("to", raw, DayEdge::End))
        .transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(Error::Validation("`from` is after `to`".into()).into());
    }
    Ok(HistoryFilter {
        statuses,
        from,
        to,
        filename: params.filename.clone().filter(|name| !name.trim().is_empty()),
    })
}

#[derive(Debug, Clone, Copy)]
enum DayEdge {
    Start,
    End,
}

/// An RFC 3339 timestamp, or a `YYYY-MM-DD` date taken as the start or the last
/// microsecond of that UTC day.
fn instant(name: &str, raw: &str, edge: DayEdge) -> Result<i64, ApiError> {
    let raw = raw.trim();
    if let Some(micros) = timestamp::parse_rfc3339(raw) {
        return Ok(micros);
    }
    let day_start = timestamp::parse_rfc3339(&format!("{raw}T00:00:00Z")).ok_or_else(|| {
        Error::Validation(format!(
            "`{name}` must be a date (2026-01-31) or an RFC 3339 timestamp (2026-01-31T12:00:00Z)"
        ))
    })?;
    Ok(match edge {
        DayEdge::Start => day_start,
        DayEdge::End => day_start + 86_400_000_000 - 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_covers_its_whole_utc_day() {
        let start = instant("from", "2026-01-31", DayEdge::Start).unwrap();
        let end = instant("to", "2026-01-31", DayEdge::End).unwrap();
        assert_eq!(end - start, 86_400_000_000 - 1);
        assert_eq!(
            instant("from", "2026-01-31T00:00:00Z", DayEdge::Start).unwrap(),
            start
        );
        assert!(instant("from", "31/01/2026", DayEdge::Start).is_err());
    }
}
