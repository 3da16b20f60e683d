//! Field-level authorization driven by the schema itself.
//!
//! A field declares what it needs ONCE, with async-graphql's attributes:
//!
//! ```ignore
//! #[graphql(requires_scopes = "employee:read:private", requires_scopes = "hr:admin")]
//! async fn date_of_birth(&self) -> Option<NaiveDate> { ... }
//!
//! #[graphql(directive = authenticated::apply())]
//! async fn me(&self) -> Option<Employee> { ... }
//! ```
//!
//! The declaration lands in the schema registry. From there it is written into the federated SDL
//! (`@requiresScopes(scopes: [["employee:read:private"], ["hr:admin"]])`, `@authenticated`), which
//! the router enforces, and [`Authz`] reads the very same registry entry at run time to enforce it
//! again in the subgraph. The two cannot drift because there is only one declaration.
//!
//! A denied nullable field resolves to `null` with an error whose `extensions.code` is
//! `UNAUTHORIZED_FIELD_OR_TYPE` and whose `path` points at the field; the rest of the data
//! arrives (partial data, not a failed operation).

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextResolve,
    ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql::registry::MetaType;
use async_graphql::Variables;
use async_graphql::{PathSegment, QueryPathSegment, Response, ServerError, ServerResult, Value};
use parking_lot::Mutex;

use crate::auth::Identity;
use crate::error::ErrorCode;

/// `@authenticated`: the field or type needs a verified token, whatever its scopes.
#[async_graphql::TypeDirective(location = "FieldDefinition", location = "Object")]
pub fn authenticated() {}

/// `@requiresScopes` for the places async-graphql's `requires_scopes` attribute does not reach
/// (subscription fields): `#[graphql(directive = requiresScopes::apply(vec![vec!["a".into()]]))]`.
/// It lands in the same SDL directive and is enforced by the same code.
#[allow(non_snake_case)]
#[async_graphql::TypeDirective(location = "FieldDefinition")]
pub fn requiresScopes(scopes: Vec<Vec<String>>) {}

/// The scope that opens introspection (`__schema`, `__type`) to schema consumers.
pub const SCHEMA_READ_SCOPE: &str = "schema:read";

/// What a field requires, read from the registry.
struct Requirement<'a> {
    authenticated: bool,
    scopes: std::borrow::Cow<'a, [String]>,
}

/// The scope groups of a `@requiresScopes(scopes: [[...]])` directive invocation, in the
/// attribute's "a b" form.
fn directive_scopes(
    invocations: &[async_graphql::registry::MetaDirectiveInvocation],
) -> Option<Vec<String>> {
    let invocation = invocations.iter().find(|d| d.name == "requiresScopes")?;
    let Some(Value::List(groups)) = invocation.args.get("scopes") else {
        return None;
    };
    Some(
        groups
            .iter()
            .map(|group| match group {
                Value::List(scopes) => scopes
                    .iter()
                    .filter_map(|s| match s {
                        Value::String(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => String::new(),
            })
            .collect(),
    )
}

fn requirement_of<'a>(ty: &'a MetaType, field_name: &str) -> Requirement<'a> {
    let (type_scopes, type_directives) = match ty {
        MetaType::Object {
            requires_scopes,
            directive_invocations,
            ..
        } => (requires_scopes.as_slice(), directive_invocations.as_slice()),
        MetaType::Interface {
            requires_scopes,
            directive_invocations,
            ..
        } => (requires_scopes.as_slice(), directive_invocations.as_slice()),
        _ => (&[][..], &[][..]),
    };
    let field = ty.field_by_name(field_name);
    let field_scopes = field.map(|f| f.requires_scopes.as_slice()).unwrap_or(&[]);
    let field_authenticated = field.is_some_and(|f| {
        f.directive_invocations
            .iter()
            .any(|d| d.name == "authenticated")
    });
    let scopes = if !field_scopes.is_empty() {
        std::borrow::Cow::Borrowed(field_scopes)
    } else if let Some(from_directive) =
        field.and_then(|f| directive_scopes(&f.directive_invocations))
    {
        std::borrow::Cow::Owned(from_directive)
    } else {
        // A field-level rule refines the type-level one.
        std::borrow::Cow::Borrowed(type_scopes)
    };
    Requirement {
        authenticated: field_authenticated
            || type_directives.iter().any(|d| d.name == "authenticated"),
        scopes,
    }
}

/// `requires_scopes = "a b"` is stored as one string per AND-group.
fn satisfied(identity: &Identity, scopes: &[String]) -> bool {
    let groups: Vec<Vec<&str>> = scopes
        .iter()
        .map(|group| group.split_whitespace().collect())
        .collect();
    identity.satisfies(&groups)
}

fn path_of(info: &ResolveInfo<'_>) -> Vec<PathSegment> {
    let mut path: Vec<PathSegment> = std::iter::once(info.path_node)
        .chain(info.path_node.parents())
        .map(|node| match node.segment {
            QueryPathSegment::Index(index) => PathSegment::Index(index),
            QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
        })
        .collect();
    path.reverse();
    path
}

fn denial(info: &ResolveInfo<'_>, code: ErrorCode, message: String) -> ServerError {
    let mut err = ServerError::new(message, None);
    err.path = path_of(info);
    let mut ext = async_graphql::ErrorExtensionValues::default();
    ext.set("code", code.as_str());
    err.extensions = Some(ext);
    err
}

/// The extension that enforces the declarations and serves the patched federation SDL.
#[derive(Clone, Default)]
pub struct Authz {
    /// The SDL `_service { sdl }` answers with, filled in once the schema is built.
    federation_sdl: Arc<OnceLock<String>>,
}

impl Authz {
    pub fn new() -> Self {
        Self::default()
    }

    /// Called by the service builder after the schema is built.
    pub fn set_federation_sdl(&self, sdl: String) {
        let _ = self.federation_sdl.set(sdl);
    }
}

impl ExtensionFactory for Authz {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuthzExtension {
            federation_sdl: self.federation_sdl.clone(),
            field_errors: Mutex::new(Vec::new()),
        })
    }
}

struct AuthzExtension {
    federation_sdl: Arc<OnceLock<String>>,
    /// Errors of nullable fields answered with null, added to the response at the end.
    field_errors: Mutex<Vec<ServerError>>,
}

#[async_trait::async_trait]
impl Extension for AuthzExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let mut field_errors = std::mem::take(&mut *self.field_errors.lock());
        if !field_errors.is_empty() {
            field_errors.append(&mut response.errors);
            response.errors = field_errors;
        }
        response
    }

    /// Subscription root fields never pass through `resolve`: their declared requirements are
    /// checked here, when the subscription starts, from the same registry entries.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let registry = &ctx.schema_env.registry;
        let Some(subscription_type) = registry.subscription_type.as_deref() else {
            return Ok(document);
        };
        let Some(ty) = registry.types.get(subscription_type) else {
            return Ok(document);
        };
        let anonymous = Identity::Anonymous;
        let identity = ctx.data_opt::<Identity>().unwrap_or(&anonymous);
        for (_, operation) in document.operations.iter() {
            if operation.node.ty != OperationType::Subscription {
                continue;
            }
            for item in &operation.node.selection_set.node.items {
                let Selection::Field(field) = &item.node else {
                    continue;
                };
                let name = field.node.name.node.as_str();
                let requirement = requirement_of(ty, name);
                let code = if requirement.authenticated && !identity.is_authenticated() {
                    Some(ErrorCode::Unauthenticated)
                } else if !satisfied(identity, &requirement.scopes) {
                    Some(ErrorCode::UnauthorizedFieldOrType)
                } else {
                    None
                };
                if let Some(code) = code {
                    let mut err = ServerError::new(
                        format!(
                            "not authorized to subscribe to `{subscription_type}.{name}`: it requires the scopes {}",
                            describe(&requirement.scopes)
                        ),
                        Some(field.pos),
                    );
                    err.path = vec![PathSegment::Field(name.to_owned())];
                    let mut ext = async_graphql::ErrorExtensionValues::default();
                    ext.set("code", code.as_str());
                    err.extensions = Some(ext);
                    return Err(err);
                }
            }
        }
        Ok(document)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Runs for every field: borrow the caller, never clone its claims.
        let anonymous = Identity::Anonymous;
        let identity = ctx.data_opt::<Identity>().unwrap_or(&anonymous);
        let registry = &ctx.schema_env.registry;

        if info.parent_type == registry.query_type
            && (info.name == "__schema" || info.name == "__type")
            && !identity.has_scope(SCHEMA_READ_SCOPE)
        {
            return Err(denial(
                &info,
                ErrorCode::Forbidden,
                format!(
                    "introspection is only open to callers with the `{SCHEMA_READ_SCOPE}` scope"
                ),
            ));
        }
        if info.parent_type == "_Service" && info.name == "sdl" {
            if let Some(sdl) = self.federation_sdl.get() {
                return Ok(Some(Value::String(sdl.clone())));
            }
        }
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }

        if let Some(ty) = registry.types.get(info.parent_type) {
            let requirement = requirement_of(ty, info.name);
            let denied = if requirement.authenticated && !identity.is_authenticated() {
                Some((
                    ErrorCode::Unauthenticated,
                    format!(
                        "`{}.{}` needs an authenticated caller",
                        info.parent_type, info.name
                    ),
                ))
            } else if !satisfied(identity, &requirement.scopes) {
                Some((
                    ErrorCode::UnauthorizedFieldOrType,
                    format!(
                        "not authorized to access `{}.{}`: it requires the scopes {}",
                        info.parent_type,
                        info.name,
                        describe(&requirement.scopes)
                    ),
                ))
            } else {
                None
            };
            if let Some((code, message)) = denied {
                let err = denial(&info, code, message);
                if info.return_type.ends_with('!') {
                    // A non-null field cannot be nulled: the error propagates to the parent.
                    return Err(err);
                }
                self.field_errors.lock().push(err);
                return Ok(Some(Value::Null));
            }
        }
        // GraphQL's rule for a failed field: a nullable one becomes null with its error, a
        // non-null one fails its parent. (async-graphql would drop the key instead.)
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Err(err) if nullable => {
                self.field_errors.lock().push(err);
                Ok(Some(Value::Null))
            }
            other => other,
        }
    }
}

fn describe(scopes: &[String]) -> String {
    scopes
        .iter()
        .map(|group| {
            format!(
                "[{}]",
                group.split_whitespace().collect::<Vec<_>>().join(" AND ")
            )
        })
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Directives every GraphQL server defines itself (the spec's built-ins). async-graphql prints
/// their definitions in the SDL it exports; a composed supergraph that keeps them makes a
/// router list `@include` and `@skip` twice in introspection (its own and the schema's), so the
/// federated SDL never carries them.
const BUILT_IN_DIRECTIVES: &[&str] = &["include", "skip", "deprecated", "specifiedBy", "oneOf"];

/// Directives async-graphql defines locally that federation provides (imported by `@link`).
const FEDERATION_DIRECTIVES: &[&str] = &["authenticated", "requiresScopes"];

/// The directive a `directive @name...` definition line defines.
fn defined_directive(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("directive @")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Removes the description written just above a definition that is dropped: a block
/// (`"""` ... `"""` on lines of their own) or a one-line `"""text"""`.
fn drop_trailing_description(out: &mut Vec<String>) {
    let Some(last) = out.last().map(|l| l.trim().to_owned()) else {
        return;
    };
    if last == "\"\"\"" {
        out.pop();
        while let Some(previous) = out.pop() {
            if previous.trim() == "\"\"\"" {
                break;
            }
        }
    } else if last.len() >= 6 && last.starts_with("\"\"\"") && last.ends_with("\"\"\"") {
        out.pop();
    }
}

/// Rewrites async-graphql's federation SDL: `@authenticated` and `@requiresScopes` are the
/// federation directives (v2.6) instead of locally defined ones, and the built-in directives
/// are not defined again (see [`BUILT_IN_DIRECTIVES`]); each dropped definition goes with its
/// description, so no description is left describing nothing.
pub fn patch_federation_sdl(sdl: &str) -> String {
    let mut out: Vec<String> = Vec::with_capacity(sdl.lines().count());
    for line in sdl.lines() {
        let trimmed = line.trim_start();
        if let Some(name) = defined_directive(line) {
            if FEDERATION_DIRECTIVES.contains(&name) || BUILT_IN_DIRECTIVES.contains(&name) {
                drop_trailing_description(&mut out);
                continue;
            }
        }
        if trimmed.starts_with("url: \"https://specs.apollo.dev/federation/v2.") {
            out.push("\turl: \"https://specs.apollo.dev/federation/v2.6\",".to_owned());
            continue;
        }
        if trimmed.starts_with("import: [\"@key\"") && !trimmed.contains("\"@authenticated\"") {
            out.push(line.replacen(
                "\"@requiresScopes\"",
                "\"@requiresScopes\", \"@authenticated\"",
                1,
            ));
            continue;
        }
        out.push(line.to_owned());
    }
    let mut patched = out.join("\n");
    patched.push('\n');
    patched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_link_and_drops_local_definition() {
        let sdl = "type A { a: Int }\n\"\"\"\nneeds a token\n\"\"\"\ndirective @authenticated on FIELD_DEFINITION | OBJECT\nextend schema @link(\n\turl: \"https://specs.apollo.dev/federation/v2.5\",\n\timport: [\"@key\", \"@requiresScopes\"]\n)\n";
        let patched = patch_federation_sdl(sdl);
        assert!(!patched.contains("directive @authenticated"));
        assert!(!patched.contains("needs a token"));
        assert!(patched.starts_with("type A { a: Int }\nextend schema"));
        assert!(patched.contains("federation/v2.6"));
        assert!(patched.contains("\"@requiresScopes\", \"@authenticated\""));
    }

    #[test]
    fn drops_the_built_in_directives_with_their_descriptions() {
        let sdl = "type A { a: Int }\n\"\"\"\nDirects the executor to include this field.\n\"\"\"\ndirective @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT\n\"\"\"Skips.\"\"\"\ndirective @skip(if: Boolean!) on FIELD\ndirective @specifiedBy(url: String!) on SCALAR\n\"\"\"\nMarks an element as deprecated.\n\"\"\"\ndirective @deprecated(reason: String = \"No longer supported\") on FIELD_DEFINITION\ndirective @oneOf on INPUT_OBJECT\n\"\"\"\nOurs.\n\"\"\"\ndirective @includeOwn on FIELD\nscalar Date @specifiedBy(url: \"https://www.rfc-editor.org/rfc/rfc3339\")\n";
        let patched = patch_federation_sdl(sdl);
        assert_eq!(
            patched,
            "type A { a: Int }\n\"\"\"\nOurs.\n\"\"\"\ndirective @includeOwn on FIELD\nscalar Date @specifiedBy(url: \"https://www.rfc-editor.org/rfc/rfc3339\")\n"
        );
    }
}
