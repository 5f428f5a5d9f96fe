//! The CIDs of `tests/data/cid` (kubo's answers for files whose byte i is
//! `i % 251`) and of their chunkings.

use proptest::prelude::*;

use super::*;

fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

fn cid_of(bytes: &[u8], cuts: &[usize]) -> Dag {
    let mut builder = CidBuilder::default();
    let mut start = 0;
    for &cut in cuts {
        let cut = cut.clamp(start, bytes.len());
        builder.push(&bytes[start..cut]);
        start = cut;
    }
    builder.push(&bytes[start..]);
    builder.finish()
}

#[test]
fn every_shared_test_size_has_kubos_cid() {
    let expected = include_str!("../../tests/data/cid/expected.txt");
    let mut checked = 0;
    for line in expected.lines().filter(|line| !line.trim().is_empty()) {
        let (size, cid) = line.split_once(' ').unwrap();
        let size: usize = size.parse().unwrap();
        let dag = cid_of(&pattern(size), &[]);
        assert_eq!(dag.root.to_string(), cid, "{size} bytes");
        checked += 1;
    }
    assert!(checked >= 9);
    assert_eq!(
        cid_of(b"hello\n", &[]).root.to_string(),
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );
}

#[test]
fn small_files_are_one_raw_leaf_and_larger_ones_keep_their_inner_nodes() {
    let one_chunk = cid_of(&pattern(CHUNK_BYTES), &[]);
    assert!(one_chunk.inner_nodes.is_empty());
    assert_eq!(one_chunk.leaves, [one_chunk.root]);
    let two_levels = cid_of(&pattern(CHUNK_BYTES * (MAX_LINKS + 1)), &[]);
    // 175 leaves: a full node of 174, a node of 1, and the root above them.
    assert_eq!(two_levels.inner_nodes.len(), 3);
    assert_eq!(two_levels.inner_nodes.last().unwrap().cid, two_levels.root);
    assert_eq!(two_levels.leaves.len(), MAX_LINKS + 1);
    // Every chunk's leaf is the raw CID of its bytes; the pattern repeats, but
    // 262144 is not a multiple of 251, so the first two chunks differ.
    assert_ne!(two_levels.leaves[0], two_levels.leaves[1]);
    assert_eq!(two_levels.leaves[0], one_chunk.root);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn chunking_never_changes_the_cid(
        size in 0usize..(3 * CHUNK_BYTES + 10),
        mut cuts in proptest::collection::vec(0usize..(3 * CHUNK_BYTES + 10), 0..16),
    ) {
        cuts.sort_unstable();
        let bytes = pattern(size);
        prop_assert_eq!(cid_of(&bytes, &cuts), cid_of(&bytes, &[]));
    }

    #[test]
    fn a_builder_saved_and_restored_at_any_cut_gives_the_same_cid(
        size in 0usize..(3 * CHUNK_BYTES + 10),
        mut cuts in proptest::collection::vec(0usize..(3 * CHUNK_BYTES + 10), 0..6),
    ) {
        cuts.sort_unstable();
        let bytes = pattern(size);
        let mut builder = CidBuilder::default();
        let mut kept = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([size]) {
            let cut = cut.clamp(start, size);
            builder.push(&bytes[start..cut]);
            start = cut;
            let (first, leaves) = builder.take_leaves();
            prop_assert_eq!(first, kept.len() as u64);
            kept.extend(leaves);
            let mut saved = Vec::new();
            builder.save(&mut saved);
            let mut input = saved.as_slice();
            builder = CidBuilder::restore(&mut input).expect("a saved builder restores");
            prop_assert!(input.is_empty(), "restore takes exactly what save wrote");
            prop_assert_eq!(builder.leaves_elsewhere(), kept.len() as u64);
        }
        if let Some((_, fewer)) = kept.split_first() {
            prop_assert!(!builder.put_back_leaves(fewer.to_vec()), "one leaf short");
        }
        prop_assert!(builder.put_back_leaves(kept));
        prop_assert_eq!(builder.finish(), cid_of(&bytes, &[]));
    }
}

#[test]
fn a_damaged_saved_builder_is_refused() {
    let mut builder = CidBuilder::default();
    builder.push(&pattern(CHUNK_BYTES + 5));
    let mut saved = Vec::new();
    builder.save(&mut saved);
    assert!(
        CidBuilder::restore(&mut &saved[..saved.len() - 1]).is_none(),
        "truncated"
    );
    let size_at = saved.len() - 8;
    saved[size_at] ^= 1;
    assert!(
        CidBuilder::restore(&mut saved.as_slice()).is_none(),
        "the size and the leaf being hashed disagree"
    );
}
