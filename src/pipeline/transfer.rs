//! Seed 4's file tracking for downloads: a transfer row when the bytes start
//! out, finished with how many went and when — or with no completion time,
//! if the client or the store cut the stream short.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use crate::db::files::FileRecord;
use crate::db::transfers::{self, Direction, NewTransfer};
use crate::domain::timestamp;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

/// Records a download of `record` that starts now, and returns `body` (of
/// `length` bytes) counted: the row is finished when the stream ends or is
/// dropped — complete if all `length` bytes went out. (The HTTP server stops
/// reading a body once it has sent its Content-Length, so the count decides,
/// not the end of the stream.)
pub async fn track_download<S, E>(
    state: &AppState,
    record: &FileRecord,
    length: u64,
    body: S,
) -> Result<TrackedDownload<S>, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    let started = NewTransfer {
        file_id: record.id,
        user_id: record.user_id,
        file_name: &record.file_name,
        sha256: &record.sha256,
        direction: Direction::Download,
        server_role: state.role.as_str(),
        stream_start: timestamp::now_micros(),
        stream_complete: None,
        bytes_transferred: 0,
    };
    let mut conn = state.db.pool().acquire().await?;
    let id = transfers::insert(&mut conn, &started).await?;
    Ok(TrackedDownload {
        body,
        state: state.clone(),
        id,
        length,
        sent: 0,
        failed: false,
        finished: false,
    })
}

/// A download's body that records, when it ends, how much of it went out.
pub struct TrackedDownload<S> {
    body: S,
    state: AppState,
    id: i64,
    length: u64,
    sent: u64,
    /// The store's stream broke: whatever the count, the client has not all.
    failed: bool,
    finished: bool,
}

impl<S> std::fmt::Debug for TrackedDownload<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedDownload")
            .field("transfer", &self.id)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl<S> TrackedDownload<S> {
    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        crate::metrics::downloaded(self.sent);
        let (db, id) = (self.state.db.clone(), self.id);
        let bytes = i64::try_from(self.sent).unwrap_or(i64::MAX);
        let complete = (!self.failed && self.sent >= self.length).then(timestamp::now_micros);
        tokio::spawn(async move {
            if let Err(err) = transfers::finish(db.pool(), id, bytes, complete).await {
                tracing::warn!(transfer = id, error = %err, "could not record how a download ended");
            }
        });
    }
}

impl<S, E> Stream for TrackedDownload<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.body).poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => self.sent += chunk.len() as u64,
            Poll::Ready(Some(Err(_))) => {
                self.failed = true;
                self.finish();
            }
            Poll::Ready(None) => self.finish(),
            Poll::Pending => {}
        }
        next
    }
}

impl<S> Drop for TrackedDownload<S> {
    /// The server is done with the body: sent whole, or the client went away.
    fn drop(&mut self) {
        self.finish();
    }
}
