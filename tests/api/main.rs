//! depot's API test suite: the real server on port 0, a fresh data dir and database
//! per test, driven over HTTP. Runs on SQLite with the in-process cache by default,
//! on PostgreSQL when `DEPOT_TEST_DATABASE_URL` is set and with Redis as the cache
//! when `DEPOT_TEST_CACHE=redis` (CI runs both ways). The Redis tests always need
//! a Redis (`DEPOT_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod accounts;
mod active;
mod audit;
mod audit_chain;
mod auth;
mod backup;
mod cache;
mod cid_files;
mod cids;
mod cli;
mod client_cli;
mod client_files;
mod clients;
mod connections;
mod download;
mod durability;
mod folders;
mod garage;
mod helpers;
mod history;
mod ipfs_publish;
mod jobs;
mod limits;
mod listing;
mod monitoring;
mod openapi;
mod ops;
mod partition;
mod preview;
mod process;
mod profile;
mod proxy;
mod quotas;
mod replace;
mod resumable;
mod s3;
mod sessions;
mod sharing;
mod startup;
mod tracking;
mod two_tier;
mod ui;
mod upload;
