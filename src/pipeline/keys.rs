//! API keys and signing out: a key made for its owner (its name checked,
//! its expiry set), a key revoked, and a sign-out that revokes the
//! credential's tokens or key. Each change appends its audit event in its
//! own transaction and is forgotten by this node's credential cache at once.

use std::time::Duration;

use crate::auth::{api_key, s3_keys};
use crate::db::api_keys::{self, ApiKey, NewKey};
use crate::db::audit::hold_head;
use crate::db::users;
use crate::domain::timestamp::{self, now_micros};
use crate::domain::{Scope, UserId};
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::credentials::Caller;
use crate::pipeline::state::AppState;

/// Longest name a key may have, in characters.
const NAME_CHARS: usize = 100;

/// When something made now with `lifetime` (a key, an invite) expires:
/// 422 for no lifetime at all or one past what a timestamp holds.
pub fn expiry(lifetime: Duration) -> Result<i64, Error> {
    if lifetime.is_zero() {
        return Err(Error::Validation("expires_in must be longer than zero".into()));
    }
    timestamp::after(now_micros(), lifetime).ok_or_else(|| Error::Validation("expires_in is too long".into()))
}

/// Makes `caller`'s user a key named `name` with `scope`, working for
/// `lifetime` (or until revoked); returns its secret, to be shown once, and
/// the key. No credential makes one that may do more than itself.
pub async fn create(
    state: &AppState,
    audit: &Audit,
    caller: Caller,
    name: &str,
    scope: Scope,
    lifetime: Option<Duration>,
) -> Result<(String, ApiKey), Error> {
    let name = name.trim();
    audit.note_name(name);
    if name.is_empty() || name.chars().count() > NAME_CHARS || name.chars().any(char::is_control) {
        return Err(Error::Validation(format!(
            "a key's name is 1 to {NAME_CHARS} characters, without control characters"
        )));
    }
    if scope > caller.scope {
        return Err(Error::InsufficientScope);
    }
    let user = caller.user;
    let expires_at = lifetime.map(expiry).transpose()?;
    let (secret, digest) = api_key::generate();
    let access_key_id = s3_keys::new_access_key_id();
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let new = NewKey {
        user,
        name,
        scope: scope.as_str(),
        secret_sha256: &digest,
        access_key_id: &access_key_id,
        created_at: now_micros(),
        expires_at,
    };
    let key = api_keys::insert(&mut tx, &new).await?;
    audit.record(&mut tx, "key_create").await?;
    tx.commit().await?;
    audit.committed();
    tracing::info!(
        user = user.get(),
        key = key.id,
        scope = key.scope,
        "API key created"
    );
    Ok((secret, key))
}

/// Revokes `user`'s key `id`: 404 if they have none such.
pub async fn revoke(state: &AppState, audit: &Audit, user: UserId, id: i64) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let revoked = api_keys::revoke(&mut tx, user, id)
        .await?
        .ok_or(Error::NotFound("key"))?;
    audit.note_name(&revoked.name);
    audit.record(&mut tx, "key_revoke").await?;
    tx.commit().await?;
    audit.committed();
    state.credentials.forget_key(&revoked);
    tracing::info!(user = user.get(), key = id, "API key revoked");
    Ok(())
}

/// Signs `caller` out: with a token, every token issued to the account so
/// far stops working; with a key, that key is revoked.
pub async fn sign_out(state: &AppState, audit: &Audit, caller: Caller) -> Result<(), Error> {
    let mut tx = state.db.begin().await?;
    hold_head(&mut tx).await?;
    let revoked_key = match caller.key {
        Some(key) => Some(
            api_keys::revoke(&mut tx, caller.user, key)
                .await?
                .ok_or(Error::NotFound("key"))?,
        ),
        None => {
            users::revoke_tokens(&mut tx, caller.user).await?;
            None
        }
    };
    audit.record(&mut tx, "logout").await?;
    tx.commit().await?;
    audit.committed();
    match revoked_key {
        Some(revoked) => state.credentials.forget_key(&revoked),
        None => state.credentials.forget_account(caller.user),
    }
    Ok(())
}
