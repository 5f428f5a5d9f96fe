//! IPFS content addressing: every file gets the CID `ipfs add --cid-version=1`
//! gives it with kubo's defaults — 256 KiB chunks, each a raw leaf (codec
//! 0x55), under a balanced UnixFS DAG of at most 174 links per dag-pb node,
//! CIDv1, SHA-256 — computed as the bytes stream in.
//!
//! Each leaf's SHA-256 is taken as its bytes go by, without copying them; at
//! the end `rust-unixfs` builds the balanced tree over the leaf links
//! (`build_file_from_leaves`, byte-identical to its `FileAdder`). While the
//! bytes stream, memory is one hash state and each leaf's 32-byte digest (128
//! KiB per GiB), kept to be stored beside the blob; the CIDs and inner nodes
//! are built at the end.

pub mod car;
pub mod node;
pub mod verify;

use ipld_core::cid::multihash::Multihash;
use ipld_core::cid::{Cid, Version};
use multihash_codetable::Code;
use rust_unixfs::file::adder::{FileBranchLink, build_file_from_leaves};
use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest, Sha256};

/// kubo's default chunk size.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// kubo's default fan-out of the balanced layout (`rust-unixfs`' default too).
pub const MAX_LINKS: usize = 174;
/// The multicodec of a raw block (a leaf: the chunk's bytes themselves).
pub const RAW: u64 = 0x55;
/// The multihash code of SHA-256.
pub const SHA2_256: u64 = 0x12;

/// The CID of a stream of bytes, built as they arrive.
#[derive(Default)]
pub struct CidBuilder {
    /// The chunk being hashed, and how many of its bytes have gone by.
    leaf: Sha256,
    leaf_len: usize,
    /// Finished leaves whose digests were taken out ([`CidBuilder::take_leaves`])
    /// and are kept elsewhere until [`CidBuilder::put_back_leaves`]; they come
    /// before `leaves`.
    leaves_elsewhere: u64,
    /// The SHA-256 of each finished leaf held here.
    leaves: Vec<[u8; 32]>,
    /// Bytes pushed so far.
    size: u64,
}

/// One block of a file's DAG: its CID and its encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub cid: Cid,
    pub data: Vec<u8>,
}

/// A file's DAG once all its bytes are in: the root CID, the inner (dag-pb)
/// nodes, children before parents and the root last, and the CID of each leaf
/// (chunk `i` is bytes `i * CHUNK_BYTES ..`). A file of one chunk or less has no
/// inner node: its root is its only leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dag {
    pub root: Cid,
    pub inner_nodes: Vec<Block>,
    pub leaves: Vec<Cid>,
}

impl std::fmt::Debug for CidBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CidBuilder")
            .field("leaves", &self.leaves.len())
            .finish_non_exhaustive()
    }
}

impl CidBuilder {
    pub fn push(&mut self, mut input: &[u8]) {
        self.size += input.len() as u64;
        while !input.is_empty() {
            let take = input.len().min(CHUNK_BYTES - self.leaf_len);
            self.leaf.update(&input[..take]);
            self.leaf_len += take;
            input = &input[take..];
            if self.leaf_len == CHUNK_BYTES {
                self.end_leaf();
            }
        }
    }

    /// The DAG of every byte pushed. Leaves taken out must have been put back.
    pub fn finish(mut self) -> Dag {
        debug_assert_eq!(self.leaves_elsewhere, 0, "leaves taken out were not put back");
        // The last, short leaf; or the one empty leaf of an empty file.
        if self.leaf_len > 0 || self.leaves.is_empty() {
            self.end_leaf();
        }
        let leaves: Vec<Cid> = self.leaves.iter().map(|digest| raw_cid(digest)).collect();
        let links: Vec<FileBranchLink> = leaves
            .iter()
            .enumerate()
            .map(|(index, cid)| {
                let start = (index * CHUNK_BYTES) as u64;
                let size = (self.size - start).min(CHUNK_BYTES as u64);
                FileBranchLink {
                    cid: *cid,
                    blocksize: size,
                    tsize: size,
                }
            })
            .collect();
        let (root, _, blocks) = build_file_from_leaves(&links, Version::V1, Code::Sha2_256);
        Dag {
            root,
            inner_nodes: blocks
                .into_iter()
                .map(|(cid, data)| Block { cid, data })
                .collect(),
            leaves,
        }
    }

    /// The builder's state as bytes, to go on with later (a resumable upload
    /// between two requests): the hash state of the leaf being hashed, its
    /// length and the bytes pushed so far. The finished leaves' digests are
    /// not in it: whoever saves the builder takes them out first
    /// ([`CidBuilder::take_leaves`]) and keeps them, so that what is saved
    /// stays small however large the upload grows.
    pub fn save(&self, out: &mut Vec<u8>) {
        save_sha256(&self.leaf, out);
        out.extend_from_slice(&(self.leaf_len as u64).to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
    }

    /// A builder saved by [`CidBuilder::save`], taken from the front of `input`,
    /// its finished leaves kept elsewhere; `None` if the bytes are not one.
    pub fn restore(input: &mut &[u8]) -> Option<Self> {
        let leaf = restore_sha256(input)?;
        let leaf_len = usize::try_from(take_u64(input)?)
            .ok()
            .filter(|len| *len < CHUNK_BYTES)?;
        let size = take_u64(input)?;
        let finished = size.checked_sub(leaf_len as u64)?;
        (finished % CHUNK_BYTES as u64 == 0).then_some(Self {
            leaf,
            leaf_len,
            leaves_elsewhere: finished / CHUNK_BYTES as u64,
            leaves: Vec::new(),
            size,
        })
    }

    /// Takes out the digests of the finished leaves held here, with the index
    /// of the first: the caller keeps them until [`CidBuilder::put_back_leaves`].
    pub fn take_leaves(&mut self) -> (u64, Vec<[u8; 32]>) {
        let first = self.leaves_elsewhere;
        let leaves = std::mem::take(&mut self.leaves);
        self.leaves_elsewhere += leaves.len() as u64;
        (first, leaves)
    }

    /// Gives back the digests of every leaf kept elsewhere, in order, before
    /// [`CidBuilder::finish`]; `false` (and nothing changes) if they are not
    /// as many as were taken out.
    pub fn put_back_leaves(&mut self, mut earlier: Vec<[u8; 32]>) -> bool {
        if earlier.len() as u64 != self.leaves_elsewhere {
            return false;
        }
        earlier.append(&mut self.leaves);
        self.leaves = earlier;
        self.leaves_elsewhere = 0;
        true
    }

    /// How many finished leaves are kept elsewhere.
    pub fn leaves_elsewhere(&self) -> u64 {
        self.leaves_elsewhere
    }

    fn end_leaf(&mut self) {
        self.leaves.push(std::mem::take(&mut self.leaf).finalize().into());
        self.leaf_len = 0;
    }
}

/// Appends a SHA-256 hash state (the state, not the digest: hashing can go on).
pub fn save_sha256(hasher: &Sha256, out: &mut Vec<u8>) {
    out.extend_from_slice(&hasher.serialize());
}

/// A hash state saved by [`save_sha256`], taken from the front of `input`.
pub fn restore_sha256(input: &mut &[u8]) -> Option<Sha256> {
    let state = take(input, size_of::<SerializedState<Sha256>>())?;
    Sha256::deserialize(&SerializedState::<Sha256>::try_from(state).ok()?).ok()
}

fn take_u64(input: &mut &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(take(input, 8)?.try_into().ok()?))
}

fn take<'a>(input: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    let (head, rest) = input.split_at_checked(len)?;
    *input = rest;
    Some(head)
}

/// The CIDv1 of a raw block with this SHA-256 digest.
fn raw_cid(digest: &[u8]) -> Cid {
    let hash = Multihash::<64>::wrap(SHA2_256, digest).unwrap_or_default();
    Cid::new_v1(RAW, hash)
}

#[cfg(test)]
mod tests;
