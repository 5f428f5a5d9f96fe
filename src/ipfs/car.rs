//! The order of a DAG's blocks in a CAR export: depth first, each node before
//! its children, children in link order — so the leaves come in file order and
//! can be read from the blob in one sequential pass.

use std::collections::HashMap;

use ipld_core::cid::Cid;
use ipld_dagpb::PbNode;

use super::RAW;

/// One block of the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An inner node, whose bytes are stored.
    Node(Cid),
    /// The next leaf: the next chunk of the file.
    Leaf(Cid),
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("the DAG lacks its node {0}")]
    MissingNode(Cid),
    #[error("the DAG node {0} is not valid dag-pb: {1}")]
    Undecodable(Cid, String),
}

/// The blocks under `root`, depth first. `nodes` holds the inner nodes' bytes.
pub fn depth_first(root: Cid, nodes: &HashMap<Cid, Vec<u8>>) -> Result<Vec<Step>, WalkError> {
    let mut steps = Vec::new();
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        if cid.codec() == RAW {
            steps.push(Step::Leaf(cid));
            continue;
        }
        let data = nodes.get(&cid).ok_or(WalkError::MissingNode(cid))?;
        let node = links_of(cid, data)?;
        steps.push(Step::Node(cid));
        stack.extend(node.into_iter().rev());
    }
    Ok(steps)
}

/// The CIDs a dag-pb node links to, in order.
pub fn links_of(cid: Cid, data: &[u8]) -> Result<Vec<Cid>, WalkError> {
    let node = PbNode::from_bytes(bytes::Bytes::copy_from_slice(data))
        .map_err(|err| WalkError::Undecodable(cid, err.to_string()))?;
    Ok(node.links.into_iter().map(|link| link.cid).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipfs::{CHUNK_BYTES, CidBuilder, MAX_LINKS};

    #[test]
    fn the_walk_visits_every_block_once_with_leaves_in_file_order() {
        let bytes: Vec<u8> = (0..CHUNK_BYTES * (MAX_LINKS + 2))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut builder = CidBuilder::default();
        builder.push(&bytes);
        let dag = builder.finish();
        let nodes: HashMap<Cid, Vec<u8>> = dag
            .inner_nodes
            .iter()
            .map(|node| (node.cid, node.data.clone()))
            .collect();
        let steps = depth_first(dag.root, &nodes).unwrap();
        assert_eq!(steps.first(), Some(&Step::Node(dag.root)));
        let leaves: Vec<Cid> = steps
            .iter()
            .filter_map(|step| match step {
                Step::Leaf(cid) => Some(*cid),
                Step::Node(_) => None,
            })
            .collect();
        assert_eq!(leaves, dag.leaves);
        assert_eq!(steps.len(), dag.leaves.len() + dag.inner_nodes.len());
    }
}
