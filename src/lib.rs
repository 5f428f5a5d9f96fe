//! depot — a self-hosted file and dataset storage service.
//!
//! # Layout
//!
//! One folder per layer; an upload travels down them in this order:
//!
//! - [`http`] — the axum router, extractors and handlers: the HTTP contract
//!   (status codes, headers, JSON shapes) lives here and nowhere else.
//! - [`pipeline`] — what an upload or a deletion *does*: streams a body once into
//!   the blob store while hashing it, building its CID ([`ipfs`]) and profiling
//!   datasets ([`profile`]), then records it — with its audit event — in one
//!   database transaction. A storage node's side of the internal API is here too.
//! - [`storage`] — content-addressed blob stores behind the [`storage::BlobStore`]
//!   trait (local filesystem, S3, a storage node over its internal API, in-memory).
//! - [`db`] — the metadata store (SQLite or PostgreSQL through one sqlx code path)
//!   and its migrations.
//! - [`cache`] — the active-file cache (Redis or in-process); the database stays
//!   the truth.
//!
//! Beside them: [`domain`] holds the parsed types that guard the edges
//! (`FileName`, `ByteRange`, content types), [`auth`] the JWT and password
//! handling, [`config`] the layered configuration, [`startup`] turns a
//! configuration into a running [`state::AppState`], [`server`] serves it,
//! [`jobs`] runs the periodic sweeps beside it and [`maintenance`] the cleanup,
//! verify and report jobs; [`metrics`] counts for Prometheus, and [`cli`] is
//! the command line — a deployment's commands and the client of a server.

pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod ipfs;
pub mod jobs;
pub mod maintenance;
pub mod metrics;
pub mod pipeline;
pub mod profile;
pub mod server;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
