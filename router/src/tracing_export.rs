//! OpenTelemetry trace export of the router, from the same standard variables as the subgraphs
//! (`erp_kit::config::TraceExport`): `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, and `OTEL_BSP_SCHEDULE_DELAY` (milliseconds).
//!
//! When one is set, an OTLP/HTTP (protobuf) exporter is added to `telemetry.tracing.exporters`
//! of the loaded configuration, so operators set one variable for the whole supergraph instead
//! of editing the file; exporters written in the file are kept. hive-router then sends each
//! subgraph request with a W3C `traceparent` (`telemetry.tracing.propagation.trace_context`,
//! on by default), which the subgraphs continue ([`erp_kit`]'s HTTP layer). Sampling stays
//! hive-router's (`telemetry.tracing.collect.sampling`, `TELEMETRY_TRACING_SAMPLING_RATE`).

use hive_router::config::telemetry::tracing::TracingExporterConfig;
use hive_router::config::HiveRouterConfig;

/// The OTLP traces URL named by the environment, if any.
pub fn endpoint_from(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .map(|url| url.trim().to_owned())
        .or_else(|| {
            get("OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|base| format!("{}/v1/traces", base.trim().trim_end_matches('/')))
        })
}

/// Adds the exporter the environment asks for to `config`; `Ok(None)` when it asks for none.
pub fn apply(
    config: &mut HiveRouterConfig,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, String> {
    let Some(endpoint) = endpoint_from(&lookup) else {
        return Ok(None);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `{endpoint}` is not an http(s) URL"
        ));
    }
    let mut batch = serde_json::Map::new();
    if let Some(raw) = lookup("OTEL_BSP_SCHEDULE_DELAY").filter(|v| !v.trim().is_empty()) {
        let millis: u64 = raw.trim().parse().map_err(|_| {
            format!("OTEL_BSP_SCHEDULE_DELAY: `{raw}` is not a number of milliseconds")
        })?;
        batch.insert("scheduled_delay".into(), format!("{millis}ms").into());
    }
    // hive-router's exporter types are non-exhaustive: built through their serde form, the
    // same as a block in the configuration file.
    let exporter: TracingExporterConfig = serde_json::from_value(serde_json::json!({
        "kind": "otlp",
        "protocol": "http",
        "endpoint": endpoint,
        "batch_processor": batch,
    }))
    .map_err(|e| format!("OTLP exporter: {e}"))?;
    config.telemetry.tracing.exporters.push(exporter);
    Ok(Some(endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    #[test]
    fn the_standard_variables_name_the_endpoint() {
        assert_eq!(endpoint_from(lookup(&[])), None);
        assert_eq!(
            endpoint_from(lookup(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")])).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        assert_eq!(
            endpoint_from(lookup(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://o.example/t"),
            ]))
            .as_deref(),
            Some("https://o.example/t")
        );
    }

    #[test]
    fn an_exporter_is_added_only_when_asked_for() {
        let mut config = HiveRouterConfig::default();
        assert_eq!(apply(&mut config, lookup(&[])), Ok(None));
        assert!(config.telemetry.tracing.exporters.is_empty());
        assert!(!config.telemetry.tracing.is_enabled());

        let added = apply(
            &mut config,
            lookup(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
                ("OTEL_BSP_SCHEDULE_DELAY", "200"),
            ]),
        );
        assert_eq!(
            added,
            Ok(Some("http://127.0.0.1:4318/v1/traces".to_owned()))
        );
        assert!(config.telemetry.tracing.is_enabled());
        match &config.telemetry.tracing.exporters[..] {
            [TracingExporterConfig::Otlp(otlp)] => {
                assert!(otlp.enabled);
                assert_eq!(
                    otlp.batch_processor.scheduled_delay,
                    std::time::Duration::from_millis(200)
                );
            }
            other => panic!("{other:?}"),
        }

        let mut config = HiveRouterConfig::default();
        for vars in [
            &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4318")][..],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_BSP_SCHEDULE_DELAY", "soon"),
            ][..],
        ] {
            assert!(apply(&mut config, lookup(vars)).is_err(), "{vars:?}");
        }
        assert!(config.telemetry.tracing.exporters.is_empty());
    }
}
