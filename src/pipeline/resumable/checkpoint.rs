//! The hash state of a resumable upload's durable bytes, kept in its row so
//! that any node can go on hashing where the last request stopped.

use crate::ipfs::{self, CidBuilder};
use crate::pipeline::upload::Digests;

/// The encoding's version, its first byte. Version 1 held every finished
/// leaf's digest too, rewritten by every request; version 2 leaves them to
/// their own rows (`upload_leaves`), written once.
const VERSION: u8 = 2;
const WITH_LEAVES: u8 = 1;

/// The hash state of an upload's bytes: the SHA-256 of the whole content so
/// far and the CID builder, without its finished leaves (see
/// [`CidBuilder::save`]).
pub(super) fn save(digests: &Digests) -> Vec<u8> {
    let mut out = vec![VERSION];
    ipfs::save_sha256(&digests.sha256, &mut out);
    digests.cid.save(&mut out);
    out
}

/// A hash state saved by [`save`] (or by a version that kept the leaves in it,
/// which come back held by the builder); `None` if the bytes are not one.
pub(super) fn restore(bytes: &[u8]) -> Option<Digests> {
    let (&version, mut rest) = bytes.split_first()?;
    if version != VERSION && version != WITH_LEAVES {
        return None;
    }
    let sha256 = ipfs::restore_sha256(&mut rest)?;
    let mut cid = CidBuilder::restore(&mut rest)?;
    if version == WITH_LEAVES {
        let (count, digests) = rest.split_first_chunk::<8>()?;
        let count = usize::try_from(u64::from_le_bytes(*count)).ok()?;
        let digests = digests.get(..count.checked_mul(32)?)?;
        rest = &rest[8 + digests.len()..];
        let leaves = digests
            .chunks_exact(32)
            .map(|digest| digest.try_into().unwrap_or_default())
            .collect();
        if !cid.put_back_leaves(leaves) {
            return None;
        }
    }
    rest.is_empty().then_some(Digests { sha256, cid })
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn a_checkpoint_restores_to_the_same_hashes() {
        let (mut sha256, mut cid) = (Sha256::default(), CidBuilder::default());
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        sha256.update(&bytes[..300_001]);
        cid.push(&bytes[..300_001]);
        let (_, kept) = cid.take_leaves();
        let Digests { mut sha256, mut cid } = restore(&save(&Digests { sha256, cid })).expect("restores");
        sha256.update(&bytes[300_001..]);
        cid.push(&bytes[300_001..]);
        assert_eq!(sha256.finalize(), Sha256::digest(&bytes));
        assert!(cid.put_back_leaves(kept));
        let mut whole = CidBuilder::default();
        whole.push(&bytes);
        assert_eq!(cid.finish().root, whole.finish().root);
    }

    #[test]
    fn a_checkpoint_that_kept_its_leaves_restores_them() {
        let (mut sha256, mut cid) = (Sha256::default(), CidBuilder::default());
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        sha256.update(&bytes);
        cid.push(&bytes);
        let mut whole = CidBuilder::default();
        whole.push(&bytes);
        let mut probe = CidBuilder::default();
        probe.push(&bytes);
        let (_, leaves) = probe.take_leaves();
        let mut version_1 = vec![WITH_LEAVES];
        ipfs::save_sha256(&sha256, &mut version_1);
        cid.save(&mut version_1);
        version_1.extend_from_slice(&(leaves.len() as u64).to_le_bytes());
        version_1.extend(leaves.iter().flatten());
        let restored = restore(&version_1).expect("restores");
        assert_eq!(restored.sha256.finalize(), Sha256::digest(&bytes));
        assert_eq!(restored.cid.leaves_elsewhere(), 0);
        assert_eq!(restored.cid.finish().root, whole.finish().root);
    }

    #[test]
    fn a_checkpoint_of_another_version_or_with_trailing_bytes_is_refused() {
        let saved = save(&Digests::default());
        let mut other_version = saved.clone();
        other_version[0] = 3;
        assert!(restore(&other_version).is_none());
        let mut trailing = saved;
        trailing.push(0);
        assert!(restore(&trailing).is_none());
        assert!(restore(&[]).is_none());
    }
}
