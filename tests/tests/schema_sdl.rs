//! The checked-in SDL under schema/ must be what the code exports; the scope declarations must
//! appear in it as federation directives.
//!
//! After an intended schema change: `UPDATE_SCHEMA=1 cargo test -p erp-tests --test schema_sdl`.

use std::path::PathBuf;

fn checked_in(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schema")
        .join(name)
}

fn compare(name: &str, exported: String) {
    let path = checked_in(name);
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &exported).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == exported,
        "{} differs from the code's SDL; run `UPDATE_SCHEMA=1 cargo test -p erp-tests --test schema_sdl` and review the diff",
        path.display()
    );
}

#[test]
fn employee_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_employee::sdl();
    assert!(sdl.contains("url: \"https://specs.apollo.dev/federation/v2.6\""));
    assert!(sdl.contains("\"@requiresScopes\", \"@authenticated\""));
    // The private fields take the type's `employee:read` (self, managers and HR hold it; the
    // subgraph's row rules decide per record); compensation stays HR-only.
    assert!(sdl.contains("\tpersonalEmail: String\n"), "{sdl}");
    assert!(
        sdl.contains("compensation: Compensation @requiresScopes(scopes: [[\"hr:admin\"]])"),
        "{sdl}"
    );
    assert!(
        sdl.contains(
            "type Employee @key(fields: \"id\") @requiresScopes(scopes: [[\"employee:read\"]])"
        ),
        "{sdl}"
    );
    assert!(sdl.contains("@authenticated"), "{sdl}");
    assert!(!sdl.contains("directive @authenticated"));
    compare("employee.graphql", sdl);
}

#[test]
fn identity_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_identity::sdl();
    assert!(sdl.contains("type User @key(fields: \"id\")"), "{sdl}");
    assert!(
        sdl.contains("scopes: [Scope!] @requiresScopes(scopes: [[\"identity:admin\"]])"),
        "{sdl}"
    );
    assert!(sdl.contains("me: User @authenticated"), "{sdl}");
    compare("identity.graphql", sdl);
}

#[test]
fn pmo_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_pmo::sdl();
    assert!(
        sdl.contains("type Employee @key(fields: \"id\", resolvable: false)"),
        "{sdl}"
    );
    assert!(
        sdl.contains("budget: MoneyAmount @requiresScopes(scopes: [[\"project:write\"], [\"timesheet:approve\"]])"),
        "{sdl}"
    );
    assert!(sdl.contains("type Task @key(fields: \"id\")"), "{sdl}");
    compare("pmo.graphql", sdl);
}

#[test]
fn finance_sdl_is_checked_in_and_carries_the_directives() {
    let sdl = erp_finance::sdl();
    assert!(sdl.contains("type Project @key(fields: \"id\")"), "{sdl}");
    assert!(sdl.contains("type Employee @key(fields: \"id\")"), "{sdl}");
    assert!(
        sdl.contains("type JournalEntry @requiresScopes(scopes: [[\"finance:read\"]])"),
        "{sdl}"
    );
    assert!(
        sdl.contains("postJournalEntry(input: PostJournalEntryInput!): PostJournalEntryPayload @requiresScopes(scopes: [[\"finance:write\"]])"),
        "{sdl}"
    );
    assert!(sdl.contains("scalar Date\n"), "{sdl}");
    // No floating point anywhere in finance's schema.
    assert!(!sdl.contains("Float"), "{sdl}");
    compare("finance.graphql", sdl);
}
