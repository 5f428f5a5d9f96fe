//! What storing and deleting a file does, independent of how the bytes arrived.
//!
//! An upload is two steps: [`upload::Ingest`] reads the body once, chunk by chunk,
//! into a staged blob while hashing it; [`upload::store`] then records the file and
//! commits the blob in one database transaction. [`delete::delete`] undoes both.

pub mod delete;
pub mod upload;
