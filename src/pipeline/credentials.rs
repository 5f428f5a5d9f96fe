//! Who a bearer credential speaks for and what it may do: a token depot
//! issued (checked against its account's token generation), a token minted
//! elsewhere with the shared secret, or an API key. An account's standing
//! and a key's grant are read from the database and kept on this node for
//! at most [`REVOCATION_BOUND`], so signing out, revoking a key or
//! disabling an account takes hold on every node within that bound, and at
//! once on the node that did it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::auth::{AuthError, Keys, api_key};
use crate::db::{Db, api_keys, users};
use crate::domain::timestamp::now_micros;
use crate::domain::{Scope, UserId};

/// The longest a revoked token or key, or a disabled account, keeps working
/// on a node that did not revoke it.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(5);

/// How stale a key's "last used" or an account's "last seen" may get before
/// it is written again.
const USE_NOTED_EVERY_MICROS: i64 = 60_000_000;

/// Most accounts and keys kept per node; past it, stale entries are dropped.
const CACHE_ENTRIES: usize = 4096;

/// The caller a request's credential proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub user: UserId,
    /// What this credential may do: the less of its own scope and its account's role.
    pub scope: Scope,
    /// The API key it presented, if it was one.
    pub key: Option<i64>,
}

impl Caller {
    pub fn admin(&self) -> bool {
        self.scope == Scope::Admin
    }
}

/// Resolves bearer credentials; one per node, shared by every request.
#[derive(Debug)]
pub struct Credentials {
    keys: Keys,
    db: Db,
    accounts: Fresh<UserId, Option<users::Standing>>,
    grants: Fresh<String, api_keys::Grant>,
}

impl Credentials {
    pub fn new(keys: Keys, db: Db) -> Self {
        Self {
            keys,
            db,
            accounts: Fresh::default(),
            grants: Fresh::default(),
        }
    }

    /// The caller `bearer` proves, or 401 with the reason.
    pub async fn resolve(&self, bearer: &str) -> Result<Caller, AuthError> {
        if api_key::is_key(bearer) {
            self.resolve_key(bearer).await
        } else {
            self.resolve_token(bearer).await
        }
    }

    async fn resolve_token(&self, token: &str) -> Result<Caller, AuthError> {
        let claims = self.keys.verify_claims(token)?;
        let claimed = if claims.admin {
            Scope::Admin
        } else {
            Scope::ReadWrite
        };
        let standing = self.enabled_standing(claims.user, claims.generation).await?;
        let scope = match (standing, claims.generation) {
            // Minted with the shared secret for an account depot does not
            // keep (seed 2's external auth service): as the token says.
            (None, None) => claimed,
            (None, Some(_)) => return Err(AuthError::Unauthorized("the account no longer exists")),
            (Some(standing), Some(generation)) if generation != standing.token_generation => {
                return Err(AuthError::Unauthorized("the token was revoked; sign in again"));
            }
            // Minted by an operator (`depot token --admin`) or an external
            // service: its admin claim stands.
            (Some(_), None) if claims.admin => Scope::Admin,
            (Some(standing), _) => claimed.min(standing.role().ceiling()),
        };
        Ok(Caller {
            user: claims.user,
            scope,
            key: None,
        })
    }

    async fn resolve_key(&self, secret: &str) -> Result<Caller, AuthError> {
        let digest = api_key::digest(secret);
        let grant = match self.grants.get(&digest) {
            Some(grant) => grant,
            None => {
                let grant = api_keys::find(self.db.pool(), &digest).await.map_err(internal)?;
                self.remember(digest, grant)?
            }
        };
        self.caller_of(grant).await
    }

    /// The caller an API key's S3 access key id speaks for (its S3 request's
    /// signature is checked against the key's secret before), or 401.
    pub async fn resolve_access_key(&self, access_key_id: &str) -> Result<Caller, AuthError> {
        let cached_as = format!("s3:{access_key_id}");
        let grant = match self.grants.get(&cached_as) {
            Some(grant) => grant,
            None => {
                let grant = api_keys::find_by_access_key(self.db.pool(), access_key_id)
                    .await
                    .map_err(internal)?;
                self.remember(cached_as, grant)?
            }
        };
        self.caller_of(grant).await
    }

    /// Keeps a grant read from the database (noting its use, when that is
    /// stale), or 401 when there was none.
    fn remember(
        &self,
        cached_as: String,
        grant: Option<api_keys::Grant>,
    ) -> Result<api_keys::Grant, AuthError> {
        let grant = grant.ok_or(AuthError::Unauthorized("invalid or revoked API key"))?;
        if is_stale(grant.last_used_at) {
            let (pool, id) = (self.db.pool().clone(), grant.id);
            note_in_background(format!("when API key {id} was last used"), async move {
                api_keys::used(&pool, id, now_micros()).await
            });
        }
        self.grants.put(cached_as, grant.clone());
        Ok(grant)
    }

    /// What a key's grant lets its holder do now: nothing once it expired,
    /// no more than its account's role allows.
    async fn caller_of(&self, grant: api_keys::Grant) -> Result<Caller, AuthError> {
        if grant.expires_at.is_some_and(|expires| expires <= now_micros()) {
            return Err(AuthError::Unauthorized("the API key has expired"));
        }
        let granted = Scope::parse(&grant.scope).unwrap_or(Scope::Read);
        let scope = match self.enabled_standing(grant.user_id, None).await? {
            Some(standing) => granted.min(standing.role().ceiling()),
            None => granted,
        };
        Ok(Caller {
            user: grant.user_id,
            scope,
            key: Some(grant.id),
        })
    }

    /// 401 if `user`'s account is disabled: what a download link they made
    /// is checked against.
    pub async fn check_enabled(&self, user: UserId) -> Result<(), AuthError> {
        self.enabled_standing(user, None).await.map(drop)
    }

    /// An account's standing as this node knows it (its quota among it);
    /// `None` for a user depot keeps no account of. Looking does not count
    /// as the account being seen.
    pub async fn account(&self, user: UserId) -> Result<Option<users::Standing>, AuthError> {
        self.standing(user, None, Seen::No).await
    }

    /// An account's [`standing`](Self::standing), or 401 if it is disabled.
    async fn enabled_standing(
        &self,
        user: UserId,
        generation: Option<i64>,
    ) -> Result<Option<users::Standing>, AuthError> {
        match self.standing(user, generation, Seen::Yes).await? {
            Some(standing) if standing.disabled() => Err(AuthError::Unauthorized("the account is disabled")),
            standing => Ok(standing),
        }
    }

    /// An account's standing, from this node's copy while it is fresh and
    /// not older than a token in `generation` shows it is (a sign-in on
    /// another node since).
    async fn standing(
        &self,
        user: UserId,
        generation: Option<i64>,
        seen: Seen,
    ) -> Result<Option<users::Standing>, AuthError> {
        let known = self.accounts.get(&user).filter(|standing| {
            let seen = standing.as_ref().map(|standing| standing.token_generation);
            generation.is_none_or(|generation| seen.is_some_and(|seen| seen >= generation))
        });
        if let Some(standing) = known {
            return Ok(standing);
        }
        let standing = users::standing(self.db.pool(), user).await.map_err(internal)?;
        if seen == Seen::Yes
            && standing
                .as_ref()
                .is_some_and(|standing| is_stale(standing.last_seen_at))
        {
            let pool = self.db.pool().clone();
            note_in_background(format!("when user {user} was last seen"), async move {
                users::seen(&pool, user, now_micros()).await
            });
        }
        self.accounts.put(user, standing.clone());
        Ok(standing)
    }

    /// Forgets what this node knows of `user`'s account, after a change to it.
    pub fn forget_account(&self, user: UserId) {
        self.accounts.remove(&user);
    }

    /// Forgets a key this node knows, after its revocation.
    pub fn forget_key(&self, revoked: &api_keys::Revoked) {
        self.grants.remove(revoked.secret_sha256.as_str());
        if let Some(access_key_id) = &revoked.access_key_id {
            self.grants.remove(format!("s3:{access_key_id}").as_str());
        }
    }
}

/// Whether reading an account's standing means its credential was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Yes,
    No,
}

/// Writes a "last used" note off the request's path; a failure only costs
/// the note.
fn note_in_background(what: String, write: impl Future<Output = Result<(), sqlx::Error>> + Send + 'static) {
    tokio::spawn(async move {
        if let Err(err) = write.await {
            tracing::warn!(error = %err, "could not note {what}");
        }
    });
}

fn is_stale(noted: Option<i64>) -> bool {
    noted.is_none_or(|noted| noted < now_micros() - USE_NOTED_EVERY_MICROS)
}

fn internal(err: sqlx::Error) -> AuthError {
    AuthError::Internal(err.into())
}

/// Values read from the database, each served for [`REVOCATION_BOUND`]
/// after it was read.
#[derive(Debug)]
struct Fresh<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for Fresh<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Fresh<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (value, read_at) = entries.get(key)?;
        (read_at.elapsed() < REVOCATION_BOUND).then(|| value.clone())
    }

    fn put(&self, key: K, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_ENTRIES {
            entries.retain(|_, (_, read_at)| read_at.elapsed() < REVOCATION_BOUND);
        }
        if entries.len() < CACHE_ENTRIES {
            entries.insert(key, (value, Instant::now()));
        }
    }

    fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}
