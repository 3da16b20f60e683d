//! The finance subgraph: a double-entry general ledger (chart of accounts, journals, fiscal
//! years and lock dates, gapless numbering, an optional hash chain), customer invoices and
//! payments, vendor bills, expenses and cash flow.

pub mod domain;
