//! A remote blob store against a real storage node served on a loopback
//! port: the storage contract, a dropped write and a wrong key.

use std::sync::Arc;

use bytes::Bytes;

use crate::config::{Config, Secret};
use crate::http::NodeState;
use crate::pipeline::storage_node::{StorageNode, TRANSIENT_DIR};
use crate::server::{Limits, run_node};
use crate::storage::contract::run_all;
use crate::storage::{BlobStore, LocalBlobStore, RemoteBlobStore, StorageError, breaker, remote};

/// A storage node on a local store, served on a loopback port, and a
/// remote store speaking to it with `key`.
/// A storage node on a loopback port: a store speaking to it, the node's own
/// local store, and its URL.
async fn node_on_loopback(root: &std::path::Path, key: &str) -> (RemoteBlobStore, LocalBlobStore, String) {
    let local = LocalBlobStore::open(&root.join("blobs")).await.unwrap();
    let node = StorageNode::open(Arc::new(local.clone()), root).await.unwrap();
    let secret = Secret::new(key);
    let state = NodeState::new(node, &secret);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let limits = Limits::node(&Config::default());
    tokio::spawn(run_node(listener, state, limits, std::future::pending()));
    (
        RemoteBlobStore::new(&url, &secret, breaker::DEFAULT_MIN_RATE).unwrap(),
        local,
        url,
    )
}

#[tokio::test]
async fn remote_store_meets_the_contract_and_leaves_nothing_staged_on_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let (remote, local, _) = node_on_loopback(dir.path(), "a-key-of-at-least-thirty-two-bytes!").await;
    run_all(&remote).await;

    // A write cut off after some chunks went to the node is discarded there.
    let mut writer = remote.stage().await.unwrap();
    for _ in 0..3 {
        writer.write(Bytes::from(vec![7u8; remote::CHUNK])).await.unwrap();
    }
    drop(writer);
    let emptied = async {
        while local.staged_count().unwrap() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), emptied)
        .await
        .expect("the node discards a dropped write's chunks");
    let transient = dir.path().join(TRANSIENT_DIR);
    assert_eq!(std::fs::read_dir(transient).unwrap().count(), 0);
}

#[tokio::test]
async fn a_remote_store_with_the_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    node_on_loopback(dir.path(), "a-key-of-at-least-thirty-two-bytes!").await;
    let (right, _, url) = node_on_loopback(dir.path(), "the-right-key-of-thirty-two-bytes!!").await;
    right.check().await.unwrap();
    let wrong = RemoteBlobStore::new(
        &url,
        &Secret::new("not-the-key-but-also-thirty-two-b"),
        breaker::DEFAULT_MIN_RATE,
    )
    .unwrap();
    assert!(matches!(wrong.check().await, Err(StorageError::Unavailable(_))));
}
