//! What storing and deleting a file does, independent of how the bytes arrived.
//!
//! An upload is one [`upload::Upload`]: it resolves its [`session::Session`],
//! keeps its processing record ([`attempt::Attempt`]), reads the body once,
//! chunk by chunk, into a staged blob while hashing it, building its CID and
//! profiling datasets (the last two on threads of their own, [`side_thread`]),
//! places new content at its address, then records the file, completes the
//! record and makes the file the session's active file ([`active`]) in one
//! database transaction, shared with the uploads that end at the same moment
//! ([`group_commit`]). [`delete::delete`] undoes it. A [`resumable`] upload
//! receives its body over several requests, and its last request finishes
//! the same [`upload::Upload`]. A [`storage_node`] stages and commits blobs
//! for gateways. [`maintenance`] runs the jobs and sweeps; every failure is
//! an [`Error`].

pub mod accounts;
pub mod active;
pub mod attempt;
pub mod audit;
pub mod backup;
pub mod content;
pub mod credentials;
pub mod delete;
pub mod error;
pub mod folders;
pub mod group_commit;
pub mod health;
pub mod keys;
pub mod limits;
pub mod links;
pub mod maintenance;
pub mod migrate_storage;
pub mod multipart;
pub mod publish;
pub mod quota;
pub mod readiness;
pub mod resumable;
pub mod session;
pub mod sharing;
pub mod side_thread;
pub mod state;
pub mod storage_node;
pub mod transfer;
pub mod upload;

pub use error::Error;
