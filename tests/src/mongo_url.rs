//! MongoDB URLs naming a database of their own. Also compiled into the benchmarks
//! (benches/common, by `#[path]`), which cannot depend on this crate.

/// `url` (a `mongodb://host:port/...?...` URL) pointed at the database `name`, its query kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.to_owned(), format!("?{query}")),
        None => (url.to_owned(), String::new()),
    };
    let base = match base.strip_prefix("mongodb://") {
        Some(rest) => format!(
            "mongodb://{}",
            rest.split_once('/').map_or(rest, |(host, _)| host)
        ),
        None => base,
    };
    format!("{base}/{name}{query}")
}
