//! The DAG behind each blob's CID (see migration `0004_cids.sql`): inner nodes
//! with their bytes, and the CID of each 256 KiB leaf by its chunk index.

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyPool};

use ipld_core::cid::Cid;

use crate::db::{blobs, files, values_sql};
use crate::domain::UserId;
use crate::ipfs::Dag;
use crate::storage::BlobKey;

/// Rows per INSERT: well under SQLite's and PostgreSQL's limits on bound values.
const ROWS_PER_INSERT: usize = 1000;

/// Whether the blob's DAG is stored already (content uploaded before).
pub async fn stored(conn: &mut AnyConnection, key: &BlobKey) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM dag_leaves WHERE blob_sha256 = $1 AND chunk = 0")
        .bind(key.as_str())
        .fetch_one(conn)
        .await
        .map(|count| count > 0)
}

/// Stores the DAG of the blob `key`, whose row must exist.
pub async fn insert(conn: &mut AnyConnection, key: &BlobKey, dag: &Dag) -> Result<(), sqlx::Error> {
    for (batch_index, batch) in dag.leaves.chunks(ROWS_PER_INSERT).enumerate() {
        let first_chunk = batch_index * ROWS_PER_INSERT;
        let sql = values_sql(
            "INSERT INTO dag_leaves (blob_sha256, chunk, cid) VALUES ",
            batch.len(),
            3,
        );
        let mut query = sqlx::query(&sql);
        for (offset, cid) in batch.iter().enumerate() {
            let chunk = i64::try_from(first_chunk + offset).unwrap_or(i64::MAX);
            query = query.bind(key.as_str()).bind(chunk).bind(cid.to_string());
        }
        query.execute(&mut *conn).await?;
    }
    for batch in dag.inner_nodes.chunks(ROWS_PER_INSERT) {
        // A subtree can repeat inside one file (the same bytes twice, aligned
        // to chunks): one row is enough.
        let sql = values_sql(
            "INSERT INTO dag_nodes (blob_sha256, cid, data) VALUES ",
            batch.len(),
            3,
        ) + " ON CONFLICT DO NOTHING";
        let mut query = sqlx::query(&sql);
        for node in batch {
            query = query
                .bind(key.as_str())
                .bind(node.cid.to_string())
                .bind(node.data.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Where a block the user may read lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSource {
    /// An inner node: its bytes.
    Node(Vec<u8>),
    /// A leaf: chunk `chunk` of the blob `blob`.
    Leaf { blob: BlobKey, chunk: i64 },
}

/// The block `cid` from a blob one of the files the user may read holds
/// (theirs, or shared with them).
pub async fn readable_block(
    pool: &AnyPool,
    user: UserId,
    cid: &str,
) -> Result<Option<BlockSource>, sqlx::Error> {
    let node: Option<Vec<u8>> = sqlx::query_scalar(&format!(
        "SELECT n.data FROM dag_nodes n WHERE n.cid = $1 \
             AND EXISTS (SELECT 1 FROM files f WHERE {} AND f.sha256 = n.blob_sha256) LIMIT 1",
        files::readable_by("$2")
    ))
    .bind(cid)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    if let Some(data) = node {
        return Ok(Some(BlockSource::Node(data)));
    }
    let leaf: Option<(String, i64)> = sqlx::query_as(&format!(
        "SELECT l.blob_sha256, l.chunk FROM dag_leaves l WHERE l.cid = $1 \
             AND EXISTS (SELECT 1 FROM files f WHERE {} AND f.sha256 = l.blob_sha256) LIMIT 1",
        files::readable_by("$2")
    ))
    .bind(cid)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    leaf.map(|(sha256, chunk)| {
        Ok(BlockSource::Leaf {
            blob: blobs::stored_key(&sha256)?,
            chunk,
        })
    })
    .transpose()
}

/// The inner nodes of a blob's DAG, by CID.
pub async fn nodes(pool: &AnyPool, key: &BlobKey) -> Result<HashMap<Cid, Vec<u8>>, sqlx::Error> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT cid, data FROM dag_nodes WHERE blob_sha256 = $1")
            .bind(key.as_str())
            .fetch_all(pool)
            .await?;
    rows.into_iter()
        .map(|(cid, data)| Ok((stored_cid(&cid)?, data)))
        .collect()
}

/// The CIDs of a blob's leaves, in file order; empty when its DAG was never stored.
pub async fn leaves(pool: &AnyPool, key: &BlobKey) -> Result<Vec<Cid>, sqlx::Error> {
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT cid FROM dag_leaves WHERE blob_sha256 = $1 ORDER BY chunk")
            .bind(key.as_str())
            .fetch_all(pool)
            .await?;
    rows.iter().map(|cid| stored_cid(cid)).collect()
}

/// The CIDs of a blob's leaves `first..=last`, in file order; empty when its
/// DAG was never stored.
pub async fn leaves_between(
    pool: &AnyPool,
    key: &BlobKey,
    first: u64,
    last: u64,
) -> Result<Vec<Cid>, sqlx::Error> {
    let index = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT cid FROM dag_leaves WHERE blob_sha256 = $1 AND chunk BETWEEN $2 AND $3 ORDER BY chunk",
    )
    .bind(key.as_str())
    .bind(index(first))
    .bind(index(last))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|cid| stored_cid(cid)).collect()
}

/// A stored CID column; a malformed one is a decode error (the row is corrupt).
fn stored_cid(text: &str) -> Result<Cid, sqlx::Error> {
    Cid::try_from(text)
        .map_err(|err| sqlx::Error::Decode(format!("stored CID {text:?} is malformed: {err}").into()))
}
