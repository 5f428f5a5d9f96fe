//! What every S3 operation does around its work: the caller its access key
//! speaks for, the scope the operation needs, the rate limit it counts
//! against, the bucket being the caller's own, and one audit event per
//! request — written by the work's own transaction when it changes
//! something, here otherwise.

use std::net::IpAddr;

use s3s::{S3Error, S3Request, S3Result, s3_error};
use tower_http::request_id::RequestId;

use crate::db::users;
use crate::domain::{Scope, SessionId, UserId};
use crate::pipeline::audit::{Audit, Who};
use crate::pipeline::credentials::Caller;
use crate::pipeline::limits::Limit;
use crate::pipeline::session::Named;
use crate::s3::S3Api;
use crate::s3::error::from_pipeline;

/// The client's address, as the router worked it out (behind a trusted
/// proxy, the one `X-Forwarded-For` names).
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientAddress(pub IpAddr);

/// What an operation needs its credential to allow: to read, or to write
/// (a refusal is audited as the action named).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Needs {
    Read,
    Write(&'static str),
}

/// One operation's caller and its audit view.
#[derive(Debug)]
pub(super) struct Call {
    pub user: UserId,
    pub audit: Audit,
    /// The session an API key's S3 uploads work in.
    session: SessionId,
    /// The status the operation answers when it succeeds.
    success: u16,
}

impl Call {
    /// The session the key's uploads work in: one per key, made on its first
    /// upload and, once it expired unused, replaced by a new one (as depot
    /// treats the sessions it chose itself, a cookie's).
    pub(super) fn named(&self) -> Named {
        Named::Cookie(self.session)
    }
}

impl S3Api {
    /// Checks who asks and that they may: the key's caller, its scope, the
    /// rate limit (`SlowDown` when refused) and — for a bucket operation —
    /// that `bucket` is the caller's username (any other is `NoSuchBucket`,
    /// as a missing one: other users' files stay invisible).
    pub(super) async fn begin<T>(
        &self,
        req: &S3Request<T>,
        bucket: Option<&str>,
        needs: Needs,
        limit: Limit,
        success: u16,
    ) -> S3Result<Call> {
        let state = &self.state;
        let access_key = req
            .credentials
            .as_ref()
            .map(|credentials| credentials.access_key.clone())
            .ok_or_else(|| s3_error!(AccessDenied, "sign requests with an API key's access key id"))?;
        let caller: Caller = state
            .credentials
            .resolve_access_key(&access_key)
            .await
            .map_err(|err| s3_error!(InvalidAccessKeyId, "{err}"))?;
        let who = match caller.key {
            Some(key) => format!("key{key}"),
            None => format!("user{}", caller.user),
        };
        if let Some(standing) = state.limits.take(limit, &who).await
            && !standing.decision.allowed
        {
            crate::metrics::rate_limited(standing.limit.name());
            return Err(from_pipeline(crate::pipeline::Error::RateLimited(standing)));
        }
        let audit = Audit::new(
            Who {
                actor: Some(caller.user),
                session: String::new(),
                client_ip: req
                    .extensions
                    .get::<ClientAddress>()
                    .map(|ClientAddress(address)| address.to_string())
                    .unwrap_or_default(),
                request_id: req
                    .extensions
                    .get::<RequestId>()
                    .and_then(|id| id.header_value().to_str().ok())
                    .unwrap_or_default()
                    .to_owned(),
                server_role: state.role.as_str(),
                success,
            },
            state.audit.key().clone(),
        );
        audit.note_detail("via the S3 API".to_owned());
        let call = Call {
            user: caller.user,
            audit,
            session: SessionId::derived(&format!("s3 {access_key}")),
            success,
        };
        if let Needs::Write(action) = needs
            && caller.scope < Scope::ReadWrite
        {
            let refused: S3Result<()> = Err(s3_error!(AccessDenied, "this API key may only read"));
            self.audited(&call, action, refused).await?;
        }
        if let Some(bucket) = bucket {
            let username = users::username(state.db.pool(), caller.user)
                .await
                .map_err(|err| from_pipeline(err.into()))?;
            if username.as_deref() != Some(bucket) {
                return Err(s3_error!(
                    NoSuchBucket,
                    "no bucket of yours is named {bucket:?}; yours is your username"
                ));
            }
        }
        Ok(call)
    }

    /// Ends an operation: its audit event, unless its change wrote one
    /// (the outcome is the status the client gets, the reason its S3 code).
    /// If the event cannot be written, the request fails.
    pub(super) async fn audited<T>(&self, call: &Call, action: &str, result: S3Result<T>) -> S3Result<T> {
        self.audited_bytes(call, action, 0, result).await
    }

    /// [`audited`](Self::audited) for a download of `bytes`.
    pub(super) async fn audited_bytes<T>(
        &self,
        call: &Call,
        action: &str,
        bytes: i64,
        result: S3Result<T>,
    ) -> S3Result<T> {
        if call.audit.recorded() && result.is_ok() {
            return result;
        }
        let outcome = match &result {
            Ok(_) => call.success,
            Err(err) => status_of(err),
        };
        let mut event = call.audit.event(action, outcome, None);
        if let Err(err) = &result {
            err.code().as_str().clone_into(&mut event.reason);
        } else {
            event.bytes = bytes;
        }
        if let Err(err) = self.state.audit.write(event).await {
            tracing::error!(error = %err, action, "could not write an audit event; the request fails");
            return Err(s3_error!(ServiceUnavailable, "the audit trail is unavailable"));
        }
        result
    }
}

fn status_of(err: &S3Error) -> u16 {
    err.status_code()
        .or_else(|| err.code().status_code())
        .map_or(500, |status| status.as_u16())
}
