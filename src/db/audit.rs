//! The audit trail's table: events appended one at a time to a hash chain.
//! Each event stores the hash of the one before and the SHA-256 of its own
//! content with that link, so an edit, a removal or a reordering anywhere
//! shows when the chain is walked ([`verify`]).

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AnyPool};

use crate::db::conditions::Conditions;

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const COLUMNS: &str = "id, at, actor, session_id, action, file_name, content_key, bytes, outcome, \
                       client_ip, request_id, server_role, prev_hash, hash";

/// What happened, by whom, to what, with what outcome — everything an event
/// records but its place in the chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct NewEvent {
    pub at: i64,
    pub actor: Option<i64>,
    pub session_id: String,
    pub action: String,
    pub file_name: String,
    pub content_key: String,
    pub bytes: i64,
    pub outcome: i32,
    pub client_ip: String,
    pub request_id: String,
    pub server_role: String,
}

/// An event in its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    #[sqlx(flatten)]
    pub content: NewEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// The SHA-256 (hex) of an event's place, content and link to the one before:
/// its fields as one JSON array, in a fixed order.
pub fn chain_hash(id: i64, prev_hash: &str, event: &NewEvent) -> String {
    let canonical = serde_json::json!([
        id,
        event.at,
        event.actor,
        event.session_id,
        event.action,
        event.file_name,
        event.content_key,
        event.bytes,
        event.outcome,
        event.client_ip,
        event.request_id,
        event.server_role,
        prev_hash,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Appends an event, inside the caller's transaction: the chain's head is
/// locked until it commits, so events take their places one at a time, and
/// an event is only there if the change it records is. Returns its id.
pub async fn append(conn: &mut AnyConnection, event: &NewEvent) -> Result<i64, sqlx::Error> {
    append_all(conn, std::slice::from_ref(event)).await
}

/// Appends events in order, inside the caller's transaction, reading and
/// moving the chain's head once for all of them. Returns the last one's id.
pub async fn append_all(conn: &mut AnyConnection, events: &[NewEvent]) -> Result<i64, sqlx::Error> {
    let (mut id, mut hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET last_id = last_id WHERE id = 1 RETURNING last_id, last_hash")
            .fetch_one(&mut *conn)
            .await?;
    for event in events {
        let prev_hash = std::mem::take(&mut hash);
        id += 1;
        hash = chain_hash(id, &prev_hash, event);
        insert(conn, id, event, &prev_hash, &hash).await?;
    }
    sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
        .bind(id)
        .bind(&hash)
        .execute(conn)
        .await?;
    Ok(id)
}

async fn insert(
    conn: &mut AnyConnection,
    id: i64,
    event: &NewEvent,
    prev_hash: &str,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, at, actor, session_id, action, file_name, content_key, bytes, \
         outcome, client_ip, request_id, server_role, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(id)
    .bind(event.at)
    .bind(event.actor)
    .bind(&event.session_id)
    .bind(&event.action)
    .bind(&event.file_name)
    .bind(&event.content_key)
    .bind(event.bytes)
    .bind(event.outcome)
    .bind(&event.client_ip)
    .bind(&event.request_id)
    .bind(&event.server_role)
    .bind(prev_hash)
    .bind(hash)
    .execute(conn)
    .await
    .map(drop)
}

/// Which events a query or an export wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<i64>,
    pub action: Option<String>,
    pub file_name: Option<String>,
    pub outcome: Option<i32>,
    /// Times in microseconds, inclusive.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Events matching `filter` after id `after`, oldest first, `limit` at most.
pub async fn page(
    pool: &AnyPool,
    filter: &Filter,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>, sqlx::Error> {
    let mut conditions = Conditions::new("id > {}", after);
    if let Some(actor) = filter.actor {
        conditions.push_int("actor = {}", actor);
    }
    if let Some(action) = &filter.action {
        conditions.push_text("action = {}", action.clone());
    }
    if let Some(name) = &filter.file_name {
        conditions.push_text("file_name = {}", name.clone());
    }
    if let Some(outcome) = filter.outcome {
        conditions.push_int("outcome = {}", i64::from(outcome));
    }
    if let Some(from) = filter.from {
        conditions.push_int("at >= {}", from);
    }
    if let Some(to) = filter.to {
        conditions.push_int("at <= {}", to);
    }
    // An integer, so written into the statement as it is.
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_events WHERE {} ORDER BY id LIMIT {limit}",
        conditions.sql()
    );
    conditions.bind_rows(sqlx::query_as(&sql)).fetch_all(pool).await
}

/// Where the chain breaks first, as [`verify`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// No event has this id, though later ones exist or the head counts it.
    Missing { id: i64 },
    /// The event does not link to the one before.
    Unlinked { id: i64 },
    /// The event's content is not what its hash says.
    Altered { id: i64 },
    /// The head names another last event than the chain ends with.
    Head { last_id: i64 },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing { id } => write!(f, "event {id} is missing"),
            Self::Unlinked { id } => write!(f, "event {id} does not link to the event before it"),
            Self::Altered { id } => write!(f, "event {id} was altered: its content does not match its hash"),
            Self::Head { last_id } => write!(
                f,
                "the chain ends at event {last_id}, but its head names another last event (events after it are missing)"
            ),
        }
    }
}

/// What a walk of the chain found: how many events it checked, and the
/// first broken link if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub checked: u64,
    pub broken: Option<Break>,
}

/// Walks the whole chain, `batch` events at a time, and reports the first
/// broken link; `progress` hears how many events are checked as it goes.
pub async fn verify(
    pool: &AnyPool,
    batch: i64,
    mut progress: impl FnMut(u64),
) -> Result<Verification, sqlx::Error> {
    let mut expected_prev = GENESIS.to_owned();
    let mut last_id = 0;
    let mut checked = 0;
    loop {
        let events = page(pool, &Filter::default(), last_id, batch).await?;
        let Some(last) = events.last() else {
            break;
        };
        let next_after = last.id;
        for event in events {
            let broken = if event.id != last_id + 1 {
                Some(Break::Missing { id: last_id + 1 })
            } else if event.prev_hash != expected_prev {
                Some(Break::Unlinked { id: event.id })
            } else if chain_hash(event.id, &event.prev_hash, &event.content) != event.hash {
                Some(Break::Altered { id: event.id })
            } else {
                None
            };
            if broken.is_some() {
                return Ok(Verification { checked, broken });
            }
            checked += 1;
            last_id = event.id;
            expected_prev = event.hash;
        }
        progress(checked);
        last_id = next_after;
    }
    let (head_id, head_hash): (i64, String) =
        sqlx::query_as("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
            .fetch_one(pool)
            .await?;
    let broken = (head_id != last_id || head_hash != expected_prev).then_some(if head_id > last_id {
        Break::Missing { id: last_id + 1 }
    } else {
        Break::Head { last_id }
    });
    Ok(Verification { checked, broken })
}
