//! Stored content read by its DAG: a file's bytes, whole or a range, checked
//! chunk by chunk against its CID as they stream (every download route's);
//! the CARv1 of a content (for the gateway's `?format=car` and for
//! publishing to an IPFS node); and what happens when a read finds the
//! bytes no longer matching their CID.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ipld_core::cid::Cid;
use iroh_car::{CarHeader, CarWriter};
use tokio::io::DuplexStream;

use crate::db::{dag, files};
use crate::domain::byte_range::ByteRange;
use crate::ipfs::car::{self, Step};
use crate::ipfs::{CHUNK_BYTES, verify};
use crate::pipeline::Error;
use crate::pipeline::state::AppState;
use crate::storage::{BlobKey, ByteStream, StorageError};

/// The whole blob, checked chunk by chunk against its DAG's leaves; content
/// stored before depot kept DAGs streams unchecked.
pub async fn verified_whole(state: &AppState, key: &BlobKey) -> Result<ByteStream, Error> {
    let leaves = dag::leaves(state.db.pool(), key).await?;
    let stream = state.blobs.read(key, None).await.map_err(unreadable(key))?;
    if leaves.is_empty() {
        return Ok(stream);
    }
    Ok(Box::pin(checked(
        state,
        key,
        verify::verified_chunks(stream, leaves, 0),
    )))
}

/// `range` of the blob, read as the whole chunks that cover it so that each
/// can be checked against its leaf, then cut to the range: a range reader
/// (a seeking player, a resumed download) never gets damaged bytes either.
pub async fn verified_range(
    state: &AppState,
    key: &BlobKey,
    range: &ByteRange,
    size: u64,
) -> Result<ByteStream, Error> {
    let chunk = CHUNK_BYTES as u64;
    let covering = range.aligned_to(chunk, size);
    let (first, last) = (covering.start / chunk, covering.end / chunk);
    let leaves = dag::leaves_between(state.db.pool(), key, first, last).await?;
    if leaves.is_empty() {
        return state
            .blobs
            .read(key, Some(range.as_inclusive()))
            .await
            .map_err(unreadable(key));
    }
    let stream = state
        .blobs
        .read(key, Some(covering.as_inclusive()))
        .await
        .map_err(unreadable(key))?;
    let first = usize::try_from(first).map_err(|err| Error::Internal(err.into()))?;
    let chunks = checked(state, key, verify::verified_chunks(stream, leaves, first));
    Ok(Box::pin(verify::slice(
        chunks,
        range.start - covering.start,
        range.byte_count(),
    )))
}

/// Verified chunks as the pieces they were read in; a chunk that does not
/// match its leaf flags the blob's files `corrupt` and ends the stream.
fn checked(
    state: &AppState,
    key: &BlobKey,
    chunks: impl Stream<Item = std::io::Result<verify::Chunk>> + Send + 'static,
) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    let state = state.clone();
    let key = key.clone();
    chunks
        .map(move |chunk| match chunk {
            Ok(chunk) => futures_util::stream::iter(chunk.pieces.into_iter().map(Ok)).left_stream(),
            Err(err) => {
                if let Some(mismatch) = verify::mismatch_of(&err) {
                    flag_corrupt(&state, &key, mismatch);
                }
                futures_util::stream::once(std::future::ready(Err(err))).right_stream()
            }
        })
        .flatten()
}

/// Bytes buffered between the CAR writer and its reader.
const CAR_PIPE_BYTES: usize = 1 << 20;

/// A CARv1 with the root `root` and every block of the DAG of content `key`,
/// depth first, written by a task into the pipe returned: inner nodes come
/// from the database, leaves from one sequential read of the blob, each
/// checked against its CID. A failure mid-way ends the stream early (a
/// reader sees a CAR cut short, never a wrong block).
pub async fn car(state: &AppState, key: &BlobKey, root: Cid) -> Result<DuplexStream, Error> {
    let pool = state.db.pool();
    let nodes = dag::nodes(pool, key).await?;
    let leaves = dag::leaves(pool, key).await?;
    let steps = car::depth_first(root, &nodes).map_err(|err| Error::Internal(err.into()))?;
    let blob = state.blobs.read(key, None).await.map_err(unreadable(key))?;

    let (pipe, reader) = tokio::io::duplex(CAR_PIPE_BYTES);
    let state = state.clone();
    let key = key.clone();
    tokio::spawn(async move {
        let mut writer = CarWriter::new(CarHeader::new_v1(vec![root]), pipe);
        let mut chunks = std::pin::pin!(verify::verified_chunks(blob, leaves, 0));
        for step in steps {
            let written = match step {
                Step::Node(cid) => writer.write(cid, &nodes[&cid]).await,
                Step::Leaf(cid) => match chunks.next().await {
                    Some(Ok(chunk)) if chunk.leaf == cid => writer.write(cid, chunk.to_bytes()).await,
                    Some(Err(err)) => {
                        if let Some(mismatch) = verify::mismatch_of(&err) {
                            flag_corrupt(&state, &key, mismatch);
                        }
                        return;
                    }
                    _ => {
                        tracing::error!(sha256 = %key, "the DAG's leaves and its links disagree");
                        return;
                    }
                },
            };
            if written.is_err() {
                return; // the reader went away
            }
        }
        if let Err(err) = writer.finish().await {
            tracing::debug!(error = %err, "CAR stream not finished");
        }
    });
    Ok(reader)
}

/// A live file's blob that cannot be read is a server fault, whatever the store
/// says — unless the store is out of reach (a storage node down): 503.
pub fn unreadable(key: &BlobKey) -> impl Fn(StorageError) -> Error + '_ {
    move |err| match err {
        StorageError::Unavailable(_) => err.into(),
        err => {
            crate::metrics::blob_store_error(err.kind());
            Error::Internal(anyhow::anyhow!("blob {key} of a live file is unreadable: {err}"))
        }
    }
}

/// Flags the files of a blob whose bytes no longer match their CID.
pub fn flag_corrupt(state: &AppState, key: &BlobKey, mismatch: verify::Mismatch) {
    tracing::error!(sha256 = %key, chunk = mismatch.index, "stored content does not match its CID");
    let pool = state.db.pool().clone();
    let sha256 = key.to_string();
    tokio::spawn(async move {
        if let Err(err) = files::mark_corrupt(&pool, &sha256).await {
            tracing::error!(sha256, error = %err, "could not flag corrupt files");
        }
    });
}
