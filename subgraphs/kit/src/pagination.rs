//! Relay cursor connections: opaque cursors over a stable sort key, `first`/`last` capped.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{ObjectType, OutputType, SchemaBuilder, SubscriptionType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{ApiError, ApiResult};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The page size when the client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Which direction to read and from where, parsed from Relay arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Rows to return (the store fetches one more to learn whether another page exists).
    pub limit: u64,
    /// Keyset bound: rows strictly after this key (forward) or before it (backward).
    pub after: Option<String>,
    pub before: Option<String>,
    /// True when paging backwards with `last`.
    pub backward: bool,
}

impl PageRequest {
    /// Parses Relay arguments; `first` and `last` together, negatives, or more than
    /// [`MAX_PAGE_SIZE`] are BAD_USER_INPUT.
    pub fn parse(
        after: Option<String>,
        before: Option<String>,
        first: Option<i32>,
        last: Option<i32>,
    ) -> ApiResult<Self> {
        if first.is_some() && last.is_some() {
            return Err(ApiError::bad_input(
                "first",
                "give either `first` or `last`, not both",
            ));
        }
        let check = |name: &str, value: i32| -> ApiResult<u64> {
            if value < 0 || value as u64 > MAX_PAGE_SIZE {
                Err(ApiError::bad_input(
                    name,
                    format!("`{name}` must be between 0 and {MAX_PAGE_SIZE}"),
                ))
            } else {
                Ok(value as u64)
            }
        };
        let (limit, backward) = match (first, last) {
            (Some(first), None) => (check("first", first)?, false),
            (None, Some(last)) => (check("last", last)?, true),
            _ => (DEFAULT_PAGE_SIZE, false),
        };
        Ok(Self {
            limit,
            after: after.map(|c| decode_cursor("after", &c)).transpose()?,
            before: before.map(|c| decode_cursor("before", &c)).transpose()?,
            backward,
        })
    }
}

/// The argument descriptions every connection field repeats (async-graphql takes them as
/// literals, so these are the texts to copy; the lint test checks they are there).
pub const AFTER_DOC: &str = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before.";
pub const BEFORE_DOC: &str = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before.";
pub const FIRST_DOC: &str = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`.";
pub const LAST_DOC: &str =
    "How many items to return from the end (or before `before`): 0 to 100. Not with `first`.";

/// Gives the `<Node>Connection` type of `N` a description (async-graphql leaves it without
/// one): call it once per node type a subgraph pages over.
pub fn describe_connection<N, Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
where
    N: OutputType,
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder.override_output_type_description::<Connection<String, N, EmptyFields, EmptyFields>>(
        connection_description(&N::type_name()),
    )
}

/// The description of the connection of `node`, made once per node type and process (the
/// schema builder wants a `&'static str`; tests build many schemas).
fn connection_description(node: &str) -> &'static str {
    static MADE: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut made = MADE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    made.entry(node.to_owned()).or_insert_with(|| {
        let text = format!(
            "A page of `{node}` items, as a Relay cursor connection: the items in `nodes` (or \
             in `edges`, each with its cursor) and `pageInfo` to ask for the next or previous \
             page (`first`/`after` forwards, `last`/`before` backwards, at most 100 a page)."
        );
        Box::leak(text.into_boxed_str())
    })
}

pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("k:{key}"))
}

fn decode_cursor(arg: &str, cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("k:").map(str::to_owned))
        .ok_or_else(|| ApiError::bad_input(arg, "the cursor is not valid"))
}

/// Applies a page's keyset bounds, direction and `limit + 1` to a sea-orm query ordered by the
/// stable `key` column (a time-ordered id).
pub fn keyset_page<E, C>(
    query: sea_orm::Select<E>,
    key: C,
    page: &PageRequest,
) -> sea_orm::Select<E>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ColumnTrait,
{
    use sea_orm::{QueryFilter, QueryOrder, QuerySelect};
    let mut query = query;
    if let Some(after) = &page.after {
        query = query.filter(key.gt(after.as_str()));
    }
    if let Some(before) = &page.before {
        query = query.filter(key.lt(before.as_str()));
    }
    let query = if page.backward {
        query.order_by_desc(key)
    } else {
        query.order_by_asc(key)
    };
    query.limit(page.limit + 1)
}

/// Builds a connection from rows fetched with `limit + 1` (in the requested direction) so the
/// extra row tells whether another page exists.
pub fn connection_from_rows<T, K>(
    page: &PageRequest,
    mut rows: Vec<T>,
    key: K,
) -> Connection<String, T, EmptyFields, EmptyFields>
where
    T: OutputType,
    K: Fn(&T) -> String,
{
    let has_more = rows.len() as u64 > page.limit;
    rows.truncate(page.limit as usize);
    if page.backward {
        rows.reverse();
    }
    let (has_previous, has_next) = if page.backward {
        (has_more, page.before.is_some())
    } else {
        (page.after.is_some(), has_more)
    };
    let mut connection = Connection::new(has_previous, has_next);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(encode_cursor(&key(&row)), row)),
    );
    connection
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_and_defaults() {
        assert_eq!(
            PageRequest::parse(None, None, None, None).unwrap().limit,
            DEFAULT_PAGE_SIZE
        );
        assert!(PageRequest::parse(None, None, Some(101), None).is_err());
        assert!(PageRequest::parse(None, None, Some(-1), None).is_err());
        assert!(PageRequest::parse(None, None, Some(1), Some(1)).is_err());
        assert!(PageRequest::parse(Some("garbage!".into()), None, None, None).is_err());
        let cursor = encode_cursor("0190-abc");
        let page = PageRequest::parse(Some(cursor), None, Some(5), None).unwrap();
        assert_eq!(page.after.as_deref(), Some("0190-abc"));
    }
}
