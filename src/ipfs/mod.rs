//! IPFS content addressing: every file gets the CID `ipfs add --cid-version=1`
//! gives it with kubo's defaults — 256 KiB chunks, each a raw leaf (codec
//! 0x55), under a balanced UnixFS DAG of at most 174 links per dag-pb node,
//! CIDv1, SHA-256 — computed as the bytes stream in.
//!
//! `rust-unixfs` builds the DAG. Memory is one partial chunk plus the DAG's
//! frontier, and what is kept to be stored beside the blob: each leaf's CID and
//! the inner nodes (together about 100 bytes per 256 KiB chunk, 400 KiB per GiB).

pub mod car;
pub mod verify;

use ipld_core::cid::Cid;
use rust_unixfs::file::adder::{BalancedCollector, Chunker, FileAdder};

/// kubo's default chunk size.
pub const CHUNK_BYTES: usize = 256 * 1024;
/// kubo's default fan-out of the balanced layout.
pub const MAX_LINKS: usize = 174;
/// The multicodec of a raw block (a leaf: the chunk's bytes themselves).
pub const RAW: u64 = 0x55;

/// The CID of a stream of bytes, built as they arrive.
pub struct CidBuilder {
    adder: FileAdder,
    inner_nodes: Vec<Block>,
    leaves: Vec<Cid>,
    /// The last block made: the root, once the input ends.
    last: Option<Cid>,
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
            .field("inner_nodes", &self.inner_nodes.len())
            .finish_non_exhaustive()
    }
}

impl Default for CidBuilder {
    fn default() -> Self {
        Self {
            adder: FileAdder::builder()
                .with_chunker(Chunker::Size(CHUNK_BYTES))
                .with_collector(BalancedCollector::with_branching_factor(MAX_LINKS))
                .with_cid_version(ipld_core::cid::Version::V1)
                .with_raw_leaves(true)
                .build(),
            inner_nodes: Vec::new(),
            leaves: Vec::new(),
            last: None,
        }
    }
}

impl CidBuilder {
    pub fn push(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            let (blocks, consumed) = self.adder.push(input);
            for (cid, data) in blocks {
                self.keep(cid, data);
            }
            input = &input[consumed..];
        }
    }

    pub fn finish(mut self) -> Dag {
        let adder = std::mem::take(&mut self.adder);
        for (cid, data) in adder.finish() {
            self.keep(cid, data);
        }
        Dag {
            // A file of one chunk or less is its only leaf, made by `push` or
            // `finish` (an empty file is an empty raw leaf).
            root: self.last.unwrap_or_default(),
            inner_nodes: self.inner_nodes,
            leaves: self.leaves,
        }
    }

    /// Leaves are the file's own bytes, already in the blob: only their CIDs matter.
    fn keep(&mut self, cid: Cid, data: Vec<u8>) {
        self.last = Some(cid);
        if cid.codec() == RAW {
            self.leaves.push(cid);
        } else {
            self.inner_nodes.push(Block { cid, data });
        }
    }
}

#[cfg(test)]
mod tests;
