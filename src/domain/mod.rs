//! Types that parse untrusted input once, at the edge.

pub mod access;
pub mod blob_key;
pub mod byte_range;
pub mod content_type;
pub mod file_name;
pub mod metadata;
pub mod processing;
pub mod rate;
pub mod session_id;
pub mod size;
pub mod timestamp;
pub mod upload_id;
pub mod user_id;

pub use access::{AccountRole, Scope};
pub use blob_key::BlobKey;
pub use byte_range::ByteRange;
pub use file_name::{FileName, Folder};
pub use metadata::FileMetadata;
pub use session_id::SessionId;
pub use upload_id::UploadId;
pub use user_id::UserId;
