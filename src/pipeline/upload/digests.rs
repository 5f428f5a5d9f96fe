//! What every upload computes from its bytes as they pass, whichever way
//! they arrive: the SHA-256 that names the blob and the CID builder that
//! gives its IPFS address. A resumable upload keeps them between requests
//! ([`Digests`], checkpointed in its row); a request's bytes pass through
//! them with the CID built on a thread of its own ([`Digesting`]).

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::ipfs::{CidBuilder, Dag};
use crate::pipeline::Error;
use crate::pipeline::side_thread::SideThread;
use crate::storage::BlobKey;

/// The hashes of the bytes so far, at rest.
#[derive(Default)]
pub struct Digests {
    pub sha256: Sha256,
    pub cid: CidBuilder,
}

impl Digests {
    /// Goes on hashing from here as bytes pass.
    pub fn start(self) -> Digesting {
        Digesting {
            sha256: self.sha256,
            cid: Cid::Inline(self.cid, 0),
        }
    }

    /// The blob's key and IPFS tree of every byte, once all have passed.
    pub fn finish(self) -> (BlobKey, Dag) {
        (
            BlobKey::from_digest(&self.sha256.finalize().into()),
            self.cid.finish(),
        )
    }
}

/// Hashes being computed as a body's bytes pass.
pub struct Digesting {
    sha256: Sha256,
    cid: Cid,
}

/// Bytes up to this many are added to the CID builder inline; past them, it
/// moves to a thread of its own. A small file is done before a hand-over to
/// another thread would have paid for itself.
const INLINE_CID_BYTES: u64 = 64 * 1024;

enum Cid {
    /// On the request's own task, with the bytes it has taken.
    Inline(CidBuilder, u64),
    Thread(SideThread<CidBuilder>),
}

impl Digesting {
    pub async fn push(&mut self, chunk: &Bytes) -> Result<(), Error> {
        self.sha256.update(chunk);
        if let Cid::Inline(builder, taken) = &mut self.cid {
            *taken += chunk.len() as u64;
            if *taken <= INLINE_CID_BYTES {
                builder.push(chunk);
                return Ok(());
            }
            self.cid = Cid::Thread(SideThread::start(std::mem::take(builder)));
        }
        match &mut self.cid {
            Cid::Thread(thread) => thread.push(chunk.clone()).await,
            Cid::Inline(..) => unreachable!("moved to its thread above"),
        }
    }

    /// Stops hashing: the hashes of every byte pushed, once the CID thread
    /// (if any) has taken the last one.
    pub async fn stop(self) -> Result<Digests, Error> {
        let cid = match self.cid {
            Cid::Inline(builder, _) => builder,
            Cid::Thread(thread) => thread.finish().await?,
        };
        Ok(Digests {
            sha256: self.sha256,
            cid,
        })
    }
}

impl std::fmt::Debug for Digests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digests").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Digesting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cid = match &self.cid {
            Cid::Inline(_, taken) => format!("inline, {taken} bytes"),
            Cid::Thread(thread) => format!("{thread:?}"),
        };
        f.debug_struct("Digesting")
            .field("cid", &cid)
            .finish_non_exhaustive()
    }
}
