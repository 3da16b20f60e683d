//! The export links: `GET /analytics/exports/{token}` streams the prepared CSV as the store
//! produces it, with the exact row count (`X-Row-Count`) and the snapshot (`X-As-Of`) in the
//! headers, before the first row; `GET /analytics/exports/metrics/{token}` serves a prepared
//! metric table's Parquet file (size-limited when prepared) with the same headers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;

use erp_kit::ApiError;

use super::metrics::{EXPORT_PATH, METRIC_EXPORT_PATH};
use crate::app::Analytics;

/// The routes of the export links.
pub fn routes(analytics: Analytics) -> Router {
    Router::new()
        .route(&format!("{EXPORT_PATH}/{{token}}"), get(download))
        .route(
            &format!("{METRIC_EXPORT_PATH}/{{token}}"),
            get(download_metric),
        )
        .with_state(analytics)
}

fn error_response(err: ApiError) -> Response {
    let status = match err.code() {
        erp_kit::ErrorCode::NotFound => StatusCode::NOT_FOUND,
        erp_kit::ErrorCode::Conflict => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut extensions = serde_json::json!({ "code": err.code().as_str() });
    if let Some(reason) = err.reason() {
        extensions["reason"] = serde_json::Value::from(reason.name());
    }
    let body = serde_json::json!({
        "errors": [{ "message": err.message(), "extensions": extensions }]
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A metric export's Parquet file, whole (it was size-limited when prepared).
async fn download_metric(
    State(analytics): State<Analytics>,
    Path(token): Path<String>,
) -> Response {
    let opened = match analytics.open_metric_export(&token).await {
        Ok(opened) => opened,
        Err(err) => return error_response(err),
    };
    let mut response = Response::new(Body::from(opened.file));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apache.parquet"),
    );
    // The metric's name is a catalogue name (lowercase letters and `_`): a safe file name.
    if let Ok(disposition) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.parquet\"",
        opened.metric
    )) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    if let Ok(count) = HeaderValue::from_str(&opened.row_count.to_string()) {
        headers.insert("x-row-count", count);
    }
    let as_of = opened
        .as_of
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if let Ok(as_of) = HeaderValue::from_str(&as_of) {
        headers.insert("x-as-of", as_of);
    }
    response
}

async fn download(State(analytics): State<Analytics>, Path(token): Path<String>) -> Response {
    let opened = match analytics.open_export(&token).await {
        Ok(opened) => opened,
        Err(err) => return error_response(err),
    };
    let body = opened.stream.body.map(|chunk| {
        chunk.map_err(|err| {
            tracing::error!(error = %err, "export stream failed midway");
            std::io::Error::other(err.message)
        })
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"time-entries.csv\""),
    );
    if let Ok(count) = HeaderValue::from_str(&opened.row_count.to_string()) {
        headers.insert("x-row-count", count);
    }
    let as_of = opened
        .as_of
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if let Ok(as_of) = HeaderValue::from_str(&as_of) {
        headers.insert("x-as-of", as_of);
    }
    response
}
