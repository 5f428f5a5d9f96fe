//! Blob bytes checked against their DAG as they are served: the stream is cut
//! into the DAG's 256 KiB chunks and each chunk's SHA-256 must equal its leaf
//! CID's digest before it is handed on. A chunk that does not match ends the
//! stream with an error, so a client sees a cut-off body — never corrupt bytes
//! passed off as whole.
//!
//! Chunks are hashed on the blocking pool, two at a time, so hashing runs
//! beside reading and sending instead of between them; a chunk is kept as the
//! pieces the store read (no copy) until its hash is known.

use std::io;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use ipld_core::cid::Cid;
use sha2::{Digest, Sha256};

use super::{CHUNK_BYTES, SHA2_256};
use crate::storage::ByteStream;

/// Chunks hashed at once.
const HASHING_AHEAD: usize = 2;

/// A chunk that did not match its leaf: which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("chunk {index} of the stored content does not match its CID")]
pub struct Mismatch {
    pub index: usize,
}

/// One verified chunk: its leaf CID and its bytes, in the pieces they were read in.
#[derive(Debug)]
pub struct Chunk {
    pub leaf: Cid,
    pub pieces: Vec<Bytes>,
}

impl Chunk {
    /// The chunk in one buffer.
    pub fn to_bytes(&self) -> Bytes {
        match self.pieces.as_slice() {
            [one] => one.clone(),
            pieces => Bytes::from(pieces.concat()),
        }
    }
}

/// Whether `pieces`, one after the other, are the leaf `cid` (a raw SHA-256 CID).
pub fn matches<'a>(cid: &Cid, pieces: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let mut hasher = Sha256::new();
    for piece in pieces {
        hasher.update(piece);
    }
    cid.hash().code() == SHA2_256 && cid.hash().digest() == hasher.finalize().as_slice()
}

/// The blob's bytes as chunks checked against `leaves`, the first of which
/// is the blob's chunk `first` (where `blob` starts); the stream fails with a
/// [`Mismatch`] (in an `io::Error`) at the first chunk that differs, or when
/// the blob is shorter or longer than those leaves, and ends there.
pub fn verified_chunks(
    blob: ByteStream,
    leaves: Vec<Cid>,
    first: usize,
) -> impl Stream<Item = io::Result<Chunk>> + Send {
    cut_into_chunks(blob, leaves, first)
        .map(|cut| async move {
            let (index, chunk) = cut?;
            let (chunk, matched) = tokio::task::spawn_blocking(move || {
                let matched = matches(&chunk.leaf, chunk.pieces.iter().map(|piece| &piece[..]));
                (chunk, matched)
            })
            .await
            .map_err(io::Error::other)?;
            if matched { Ok(chunk) } else { Err(corrupt(index)) }
        })
        .buffered(HASHING_AHEAD)
        .scan(false, |failed, item| {
            // Nothing after the first error.
            let next = (!*failed).then_some(item);
            *failed |= next.as_ref().is_some_and(Result::is_err);
            std::future::ready(next)
        })
}

/// The blob cut at the leaves' boundaries, unverified.
fn cut_into_chunks(
    blob: ByteStream,
    leaves: Vec<Cid>,
    first: usize,
) -> impl Stream<Item = io::Result<(usize, Chunk)>> + Send {
    struct State {
        blob: ByteStream,
        /// Bytes read past the last chunk cut.
        rest: Option<Bytes>,
        leaves: std::iter::Zip<std::ops::RangeFrom<usize>, std::vec::IntoIter<Cid>>,
        end: usize,
        ended: bool,
    }
    let state = State {
        blob,
        rest: None,
        end: first + leaves.len(),
        leaves: (first..).zip(leaves),
        ended: false,
    };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let Some((index, leaf)) = state.leaves.next() else {
            // Every leaf given: the blob must end here too.
            let trailing = state.rest.is_some_and(|rest| !rest.is_empty())
                || next_nonempty(&mut state.blob).await.is_some();
            return trailing.then(|| (Err(corrupt(state.end)), None));
        };
        let mut pieces = Vec::new();
        let mut len = 0;
        while len < CHUNK_BYTES {
            let mut piece = match state.rest.take() {
                Some(rest) => rest,
                None if state.ended => break,
                None => match state.blob.next().await {
                    Some(Ok(bytes)) => bytes,
                    Some(Err(err)) => return Some((Err(err), None)),
                    None => {
                        state.ended = true;
                        break;
                    }
                },
            };
            if len + piece.len() > CHUNK_BYTES {
                state.rest = Some(piece.split_off(CHUNK_BYTES - len));
            }
            len += piece.len();
            pieces.push(piece);
        }
        Some((Ok((index, Chunk { leaf, pieces })), Some(state)))
    })
}

async fn next_nonempty(blob: &mut ByteStream) -> Option<Bytes> {
    while let Some(next) = blob.next().await {
        match next {
            Ok(bytes) if bytes.is_empty() => continue,
            Ok(bytes) => return Some(bytes),
            Err(_) => return None,
        }
    }
    None
}

fn corrupt(index: usize) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Mismatch { index })
}

/// The bytes from `skip` into `pieces`, `len` of them: a range served from
/// the chunks that cover it. Ends early, as `pieces` does, at an error or a
/// premature end.
pub fn slice<S>(pieces: S, skip: u64, len: u64) -> impl Stream<Item = io::Result<Bytes>> + Send
where
    S: Stream<Item = io::Result<Bytes>> + Send,
{
    let clamp = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    futures_util::stream::unfold(
        (Box::pin(pieces), skip, len),
        move |(mut pieces, mut skip, mut left)| async move {
            while left > 0 {
                let mut piece = match pieces.next().await? {
                    Ok(piece) => piece,
                    Err(err) => return Some((Err(err), (pieces, skip, 0))),
                };
                let skipped = piece.len().min(clamp(skip));
                piece = piece.split_off(skipped);
                skip -= skipped as u64;
                piece.truncate(clamp(left));
                if piece.is_empty() {
                    continue;
                }
                left -= piece.len() as u64;
                return Some((Ok(piece), (pieces, skip, left)));
            }
            None
        },
    )
}

/// The [`Mismatch`] inside an error from [`verified_chunks`], if that is what it is.
pub fn mismatch_of(err: &io::Error) -> Option<Mismatch> {
    err.get_ref()
        .and_then(|inner| inner.downcast_ref::<Mismatch>())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfs::CidBuilder;

    fn stream_of(bytes: Vec<u8>, piece: usize) -> ByteStream {
        let pieces: Vec<io::Result<Bytes>> = bytes
            .chunks(piece)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        Box::pin(futures_util::stream::iter(pieces))
    }

    async fn serve(bytes: Vec<u8>, leaves: Vec<Cid>) -> Result<Vec<u8>, io::Error> {
        let mut out = Vec::new();
        let mut chunks = std::pin::pin!(verified_chunks(stream_of(bytes, 100_000), leaves, 0));
        while let Some(next) = chunks.next().await {
            out.extend_from_slice(&next?.to_bytes());
        }
        Ok(out)
    }

    #[tokio::test]
    async fn whole_content_passes_and_a_flipped_byte_stops_the_stream_at_its_chunk() {
        let bytes: Vec<u8> = (0..CHUNK_BYTES * 2 + 5).map(|i| (i % 251) as u8).collect();
        let mut builder = CidBuilder::default();
        builder.push(&bytes);
        let leaves = builder.finish().leaves;
        assert_eq!(serve(bytes.clone(), leaves.clone()).await.unwrap(), bytes);

        let mut flipped = bytes.clone();
        flipped[CHUNK_BYTES + 7] ^= 1;
        let err = serve(flipped, leaves.clone()).await.unwrap_err();
        assert_eq!(mismatch_of(&err), Some(Mismatch { index: 1 }));

        let short = bytes[..bytes.len() - 1].to_vec();
        assert!(serve(short, leaves.clone()).await.is_err());
        let mut long = bytes;
        long.push(0);
        assert!(serve(long, leaves).await.is_err());
    }

    #[tokio::test]
    async fn chunks_from_the_middle_are_checked_against_their_own_leaves() {
        let bytes: Vec<u8> = (0..CHUNK_BYTES * 4 + 9).map(|i| (i % 241) as u8).collect();
        let mut builder = CidBuilder::default();
        builder.push(&bytes);
        let leaves = builder.finish().leaves;
        let middle = bytes[CHUNK_BYTES * 2..].to_vec();
        let read = |bytes: Vec<u8>| verified_chunks(stream_of(bytes, 70_000), leaves[2..].to_vec(), 2);
        let chunks: Vec<_> = read(middle.clone()).collect().await;
        assert!(chunks.iter().all(Result::is_ok));
        let mut flipped = middle;
        flipped[CHUNK_BYTES + 1] ^= 0x80;
        let chunks: Vec<_> = read(flipped).collect().await;
        let err = chunks.into_iter().find_map(Result::err).unwrap();
        assert_eq!(mismatch_of(&err), Some(Mismatch { index: 3 }));
    }

    proptest::proptest! {
        #[test]
        fn a_slice_is_the_bytes_it_names(
            len in 1usize..2000,
            piece in 1usize..300,
            from_part in 0.0f64..1.0,
            take_part in 0.0f64..1.0,
        ) {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 256) as u8).collect();
            let from = ((len - 1) as f64 * from_part) as usize;
            let take = 1 + ((len - from - 1) as f64 * take_part) as usize;
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let sliced = runtime.block_on(
                slice(stream_of(bytes.clone(), piece), from as u64, take as u64)
                    .map(Result::unwrap)
                    .collect::<Vec<_>>(),
            );
            proptest::prop_assert!(sliced.iter().all(|piece| !piece.is_empty()));
            proptest::prop_assert_eq!(sliced.concat(), bytes[from..from + take].to_vec());
        }
    }
}
