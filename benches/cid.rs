//! Hashing in the upload pass: SHA-256 of the whole body (the blob key) and the
//! IPFS CID (SHA-256 of every 256 KiB leaf, plus the DAG), alone and together
//! the way an upload runs them — the CID on a second thread fed the same 1 MiB
//! chunks through a queue.
//!
//!     cargo bench --bench cid

use std::time::Instant;

use bytes::Bytes;
use depot::ipfs::CidBuilder;
use sha2::{Digest, Sha256};

const SIZE: usize = 512 << 20;
const CHUNK: usize = 1 << 20;
const RUNS: usize = 5;

fn main() {
    let body: Vec<Bytes> = (0..SIZE / CHUNK)
        .map(|chunk| {
            Bytes::from(
                (0..CHUNK)
                    .map(|i| ((chunk * CHUNK + i) % 251) as u8)
                    .collect::<Vec<u8>>(),
            )
        })
        .collect();
    println!(
        "hashing {} MiB in {} KiB chunks, {RUNS} runs",
        SIZE >> 20,
        CHUNK >> 10
    );
    report("SHA-256 of the body", || {
        let mut hasher = Sha256::new();
        for chunk in &body {
            hasher.update(chunk);
        }
        hasher.finalize();
    });
    report("CID (leaf hashes and DAG)", || {
        let mut builder = CidBuilder::default();
        for chunk in &body {
            builder.push(chunk);
        }
        builder.finish();
    });
    report("both, CID on a second thread", || {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Bytes>(16);
        let cid = std::thread::spawn(move || {
            let mut builder = CidBuilder::default();
            while let Ok(chunk) = receiver.recv() {
                builder.push(&chunk);
            }
            builder.finish()
        });
        let mut hasher = Sha256::new();
        for chunk in &body {
            sender.send(chunk.clone()).expect("the CID thread runs");
            hasher.update(chunk);
        }
        drop(sender);
        hasher.finalize();
        cid.join().expect("the CID thread ends");
    });
}

fn report(name: &str, mut run: impl FnMut()) {
    let mut rates: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            SIZE as f64 / 1e9 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "{name}: GB/s min {:.2}, median {:.2}, max {:.2}",
        rates[0],
        rates[RUNS / 2],
        rates[RUNS - 1]
    );
}
