//! Stored content read by its DAG: the CARv1 of a content (for the gateway's
//! `?format=car` and for publishing to an IPFS node), and what happens when
//! a read finds the bytes no longer matching their CID.

use futures_util::StreamExt;
use ipld_core::cid::Cid;
use iroh_car::{CarHeader, CarWriter};
use tokio::io::DuplexStream;

use crate::db::{dag, files};
use crate::ipfs::car::{self, Step};
use crate::ipfs::verify;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;
use crate::storage::{BlobKey, StorageError};

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
