//! `GET /api/v1/files/{file_name}/preview`: what the web UI shows of a file
//! without downloading it. A CSV or TSV gives its first 100 rows as a table,
//! parsed here; a text file its first 64 KiB; an image the word that the
//! browser may show it inline. Only the file's first bytes are read.
//!
//! HTML, SVG, XML and scripts are previewed as text: depot never hands a
//! browser uploaded markup to render in its origin.

use axum::Extension;
use axum::Json;
use axum::extract::{Path, State};
use bytes::BytesMut;
use futures_util::TryStreamExt;
use serde::Serialize;

use crate::db::files::FileRecord;
use crate::domain::content_type;
use crate::http::caller::AuthUser;
use crate::http::download::unreadable;
use crate::http::error::ApiError;
use crate::http::files::find_owned;
use crate::pipeline::Error;
use crate::pipeline::audit::Audit;
use crate::pipeline::state::AppState;
use crate::profile::Format;
use crate::profile::preview::first_rows;

/// Rows of a table preview, after its header.
pub const TABLE_ROWS: usize = 100;
/// Bytes read for a table preview: rows past them are left out.
pub const TABLE_BYTES: u64 = 1024 * 1024;
/// Bytes of a text preview.
pub const TEXT_BYTES: u64 = 64 * 1024;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PreviewView {
    file_name: String,
    content_type: String,
    size: i64,
    #[serde(flatten)]
    preview: Preview,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Preview {
    /// A delimited dataset's header and first rows, every field as text.
    Table {
        columns: Vec<String>,
        rows: Vec<Vec<String>>,
        truncated: bool,
    },
    /// The first [`TEXT_BYTES`], cut at a character boundary.
    Text { text: String, truncated: bool },
    /// An image a browser shows inline from the file's content URL.
    Image,
    /// Nothing to show: the file can be downloaded.
    None,
}

#[utoipa::path(get, path = "/api/v1/files/{file_name}/preview", tag = "files", params(("file_name" = String, Path)),
    responses((status = 200, description = "What the web UI shows of the file", body = PreviewView),
        (status = 404, description = "No such file of yours", body = crate::http::openapi::ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    user: AuthUser,
    Extension(audit): Extension<Audit>,
    Path(file_name): Path<String>,
) -> Result<Json<PreviewView>, ApiError> {
    let record = find_owned(&state, user.0, &file_name).await?;
    audit.note_file(&record.file_name, &record.sha256, 0);
    Ok(Json(of(&state, record).await?))
}

/// The preview of `record`, whoever may read it.
pub async fn of(state: &AppState, record: FileRecord) -> Result<PreviewView, ApiError> {
    let preview = match kind_of(&record) {
        Kind::Table(delimiter) => table(state, &record, delimiter).await?,
        Kind::Text => text(state, &record).await?,
        Kind::Image => Preview::Image,
        Kind::None => Preview::None,
    };
    Ok(PreviewView {
        file_name: record.file_name,
        content_type: record.content_type,
        size: record.size,
        preview,
    })
}

enum Kind {
    Table(u8),
    Text,
    Image,
    None,
}

fn kind_of(record: &FileRecord) -> Kind {
    if let Some(delimiter) =
        Format::detect(&record.file_name, &record.content_type).and_then(Format::delimiter)
    {
        return Kind::Table(delimiter);
    }
    let essence = record
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if content_type::is_active_content(&essence) {
        return Kind::Text;
    }
    match essence.split_once('/') {
        Some((
            "image",
            "png" | "jpeg" | "gif" | "webp" | "avif" | "bmp" | "x-icon" | "vnd.microsoft.icon",
        )) => Kind::Image,
        Some(("text", _)) => Kind::Text,
        Some(("application", subtype))
            if subtype.ends_with("+json")
                || matches!(
                    subtype,
                    "json" | "x-ndjson" | "jsonl" | "toml" | "yaml" | "x-yaml" | "sql" | "x-sh" | "x-python"
                ) =>
        {
            Kind::Text
        }
        _ => Kind::None,
    }
}

async fn table(state: &AppState, record: &FileRecord, delimiter: u8) -> Result<Preview, ApiError> {
    let (head, whole) = first_bytes(state, record, TABLE_BYTES).await?;
    Ok(match first_rows(&head, delimiter, TABLE_ROWS, whole) {
        Ok(table) => Preview::Table {
            columns: table.columns,
            rows: table.rows,
            truncated: table.truncated,
        },
        // Stored before depot refused such files: show what is there.
        Err(_) => text_of(&head[..head.len().min(TEXT_BYTES as usize)], record),
    })
}

async fn text(state: &AppState, record: &FileRecord) -> Result<Preview, ApiError> {
    let (head, _) = first_bytes(state, record, TEXT_BYTES).await?;
    Ok(text_of(&head, record))
}

/// Text from a file's first bytes: a character the cut runs through is left
/// out, bytes that are not UTF-8 show as U+FFFD.
fn text_of(head: &[u8], record: &FileRecord) -> Preview {
    let complete = match std::str::from_utf8(head) {
        Err(err) if err.error_len().is_none() => &head[..err.valid_up_to()],
        _ => head,
    };
    Preview::Text {
        text: String::from_utf8_lossy(complete).into_owned(),
        truncated: u64::try_from(head.len()).unwrap_or(u64::MAX) < u64::try_from(record.size).unwrap_or(0),
    }
}

/// Up to `limit` bytes from the start of the file, and whether they are all of it.
async fn first_bytes(
    state: &AppState,
    record: &FileRecord,
    limit: u64,
) -> Result<(BytesMut, bool), ApiError> {
    let size = u64::try_from(record.size).unwrap_or_default();
    if size == 0 {
        return Ok((BytesMut::new(), true));
    }
    let end = size.min(limit);
    let key = record.blob_key()?;
    let stream = state
        .blobs
        .read(&key, Some(0..=end - 1))
        .await
        .map_err(unreadable(&key))?;
    let head = stream
        .try_fold(BytesMut::new(), |mut head, chunk| async move {
            head.extend_from_slice(&chunk);
            Ok(head)
        })
        .await
        .map_err(|err| Error::Internal(anyhow::anyhow!("reading blob {key} for a preview: {err}")))?;
    Ok((head, end == size))
}
