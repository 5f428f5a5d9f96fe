//! The audit trail's table: events appended one at a time to a hash chain.
//! Each event stores the hash of the one before and a keyed hash of its own
//! content with that link ([`chain`]), so an edit, a removal or a reordering
//! anywhere shows when the chain is walked ([`verify`]), and only the key's
//! holder can make hashes that verify; signed checkpoints of the chain's head,
//! kept elsewhere, show a chain cut short or rewritten ([`verify::Checkpoint`]).

pub mod chain;
pub mod verify;

use sqlx::{AnyConnection, AnyPool};

use crate::db::conditions::Conditions;
use crate::db::values_sql;

pub use chain::{ChainKey, KeyVersion};
pub use verify::{Break, Checkpoint, Verification, verify};

/// The `prev_hash` of the first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const COLUMNS: &str = "id, at, actor, session_id, action, file_name, content_key, bytes, outcome, \
                       reason, detail, client_ip, request_id, server_role, prev_hash, hash, key_version";

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
    /// The error code of a refusal or failure; empty for what succeeded.
    pub reason: String,
    /// What the actor acted through or on besides the file ("via link …",
    /// "with bob"); empty for most events.
    pub detail: String,
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
    /// How `hash` was made: 0 unkeyed, 1 keyed ([`KeyVersion`]).
    pub key_version: i32,
}

/// Locks the chain's head until the caller's transaction ends, before it
/// locks anything else: a transaction that appends an event holds the head
/// to its end anyway, and taking it first keeps every audited transaction's
/// locks in one order, so two of them never wait for each other in a circle
/// (on PostgreSQL, which would abort one — with a group commit, a whole batch).
pub async fn hold_head(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE audit_head SET last_id = last_id WHERE id = 1")
        .execute(conn)
        .await
        .map(drop)
}

/// Appends an event, keyed with `key`, inside the caller's transaction: the
/// chain's head is locked until it commits, so events take their places one
/// at a time, and an event is only there if the change it records is.
/// Returns its id.
pub async fn append(conn: &mut AnyConnection, key: &ChainKey, event: &NewEvent) -> Result<i64, sqlx::Error> {
    append_all(conn, key, std::slice::from_ref(event)).await
}

/// Appends events in order, inside the caller's transaction, reading and
/// moving the chain's head once for all of them and inserting them many to
/// a statement. Returns the last one's id.
pub async fn append_all(
    conn: &mut AnyConnection,
    key: &ChainKey,
    events: &[NewEvent],
) -> Result<i64, sqlx::Error> {
    let (mut id, mut hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET last_id = last_id WHERE id = 1 RETURNING last_id, last_hash")
            .fetch_one(&mut *conn)
            .await?;
    let mut chained = Vec::with_capacity(events.len());
    for event in events {
        let prev_hash = std::mem::take(&mut hash);
        id += 1;
        hash = chain::event_hash(KeyVersion::Keyed, key, id, &prev_hash, event);
        chained.push((id, event, prev_hash, hash.clone()));
    }
    for rows in chained.chunks(ROWS_PER_INSERT) {
        insert(conn, rows).await?;
    }
    sqlx::query("UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE id = 1")
        .bind(id)
        .bind(&hash)
        .execute(conn)
        .await?;
    Ok(id)
}

/// Most events one `INSERT` writes: sixteen parameters each, well inside
/// both databases' limits, and few enough distinct statements to stay in
/// each connection's statement cache.
const ROWS_PER_INSERT: usize = 32;

/// Inserts events with their ids and links: (id, event, prev_hash, hash).
async fn insert(
    conn: &mut AnyConnection,
    rows: &[(i64, &NewEvent, String, String)],
) -> Result<(), sqlx::Error> {
    let sql = values_sql(
        &format!("INSERT INTO audit_events ({COLUMNS}) VALUES "),
        rows.len(),
        17,
    );
    let mut query = sqlx::query(&sql);
    for (id, event, prev_hash, hash) in rows {
        query = query
            .bind(*id)
            .bind(event.at)
            .bind(event.actor)
            .bind(event.session_id.as_str())
            .bind(event.action.as_str())
            .bind(event.file_name.as_str())
            .bind(event.content_key.as_str())
            .bind(event.bytes)
            .bind(event.outcome)
            .bind(event.reason.as_str())
            .bind(event.detail.as_str())
            .bind(event.client_ip.as_str())
            .bind(event.request_id.as_str())
            .bind(event.server_role.as_str())
            .bind(prev_hash.as_str())
            .bind(hash.as_str())
            .bind(KeyVersion::Keyed as i32);
    }
    query.execute(conn).await.map(drop)
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
