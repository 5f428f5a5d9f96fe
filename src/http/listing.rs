//! `GET /api/v1/files/`: the caller's files, newest first (or sorted, on
//! numbered pages), filtered and paginated; `POST /api/v1/files/search` takes
//! the same filters as a JSON body.
//!
//! The body is a JSON array of files (seed 2's contract). Pagination travels in
//! headers: `X-Next-Cursor` (and, for `GET`, `Link: <…>; rel="next"`) for
//! cursor pages, `X-Total-Count` for numbered pages.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use serde::{Deserialize, Serialize};

use crate::db::files::{self as db_files, FileFilter, FileRecord, Order, Page};
use crate::db::folders::{self, Entry};
use crate::domain::metadata::{self, searchable_text};
use crate::domain::{UserId, timestamp};
use crate::http::caller::{AuthUser, Reader};
use crate::http::error::ApiError;
use crate::http::files::{self, FileView};
use crate::http::folders::FolderView;
use crate::pipeline::Error;
use crate::pipeline::state::AppState;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 1000;

/// The filters and page of a listing, from the query string or a search's body.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    limit: Option<i64>,
    cursor: Option<String>,
    page: Option<i64>,
    page_size: Option<i64>,
    /// `created_at`, `name` or `size`, `-` first for descending; numbered pages only.
    sort: Option<String>,
    /// Only names that start with it: `reports/` lists the folder's files at
    /// any depth (or, with `delimiter`, its level).
    prefix: Option<String>,
    /// `/`: list one level of the folder `prefix` names (the top without
    /// one) as `{prefix, folders, files, next_cursor}`; only `prefix`,
    /// `limit` and `cursor` go with it, and the cursor is the last name.
    delimiter: Option<String>,
    /// Case-insensitive substring of the file name.
    name: Option<String>,
    content_type: Option<String>,
    min_size: Option<i64>,
    max_size: Option<i64>,
    /// RFC 3339, inclusive.
    created_after: Option<String>,
    /// RFC 3339, inclusive.
    created_before: Option<String>,
    /// Metadata the files must have: a JSON object of top-level keys and the
    /// string, number or boolean each must equal (in a query string, as JSON text).
    #[param(value_type = Option<String>)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<MetadataParam>,
}

/// A metadata filter: a JSON object in a search's body, its JSON text in a query.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MetadataParam {
    Object(serde_json::Map<String, serde_json::Value>),
    Text(String),
}

impl MetadataParam {
    /// Each key and the compact JSON text its value must equal.
    fn pairs(&self) -> Result<Vec<(String, String)>, Error> {
        let object = match self {
            Self::Object(object) => object.clone(),
            Self::Text(text) => match serde_json::from_str(text) {
                Ok(serde_json::Value::Object(object)) => object,
                _ => {
                    return Err(Error::BadRequest(
                        "`metadata` must be a JSON object of keys and the values they must have".into(),
                    ));
                }
            },
        };
        if object.len() > metadata::MAX_KEYS {
            return Err(Error::BadRequest(format!(
                "`metadata` may name at most {} keys",
                metadata::MAX_KEYS
            )));
        }
        object
            .into_iter()
            .map(|(key, value)| {
                searchable_text(&value)
                    .map(|text| (key.clone(), text))
                    .ok_or_else(|| {
                        Error::BadRequest(format!(
                            "metadata `{key}`: only strings, numbers and booleans can be searched for"
                        ))
                    })
            })
            .collect()
    }
}

#[utoipa::path(get, path = "/api/v1/files/", tag = "files", params(ListParams),
    responses((status = 200, description = "Your files (an array; `Link`/`X-Next-Cursor` or `X-Total-Count` page them), \
        or with `delimiter=/` one level of a folder (an object; `X-Next-Cursor` pages it)",
        body = Listing), (status = 400, description = "A bad parameter", body = crate::http::openapi::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    OriginalUri(uri): OriginalUri,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<(HeaderMap, Json<Listing>), ApiError> {
    let Query(params) = params.map_err(|rejection| Error::BadRequest(rejection.body_text()))?;
    if params.delimiter.is_some() {
        let (headers, level) = folder_level(&state, user, &params).await?;
        return Ok((headers, Json(Listing::Level(level))));
    }
    let (headers, rows) = matching_page(&state, user, &params, Some(&uri)).await?;
    Ok((headers, Json(Listing::Files(files::views(&state, rows).await))))
}

/// A listing's answer: the files, or one level of a folder.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Listing {
    Files(Vec<FileView>),
    Level(FolderLevel),
}

/// One level of a folder: its subfolders and the files directly in it, in
/// name order (byte order), one page of them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FolderLevel {
    /// The folder listed (`""` for the top).
    pub prefix: String,
    pub folders: Vec<FolderView>,
    pub files: Vec<FileView>,
    /// Where the next page starts (`cursor`), if there is one.
    pub next_cursor: Option<String>,
}

/// One page of the level under `params.prefix`.
async fn folder_level(
    state: &AppState,
    user: UserId,
    params: &ListParams,
) -> Result<(HeaderMap, FolderLevel), ApiError> {
    if params.delimiter.as_deref() != Some("/") {
        return Err(Error::BadRequest("`delimiter` must be `/`".into()).into());
    }
    let others = [
        params.page.is_some(),
        params.page_size.is_some(),
        params.sort.is_some(),
        params.name.is_some(),
        params.content_type.is_some(),
        params.min_size.is_some(),
        params.max_size.is_some(),
        params.created_after.is_some(),
        params.created_before.is_some(),
        params.metadata.is_some(),
    ];
    if others.into_iter().any(|given| given) {
        return Err(Error::BadRequest(
            "a listing with `delimiter` takes only `prefix`, `limit` and `cursor`".into(),
        )
        .into());
    }
    let prefix = params.prefix.clone().unwrap_or_default();
    let limit = match params.limit {
        None => MAX_LIMIT,
        Some(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return Err(Error::BadRequest(format!("`limit` must be between 1 and {MAX_LIMIT}")).into());
        }
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut entries = folders::level(
        state.db.pool(),
        user,
        &prefix,
        params.cursor.as_deref(),
        limit + 1,
    )
    .await?;
    let mut headers = HeaderMap::new();
    let next_cursor = if entries.len() > limit {
        entries.truncate(limit);
        entries.last().map(|last| last.key().to_owned())
    } else {
        None
    };
    if let Some(cursor) = &next_cursor {
        insert(&mut headers, "x-next-cursor", cursor);
    }
    let mut folder_views = Vec::new();
    let mut file_rows = Vec::new();
    for entry in entries {
        match entry {
            Entry::Folder(path) => folder_views.push(FolderView::of(state, user, path).await?),
            Entry::File(row) => file_rows.push(*row),
        }
    }
    Ok((
        headers,
        FolderLevel {
            prefix,
            folders: folder_views,
            files: files::views(state, file_rows).await,
            next_cursor,
        },
    ))
}

/// `POST /api/v1/files/search`
#[utoipa::path(post, path = "/api/v1/files/search", tag = "files", request_body = ListParams,
    responses((status = 200, description = "Your files that match; `X-Next-Cursor` or `X-Total-Count` page them",
        body = Vec<crate::http::files::FileView>), (status = 400, description = "A bad filter", body = crate::http::openapi::ErrorBody),
        (status = 422, description = "Not JSON, or an unknown field (`validation_failed`)", body = crate::http::openapi::ErrorBody)))]
pub async fn search(
    State(state): State<AppState>,
    Reader(user): Reader,
    params: Result<Json<ListParams>, JsonRejection>,
) -> Result<(HeaderMap, Json<Vec<FileView>>), ApiError> {
    let Json(params) = params.map_err(crate::http::json_error)?;
    if params.delimiter.is_some() {
        return Err(Error::BadRequest(
            "a search spans folders; list one level with GET /api/v1/files/?delimiter=/".into(),
        )
        .into());
    }
    let (headers, rows) = matching_page(&state, user, &params, None).await?;
    Ok((headers, Json(files::views(&state, rows).await)))
}

/// One page of the caller's files that `params` asks for, and the headers
/// that tell the next page or the total; for a query string at `uri`, the
/// `Link` to the next page too.
pub async fn matching_page(
    state: &AppState,
    user: UserId,
    params: &ListParams,
    uri: Option<&Uri>,
) -> Result<(HeaderMap, Vec<FileRecord>), ApiError> {
    let filter = filter_of(params)?;
    let page = page_of(params)?;

    // One row more than asked tells whether a next cursor page exists.
    let probe = match page {
        Page::Cursor { after, limit } => Page::Cursor {
            after,
            limit: limit + 1,
        },
        numbered => numbered,
    };
    let (mut rows, total) = db_files::list(state.db.pool(), user, &filter, probe).await?;

    let mut headers = HeaderMap::new();
    if let Page::Cursor { limit, .. } = page
        && rows.len() > usize::try_from(limit).unwrap_or(usize::MAX)
    {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        if let Some(last) = rows.last() {
            let cursor = last.id.to_string();
            insert(&mut headers, "x-next-cursor", &cursor);
            if let Some(uri) = uri {
                let next = next_page_link(uri.path(), uri.query().unwrap_or_default(), &cursor);
                insert(&mut headers, "link", &format!("<{next}>; rel=\"next\""));
            }
        }
    }
    if let Some(total) = total {
        insert(&mut headers, "x-total-count", &total.to_string());
    }
    Ok((headers, rows))
}

fn filter_of(params: &ListParams) -> Result<FileFilter, ApiError> {
    let time = |name: &str, value: &Option<String>| -> Result<Option<i64>, Error> {
        value
            .as_deref()
            .map(|text| {
                timestamp::parse_rfc3339(text)
                    .ok_or_else(|| Error::BadRequest(format!("`{name}` must be an RFC 3339 timestamp")))
            })
            .transpose()
    };
    Ok(FileFilter {
        prefix: params.prefix.clone().filter(|prefix| !prefix.is_empty()),
        name_contains: params.name.clone().filter(|name| !name.is_empty()),
        content_type: params.content_type.clone().filter(|ct| !ct.is_empty()),
        min_size: params.min_size,
        max_size: params.max_size,
        created_after: time("created_after", &params.created_after)?,
        created_before: time("created_before", &params.created_before)?,
        metadata: params
            .metadata
            .as_ref()
            .map(MetadataParam::pairs)
            .transpose()?
            .unwrap_or_default(),
    })
}

fn page_of(params: &ListParams) -> Result<Page, ApiError> {
    let bounded = |name: &str, value: i64| {
        if (1..=MAX_LIMIT).contains(&value) {
            Ok(value)
        } else {
            Err(Error::BadRequest(format!(
                "`{name}` must be between 1 and {MAX_LIMIT}"
            )))
        }
    };
    let cursor_mode = params.cursor.is_some() || params.limit.is_some();
    let page_mode = params.page.is_some() || params.page_size.is_some() || params.sort.is_some();
    if cursor_mode && page_mode {
        return Err(Error::BadRequest(
            "use either `limit`/`cursor` or `page`/`page_size`/`sort`, not both".into(),
        )
        .into());
    }
    if page_mode {
        let page = params.page.unwrap_or(1);
        if page < 1 {
            return Err(Error::BadRequest("`page` starts at 1".into()).into());
        }
        let order = match params.sort.as_deref() {
            None => Order::default(),
            Some(text) => Order::parse(text).ok_or_else(|| {
                Error::BadRequest(
                    "`sort` must be one of created_at, name, size, each optionally preceded by `-`".into(),
                )
            })?,
        };
        return Ok(Page::Numbered {
            page,
            page_size: bounded("page_size", params.page_size.unwrap_or(DEFAULT_LIMIT))?,
            order,
        });
    }
    let after = params
        .cursor
        .as_deref()
        .map(|cursor| {
            cursor
                .parse::<i64>()
                .map_err(|_| Error::BadRequest("`cursor` is not a cursor this server issued".into()))
        })
        .transpose()?;
    Ok(Page::Cursor {
        after,
        limit: bounded("limit", params.limit.unwrap_or(DEFAULT_LIMIT))?,
    })
}

/// The same request with `cursor` replaced: filters and limit carry over.
fn next_page_link(path: &str, query: &str, cursor: &str) -> String {
    let mut next = url::form_urlencoded::Serializer::new(String::new());
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key != "cursor" {
            next.append_pair(&key, &value);
        }
    }
    next.append_pair("cursor", cursor);
    format!("{path}?{}", next.finish())
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_keeps_filters_and_replaces_the_cursor() {
        assert_eq!(
            next_page_link("/api/v1/files/", "name=q%201&cursor=9&limit=2", "5"),
            "/api/v1/files/?name=q+1&limit=2&cursor=5"
        );
    }
}
