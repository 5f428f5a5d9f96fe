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
            cid: SideThread::start(self.cid),
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
    cid: SideThread<CidBuilder>,
}

impl Digesting {
    pub async fn push(&mut self, chunk: &Bytes) -> Result<(), Error> {
        self.cid.push(chunk.clone()).await?;
        self.sha256.update(chunk);
        Ok(())
    }

    /// Stops hashing: the hashes of every byte pushed, once the CID thread
    /// has taken the last one.
    pub async fn stop(self) -> Result<Digests, Error> {
        Ok(Digests {
            sha256: self.sha256,
            cid: self.cid.finish().await?,
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
        f.debug_struct("Digesting")
            .field("cid", &self.cid)
            .finish_non_exhaustive()
    }
}
