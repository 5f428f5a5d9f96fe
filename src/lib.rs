//! depot — a self-hosted file and dataset storage service.
//!
//! # Layout
//!
//! One folder per layer, and imports only point down; an upload travels down
//! them in this order:
//!
//! - [`cli`], [`server`] and [`startup`] — the command line, serving a bound
//!   listener with connection limits, and turning a [`config`] into a running
//!   [`pipeline::state::AppState`].
//! - [`http`] — the axum router, extractors and handlers: the HTTP contract
//!   (status codes, headers, JSON shapes, the error type [`http::error::ApiError`]
//!   with its statuses) lives here and nowhere else.
//! - [`s3`] — beside [`http`]: the S3 API on a listener of its own (the
//!   s3s crate speaks the protocol and SigV4), its operations mapped onto
//!   the same files and the same upload workflow.
//! - [`pipeline`] — what an upload, a deletion or a maintenance job *does*:
//!   streams a body once into the blob store while hashing it, building its CID
//!   ([`ipfs`]) and profiling datasets ([`profile`]), then records it — with its
//!   audit event — in one database transaction, shared by the uploads that end
//!   together ([`pipeline::group_commit`]). Every way an upload arrives
//!   (a multipart form, a raw `PUT`, a resumable upload's creation and last
//!   request) drives one [`pipeline::upload::Upload`], so a rule every upload
//!   obeys — the storage quota ([`pipeline::quota`]) among them — is written
//!   once — an upload through an upload link ([`pipeline::links`]) too. Rate
//!   limits and who a request's client is are [`pipeline::limits`]; files
//!   shared with other users are [`pipeline::sharing`]. Its [`pipeline::Error`] names
//!   every failure with a stable code. The periodic work runs on one scheduler
//!   ([`pipeline::maintenance`]); backups and restores are [`pipeline::backup`],
//!   and what `/metrics` reads from the database [`pipeline::health`]; a
//!   storage node's side of the internal API is here too.
//! - [`storage`], [`db`], [`cache`], [`auth`], [`profile`], [`ipfs`] — blob
//!   stores behind [`storage::BlobStore`] (local disk, S3, a storage node,
//!   memory), the metadata store (SQLite or PostgreSQL through one sqlx code
//!   path) and its migrations, the active-file cache and the rate limits'
//!   token buckets (Redis or in-process; the database stays the truth), JWTs,
//!   link tokens and passwords, the dataset profiler and
//!   the CID builder. Each has its own error type.
//! - [`domain`] — the parsed types that guard the edges (`FileName`,
//!   `ByteRange`, `SessionId`, `UserId`, `BlobKey` — a content's SHA-256 —,
//!   content types, sizes and rates as people write them); with [`config`],
//!   [`metrics`] (counters for Prometheus) and [`telemetry`] it imports
//!   nothing of depot's above it.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod ipfs;
pub mod metrics;
pub mod pipeline;
pub mod profile;
pub mod s3;
pub mod server;
pub mod startup;
pub mod storage;
pub mod telemetry;
