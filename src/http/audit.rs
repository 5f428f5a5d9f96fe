//! The audit trail at the HTTP edge: every audited request gets exactly one
//! event. The middleware learns who asks before the handler runs and hands
//! the handler an [`Audit`]; a change writes its own event in its
//! transaction, and the middleware writes the event of anything else — a
//! read, a login, a refusal (401, 404 on another user's file), a failure —
//! once the answer is known and before it leaves. If that write fails, the
//! client gets 503 instead of the answer.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;

use crate::http::caller;
use crate::http::error::{ApiError, ErrorCode};
use crate::http::session_hint::SessionHint;
use crate::pipeline::Error;
use crate::pipeline::audit::{Audit, Who};
use crate::pipeline::state::AppState;

/// What an audited request is, by method and route; `None` for requests the
/// trail does not record (the steps of a resumable upload that neither
/// complete nor fail it, health checks, sessions, history).
fn action(method: &Method, route: &str, status: StatusCode) -> Option<&'static str> {
    let denied = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND);
    Some(match (method.as_str(), route) {
        ("POST", "/api/v1/files/" | "/api/v1/files") | ("PUT", "/api/v1/files/{file_name}/content") => {
            "upload"
        }
        ("PUT", "/api/v1/files/active/content") | ("POST", "/api/files/upload") => "upload",
        (
            "GET",
            "/api/v1/files/{file_name}/content"
            | "/api/v1/files/active/content"
            | "/ipfs/{cid}"
            | "/api/files/{cid}"
            | "/api/v1/shared/{owner}/{file_name}/content"
            | "/s/{token}",
        )
        | ("POST", "/s/{token}") => {
            if status == StatusCode::PARTIAL_CONTENT {
                "download_range"
            } else {
                "download"
            }
        }
        ("GET", "/api/v1/files/{file_name}/preview" | "/api/v1/shared/{owner}/{file_name}/preview") => {
            "preview"
        }
        ("POST", "/api/v1/files/{file_name}/link") => "download_link",
        ("POST", "/api/v1/files/{file_name}/links" | "/api/v1/upload-links") => "link_create",
        ("GET", "/api/v1/links") => "link_list",
        ("PATCH", "/api/v1/links/{id}") => "link_update",
        ("DELETE", "/api/v1/links/{id}") => "link_revoke",
        ("GET", "/s/{token}/info" | "/u/{token}/info" | "/u/{token}") => "link_open",
        ("POST", "/u/{token}") => "upload",
        ("PUT", "/api/v1/files/{file_name}/shared-with/{username}") => "share",
        ("DELETE", "/api/v1/files/{file_name}/shared-with/{username}") => "unshare",
        ("GET", "/api/v1/files/{file_name}/shared-with") => "share_list",
        ("GET", "/api/v1/shared") => "shared_list",
        ("GET", "/api/v1/shared/{owner}/{file_name}") => "metadata",
        ("GET", "/api/v1/files/" | "/api/v1/files" | "/api/files/" | "/api/files")
        | ("POST", "/api/v1/files/search" | "/api/files/search") => "list",
        (
            "GET",
            "/api/v1/files/{file_name}"
            | "/api/v1/files/search"
            | "/api/v1/files/{file_name}/transfers"
            | "/api/v1/cids/{cid}"
            | "/api/files/{cid}/info",
        ) => "metadata",
        ("GET", "/api/v1/files/active/{session}") => "metadata",
        ("POST", "/api/v1/files/active/{session}") => "activate",
        (
            "DELETE",
            "/api/v1/files/{file_name}" | "/api/v1/files/search" | "/api/v1/cids/{cid}" | "/api/files/{cid}",
        ) => "delete",
        ("PATCH", "/api/v1/files/{file_name}" | "/api/v1/folders/{*path}") => "move",
        ("DELETE", "/api/v1/folders/{*path}") => "delete",
        ("GET", "/api/v1/folders/{*path}") => "metadata",
        ("POST", "/api/v1/auth/login") => "login",
        ("POST", "/api/v1/auth/register") => "register",
        ("POST", "/api/v1/auth/logout") => "logout",
        ("POST", "/api/v1/auth/password") => "password_change",
        ("POST", "/api/v1/keys") => "key_create",
        ("GET", "/api/v1/keys") => "key_list",
        ("DELETE", "/api/v1/keys/{id}") => "key_revoke",
        ("POST", "/api/v1/uploads/" | "/api/v1/uploads" | "/u/{token}/uploads/") => "upload_start",
        // A PATCH that completes the upload records "upload" itself; one that
        // fails is recorded as a failed upload; the ones between are not events.
        ("PATCH", "/api/v1/uploads/{id}" | "/u/{token}/uploads/{id}") if !status.is_success() => "upload",
        ("HEAD", "/api/v1/uploads/{id}" | "/u/{token}/uploads/{id}") if denied => "upload_status",
        ("DELETE", "/api/v1/uploads/{id}" | "/u/{token}/uploads/{id}") => "upload_cancel",
        ("GET", "/api/v1/admin/audit" | "/api/v1/admin/audit/export") => "audit_read",
        ("POST", "/api/v1/admin/jobs/{name}") => "job_start",
        ("GET", "/api/v1/admin/users") => "user_list",
        ("POST", "/api/v1/admin/users") => "user_create",
        ("PATCH", "/api/v1/admin/users/{id}") => "user_update",
        ("DELETE", "/api/v1/admin/users/{id}") => "user_delete",
        ("POST", "/api/v1/admin/invites") => "invite_create",
        ("GET", "/api/v1/admin/invites") => "invite_list",
        ("DELETE", "/api/v1/admin/invites/{id}") => "invite_revoke",
        _ => return None,
    })
}

/// The status a change answers when it succeeds, as its event records it.
fn success_for(method: &Method, route: &str) -> StatusCode {
    match (method.as_str(), route) {
        ("POST", "/api/v1/auth/logout") | ("DELETE", "/api/v1/keys/{id}" | "/api/v1/admin/invites/{id}") => {
            return StatusCode::NO_CONTENT;
        }
        (
            "PATCH",
            "/api/v1/admin/users/{id}"
            | "/api/v1/links/{id}"
            | "/api/v1/files/{file_name}"
            | "/api/v1/folders/{*path}",
        )
        | ("POST", "/api/v1/auth/password" | "/api/v1/files/search" | "/api/files/search") => {
            return StatusCode::OK;
        }
        ("DELETE", "/api/v1/links/{id}" | "/api/v1/files/{file_name}/shared-with/{username}") => {
            return StatusCode::NO_CONTENT;
        }
        _ => {}
    }
    match *method {
        Method::POST | Method::PUT => StatusCode::CREATED,
        Method::PATCH => StatusCode::NO_CONTENT,
        _ => StatusCode::OK,
    }
}

/// Marks an answer on an audited route that is no event: a link's page,
/// which shows nothing until it asks for the link's information.
#[derive(Debug, Clone, Copy)]
pub struct Unaudited;

/// Whether `route` is a link's, used without an account.
fn is_link(route: &str) -> bool {
    route.starts_with("/s/") || route.starts_with("/u/")
}

/// The middleware (a route layer, so the route is known).
pub async fn trail(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let method = parts.method.clone();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    // The path's file name, CID or upload id: the subject, when the handler
    // does not name a better one. A link's token is a secret: never recorded.
    let subject = Path::<HashMap<String, String>>::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .and_then(|Path(mut params)| {
            params.remove("file_name").or_else(|| {
                params
                    .into_iter()
                    .find(|(name, _)| name != "token")
                    .map(|(_, value)| value)
            })
        });
    let audit = Audit::new(
        who(&state, &mut parts, &method, &route).await,
        state.audit.key().clone(),
    );
    parts.extensions.insert(audit.clone());
    let response = next.run(Request::from_parts(parts, body)).await;

    let status = response.status();
    let Some(action) = action(&method, &route, status) else {
        return response;
    };
    if response.extensions().get::<Unaudited>().is_some() {
        return response;
    }
    if audit.recorded() && status.is_success() {
        return response;
    }
    let mut event = audit.event(action, status.as_u16(), subject.as_deref());
    if let Some(ErrorCode(code)) = response.extensions().get::<ErrorCode>() {
        (*code).clone_into(&mut event.reason);
    }
    if action.starts_with("download") && status.is_success() {
        event.bytes = content_length(&response);
    }
    match state.audit.write(event).await {
        Ok(()) => response,
        Err(err) => {
            tracing::error!(error = %err, action, "could not write an audit event; the request fails");
            ApiError::from(Error::Unavailable("the audit trail")).into_response()
        }
    }
}

/// Who asks: the user a valid token names (the handler checks it again and
/// refuses a bad one), the session the request names, its peer address,
/// request id and this server's role.
async fn who(state: &AppState, parts: &mut axum::http::request::Parts, method: &Method, route: &str) -> Who {
    // A link's use is its owner's: its handler notes them once it is opened.
    let actor = match caller::bearer(parts) {
        Ok(_) if !is_link(route) => caller::resolve(parts, state).await.ok().map(|caller| caller.user),
        _ => None,
    };
    let session = match SessionHint::from_request_parts(parts, state).await {
        Ok(hint) => hint.claimed().map(|id| id.to_string()).unwrap_or_default(),
        Err(never) => match never {},
    };
    let client_ip = caller::client_address(parts, state).to_string();
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Who {
        actor,
        session,
        client_ip,
        request_id,
        server_role: state.role.as_str(),
        success: success_for(method, route).as_u16(),
    }
}

fn content_length(response: &Response) -> i64 {
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok())
        .unwrap_or_default()
}
