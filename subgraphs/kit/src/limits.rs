//! Request limits checked right after parsing, before validation and execution: depth, aliases,
//! root fields and directives, each refused with its own stable `extensions.code`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

use crate::config::Limits;

pub const MAX_DEPTH_EXCEEDED: &str = "MAX_DEPTH_EXCEEDED";
pub const MAX_ALIASES_EXCEEDED: &str = "MAX_ALIASES_EXCEEDED";
pub const MAX_ROOT_FIELDS_EXCEEDED: &str = "MAX_ROOT_FIELDS_EXCEEDED";
pub const MAX_DIRECTIVES_EXCEEDED: &str = "MAX_DIRECTIVES_EXCEEDED";

/// What a document asks for, measured once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DocumentShape {
    pub depth: usize,
    pub aliases: usize,
    pub root_fields: usize,
    pub directives: usize,
}

type Fragments = HashMap<Name, Positioned<FragmentDefinition>>;

fn depth_of(set: &SelectionSet, fragments: &Fragments, level: usize, cap: usize) -> usize {
    if level > cap {
        // Deeper than any limit we check: stop (this also ends fragment cycles).
        return level;
    }
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                if field.node.selection_set.node.items.is_empty() {
                    level
                } else {
                    depth_of(&field.node.selection_set.node, fragments, level + 1, cap)
                }
            }
            Selection::InlineFragment(inline) => {
                depth_of(&inline.node.selection_set.node, fragments, level, cap)
            }
            Selection::FragmentSpread(spread) => fragments
                .get(&spread.node.fragment_name.node)
                .map(|fragment| depth_of(&fragment.node.selection_set.node, fragments, level, cap))
                .unwrap_or(level),
        })
        .max()
        .unwrap_or(level)
}

fn count_set(set: &SelectionSet, aliases: &mut usize, directives: &mut usize) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                *aliases += usize::from(field.node.alias.is_some());
                *directives += field.node.directives.len();
                count_set(&field.node.selection_set.node, aliases, directives);
            }
            Selection::InlineFragment(inline) => {
                *directives += inline.node.directives.len();
                count_set(&inline.node.selection_set.node, aliases, directives);
            }
            Selection::FragmentSpread(spread) => *directives += spread.node.directives.len(),
        }
    }
}

fn root_fields(set: &SelectionSet, fragments: &Fragments, hops: usize) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(inline) => {
                root_fields(&inline.node.selection_set.node, fragments, hops)
            }
            Selection::FragmentSpread(spread) if hops < 8 => fragments
                .get(&spread.node.fragment_name.node)
                .map(|f| root_fields(&f.node.selection_set.node, fragments, hops + 1))
                .unwrap_or(0),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// Measures `document` (every operation and fragment it contains).
pub fn measure(document: &ExecutableDocument, depth_cap: usize) -> DocumentShape {
    let mut shape = DocumentShape::default();
    for (_, operation) in document.operations.iter() {
        shape.directives += operation.node.directives.len();
        let set = &operation.node.selection_set.node;
        shape.depth = shape
            .depth
            .max(depth_of(set, &document.fragments, 1, depth_cap));
        shape.root_fields = shape
            .root_fields
            .max(root_fields(set, &document.fragments, 0));
        count_set(set, &mut shape.aliases, &mut shape.directives);
    }
    for fragment in document.fragments.values() {
        shape.directives += fragment.node.directives.len();
        count_set(
            &fragment.node.selection_set.node,
            &mut shape.aliases,
            &mut shape.directives,
        );
    }
    shape
}

fn refuse(code: &'static str, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code);
    err.extensions = Some(ext);
    err
}

/// Checks a measured shape against the limits.
pub fn check(shape: &DocumentShape, limits: &Limits) -> Result<(), ServerError> {
    if shape.depth > limits.max_depth {
        return Err(refuse(
            MAX_DEPTH_EXCEEDED,
            format!("the query is deeper than {} levels", limits.max_depth),
        ));
    }
    if shape.aliases > limits.max_aliases {
        return Err(refuse(
            MAX_ALIASES_EXCEEDED,
            format!("the query uses more than {} aliases", limits.max_aliases),
        ));
    }
    if shape.root_fields > limits.max_root_fields {
        return Err(refuse(
            MAX_ROOT_FIELDS_EXCEEDED,
            format!(
                "the operation selects more than {} root fields",
                limits.max_root_fields
            ),
        ));
    }
    if shape.directives > limits.max_directives {
        return Err(refuse(
            MAX_DIRECTIVES_EXCEEDED,
            format!(
                "the query uses more than {} directives",
                limits.max_directives
            ),
        ));
    }
    Ok(())
}

/// The extension form of [`check`], installed on every subgraph schema.
pub struct RequestLimits(pub Arc<Limits>);

impl ExtensionFactory for RequestLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestLimitsExtension(self.0.clone()))
    }
}

struct RequestLimitsExtension(Arc<Limits>);

#[async_trait::async_trait]
impl Extension for RequestLimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        check(&measure(&document, self.0.max_depth + 1), &self.0)?;
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> DocumentShape {
        measure(&async_graphql::parser::parse_query(query).unwrap(), 100)
    }

    #[test]
    fn measures_depth_aliases_roots_and_directives() {
        let s = shape("{ a { b { c } } d: e @skip(if: false) ...F } fragment F on Query { x { y { z { w } } } }");
        assert_eq!(s.depth, 4);
        assert_eq!(s.aliases, 1);
        assert_eq!(s.root_fields, 3);
        assert_eq!(s.directives, 1);
    }

    #[test]
    fn fragment_cycles_terminate() {
        let s = measure(
            &async_graphql::parser::parse_query("{ ...A } fragment A on Query { a { ...A } }")
                .unwrap(),
            13,
        );
        assert!(s.depth > 12);
    }
}
