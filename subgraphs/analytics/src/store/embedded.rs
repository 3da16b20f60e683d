//! The embedded engine (DataFusion); see erp-analytics-embedded.
