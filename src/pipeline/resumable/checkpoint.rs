//! The hash state of a resumable upload's durable bytes, kept in its row so
//! that any node can go on hashing where the last request stopped.

use sha2::Sha256;

use crate::ipfs::{self, CidBuilder};

/// The encoding's version, its first byte.
const VERSION: u8 = 1;

/// The hash state of an upload's bytes: the SHA-256 of the whole content so
/// far and the CID builder.
pub(super) fn save(sha256: &Sha256, cid: &CidBuilder) -> Vec<u8> {
    let mut out = vec![VERSION];
    ipfs::save_sha256(sha256, &mut out);
    cid.save(&mut out);
    out
}

/// A hash state saved by [`save`]; `None` if the bytes are not one.
pub(super) fn restore(bytes: &[u8]) -> Option<(Sha256, CidBuilder)> {
    let (&version, mut rest) = bytes.split_first()?;
    if version != VERSION {
        return None;
    }
    let sha256 = ipfs::restore_sha256(&mut rest)?;
    let cid = CidBuilder::restore(&mut rest)?;
    rest.is_empty().then_some((sha256, cid))
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    #[test]
    fn a_checkpoint_restores_to_the_same_hashes() {
        let (mut sha256, mut cid) = (Sha256::default(), CidBuilder::default());
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        sha256.update(&bytes[..300_001]);
        cid.push(&bytes[..300_001]);
        let (mut sha256, mut cid) = restore(&save(&sha256, &cid)).expect("restores");
        sha256.update(&bytes[300_001..]);
        cid.push(&bytes[300_001..]);
        assert_eq!(sha256.finalize(), Sha256::digest(&bytes));
        let mut whole = CidBuilder::default();
        whole.push(&bytes);
        assert_eq!(cid.finish().root, whole.finish().root);
    }

    #[test]
    fn a_checkpoint_of_another_version_or_with_trailing_bytes_is_refused() {
        let saved = save(&Sha256::default(), &CidBuilder::default());
        let mut other_version = saved.clone();
        other_version[0] = 2;
        assert!(restore(&other_version).is_none());
        let mut trailing = saved;
        trailing.push(0);
        assert!(restore(&trailing).is_none());
        assert!(restore(&[]).is_none());
    }
}
