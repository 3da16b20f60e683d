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

/// Every `extensions.code` and `reason` the API can return, as published in schema/errors.json
/// (and docs/errors.md, generated from it): a reason added in code without being published fails
/// here, and so does one published but gone from the code.
#[test]
fn the_error_catalogue_is_checked_in() {
    let domains: &[(&str, &[erp_kit::Reason])] = &[
        ("identity", erp_identity::reasons::ALL),
        ("employee", erp_employee::reasons::ALL),
        ("pmo", erp_pmo::reasons::ALL),
    ];
    // One name, one code: the same reason in two domains means the same rule.
    let mut codes_by_name = std::collections::HashMap::new();
    for (domain, reasons) in domains {
        let mut seen = std::collections::HashSet::new();
        for reason in reasons.iter() {
            assert!(
                seen.insert(reason.name()),
                "{domain} declares {} twice",
                reason.name()
            );
            assert!(
                !reason.description().trim().is_empty(),
                "{domain}'s {} has no description",
                reason.name()
            );
            let code = *codes_by_name.entry(reason.name()).or_insert(reason.code());
            assert_eq!(
                code,
                reason.code(),
                "{} means two codes ({} in {domain})",
                reason.name(),
                reason.code().as_str()
            );
        }
    }
    let catalogue = erp_kit::error::catalogue(domains);
    let json = serde_json::to_string_pretty(&catalogue).unwrap() + "\n";
    compare("errors.json", json);
    compare("../docs/errors.md", errors_markdown(&catalogue));
}

/// docs/errors.md: the catalogue for people.
fn errors_markdown(catalogue: &serde_json::Value) -> String {
    let mut out = String::from(
        "# Error codes and reasons\n\n\
         Generated from the code by tests/tests/schema_sdl.rs (`UPDATE_SCHEMA=1`); the same list,\n\
         machine-readable, is schema/errors.json. Every GraphQL error carries `extensions.code`;\n\
         a broken domain rule also carries `extensions.reason`. Branch on `code` first, then on\n\
         `reason`. Codes and reasons are never renamed: new ones are added.\n\n\
         ## Codes\n\n| code | meaning |\n|---|---|\n",
    );
    let rows = |key: &str| catalogue[key].as_array().cloned().unwrap_or_default();
    for code in rows("codes") {
        out += &format!(
            "| `{}` | {} |\n",
            code["code"].as_str().unwrap(),
            code["description"].as_str().unwrap()
        );
    }
    out += "\n## Codes answered before an operation executes\n\n| code | meaning |\n|---|---|\n";
    for code in rows("transportCodes") {
        out += &format!(
            "| `{}` | {} |\n",
            code["code"].as_str().unwrap(),
            code["description"].as_str().unwrap()
        );
    }
    out += "\n## Reasons\n\n| domain | reason | code | meaning |\n|---|---|---|---|\n";
    for reason in rows("reasons") {
        out += &format!(
            "| {} | `{}` | `{}` | {} |\n",
            reason["domain"].as_str().unwrap(),
            reason["reason"].as_str().unwrap(),
            reason["code"].as_str().unwrap(),
            reason["description"].as_str().unwrap().replace('\n', " ")
        );
    }
    out
}
