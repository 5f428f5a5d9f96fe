//! The audit trail for operators (tokens from `depot token --admin`):
//! `GET /api/v1/admin/audit` pages through events with filters, and
//! `GET /api/v1/admin/audit/export?format=jsonl|csv` streams all that match.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::db::audit::{self, Event, Filter};
use crate::domain::timestamp;
use crate::http::caller::AdminUser;
use crate::http::error::ApiError;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    actor: Option<i64>,
    action: Option<String>,
    file_name: Option<String>,
    outcome: Option<i32>,
    /// RFC 3339, inclusive.
    from: Option<String>,
    to: Option<String>,
    /// Events after this id (the previous page's `next`).
    after: Option<i64>,
    limit: Option<i64>,
    /// Export only: `jsonl` (the default) or `csv`.
    format: Option<String>,
}

impl AuditParams {
    fn filter(&self) -> Result<Filter, ApiError> {
        let time = |name: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|text| {
                    timestamp::parse_rfc3339(text).ok_or_else(|| {
                        Error::Validation(format!("{name} must be an RFC 3339 time, not {text:?}"))
                    })
                })
                .transpose()
        };
        Ok(Filter {
            actor: self.actor,
            action: self.action.clone(),
            file_name: self.file_name.clone(),
            outcome: self.outcome,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
        })
    }
}

/// An event as the API shows it: its time in RFC 3339.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    id: i64,
    at: String,
    actor: Option<i64>,
    session_id: String,
    action: String,
    file_name: String,
    content_key: String,
    bytes: i64,
    outcome: i32,
    /// The error code of a refusal or failure (`quota_exceeded`, …); empty
    /// for what succeeded, and for events written before reasons were kept.
    reason: String,
    /// What the actor acted through or on besides the file: `via link …`
    /// (a link's use), `with bob` (a share), `shared by ann` (a read of a
    /// file shared with the actor); empty for most events.
    detail: String,
    client_ip: String,
    request_id: String,
    server_role: String,
    prev_hash: String,
    hash: String,
    /// Whether `hash` is keyed (an HMAC under the audit key); false for
    /// events written before the chain was keyed.
    keyed: bool,
}

impl From<Event> for EventView {
    fn from(
        Event {
            id,
            content,
            prev_hash,
            hash,
            key_version,
        }: Event,
    ) -> Self {
        Self {
            id,
            at: timestamp::to_rfc3339(content.at),
            actor: content.actor,
            session_id: content.session_id,
            action: content.action,
            file_name: content.file_name,
            content_key: content.content_key,
            bytes: content.bytes,
            outcome: content.outcome,
            reason: content.reason,
            detail: content.detail,
            client_ip: content.client_ip,
            request_id: content.request_id,
            server_role: content.server_role,
            prev_hash,
            hash,
            keyed: key_version != 0,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    events: Vec<EventView>,
    /// Pass as `after` for the next page; absent on the last.
    next: Option<i64>,
}

fn params(query: Result<Query<AuditParams>, QueryRejection>) -> Result<AuditParams, Error> {
    query
        .map(|Query(params)| params)
        .map_err(|rejection| Error::Validation(rejection.body_text()))
}

/// `GET /api/v1/admin/audit`
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", params(AuditParams),
    responses((status = 200, description = "Audit events, oldest first", body = AuditPage),
        (status = 404, description = "Not an admin", body = crate::http::openapi::ErrorBody), (status = 422, description = "A bad parameter", body = crate::http::openapi::ErrorBody)))]
pub async fn audit(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let params = params(query)?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::Validation(format!("limit must be 1 to {MAX_PAGE}")).into());
    }
    let events = audit::page(
        state.db.pool(),
        &params.filter()?,
        params.after.unwrap_or(0),
        limit,
    )
    .await?;
    let next = (events.len() == usize::try_from(limit).unwrap_or(usize::MAX))
        .then(|| events.last().map(|event| event.id))
        .flatten();
    Ok(Json(AuditPage {
        events: events.into_iter().map(EventView::from).collect(),
        next,
    }))
}

#[derive(Debug, Clone, Copy)]
enum Format {
    JsonLines,
    Csv,
}

/// `GET /api/v1/admin/audit/export?format=jsonl|csv`: every matching event,
/// streamed a page at a time.
#[utoipa::path(get, path = "/api/v1/admin/audit/export", tag = "admin", params(AuditParams),
    responses((status = 200, description = "Every matching event as JSON Lines or CSV", content_type = "application/x-ndjson", body = String),
        (status = 404, description = "Not an admin", body = crate::http::openapi::ErrorBody), (status = 422, description = "A bad parameter", body = crate::http::openapi::ErrorBody)))]
pub async fn export(
    State(state): State<AppState>,
    _admin: AdminUser,
    query: Result<Query<AuditParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = params(query)?;
    let format = match params.format.as_deref().unwrap_or("jsonl") {
        "jsonl" => Format::JsonLines,
        "csv" => Format::Csv,
        other => {
            return Err(Error::Validation(format!("format must be jsonl or csv, not {other:?}")).into());
        }
    };
    let filter = params.filter()?;
    let start = params.after.unwrap_or(0);
    let header = match format {
        Format::Csv => Some(Bytes::from(csv_row(&CSV_COLUMNS.map(str::to_owned)))),
        Format::JsonLines => None,
    };
    let pages = futures_util::stream::try_unfold(Some(start), move |after| {
        let (state, filter) = (state.clone(), filter.clone());
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let events = audit::page(state.db.pool(), &filter, after, MAX_PAGE).await?;
            let next = (events.len() == MAX_PAGE as usize)
                .then(|| events.last().map(|event| event.id))
                .flatten();
            let mut text = String::new();
            for event in events {
                match format {
                    Format::JsonLines => {
                        text.push_str(&serde_json::to_string(&EventView::from(event)).unwrap_or_default());
                        text.push('\n');
                    }
                    Format::Csv => text.push_str(&csv_row(&csv_cells(event))),
                }
            }
            Ok::<_, sqlx::Error>(Some((Bytes::from(text), next)))
        }
    });
    let body = futures_util::stream::iter(header.map(Ok::<_, sqlx::Error>)).chain(pages);
    let (content_type, name) = match format {
        Format::JsonLines => ("application/x-ndjson", "audit.jsonl"),
        Format::Csv => ("text/csv; charset=utf-8", "audit.csv"),
    };
    Ok((
        [
            (CONTENT_TYPE, content_type.to_owned()),
            (CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        Body::from_stream(body.map_err(std::io::Error::other)),
    )
        .into_response())
}

const CSV_COLUMNS: [&str; 17] = [
    "id",
    "at",
    "actor",
    "session_id",
    "action",
    "file_name",
    "content_key",
    "bytes",
    "outcome",
    "reason",
    "detail",
    "client_ip",
    "request_id",
    "server_role",
    "prev_hash",
    "hash",
    "keyed",
];

fn csv_cells(event: Event) -> [String; 17] {
    let view = EventView::from(event);
    [
        view.id.to_string(),
        view.at,
        view.actor.map(|actor| actor.to_string()).unwrap_or_default(),
        view.session_id,
        view.action,
        view.file_name,
        view.content_key,
        view.bytes.to_string(),
        view.outcome.to_string(),
        view.reason,
        view.detail,
        view.client_ip,
        view.request_id,
        view.server_role,
        view.prev_hash,
        view.hash,
        view.keyed.to_string(),
    ]
}

/// One CSV line (RFC 4180), each cell defused first: a spreadsheet would run
/// a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
/// as a formula, so such a cell gets a leading `'` (OWASP's advice).
fn csv_row(cells: &[String]) -> String {
    let line: Vec<String> = cells
        .iter()
        .map(|cell| {
            let defused = if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{cell}")
            } else {
                cell.clone()
            };
            if defused.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", defused.replace('"', "\"\""))
            } else {
                defused
            }
        })
        .collect();
    format!("{}\r\n", line.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        let cells = ["=SUM(A1)", "a,b", "say \"hi\"", "-1", "@cmd", "\tx", "plain"].map(str::to_owned);
        assert_eq!(
            csv_row(&cells),
            "'=SUM(A1),\"a,b\",\"say \"\"hi\"\"\",'-1,'@cmd,'\tx,plain\r\n"
        );
        assert_eq!(csv_row(&["\rcr".to_owned()]), "\"'\rcr\"\r\n");
    }
}
