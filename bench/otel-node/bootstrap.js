'use strict';
// The agent-based peer of bench/chain.sh: OpenTelemetry JS auto-instrumentation
// of an unmodified node service, the way a user adds it:
//
//   node --require /path/to/bench/otel-node/bootstrap.js service.js ...
//
// It starts the NodeSDK with every default auto-instrumentation (http among
// them: a SERVER span per request served, a CLIENT span per request made, W3C
// traceparent injected and extracted) and the OTLP/HTTP protobuf exporter
// behind the SDK's default batch span processor. Configuration is the
// standard OpenTelemetry environment:
//   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT  where to send (bench/chain.sh: the
//                                       local tests/otlp/receiver.js)
//   OTEL_SERVICE_NAME                   the service's name
// Traces only: OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER default to
// "none" here (the SDK's own default, "otlp", would also send metrics and
// logs), and resource detection to the SDK's default local detectors (env,
// process, host) unless OTEL_NODE_RESOURCE_DETECTORS says otherwise.
// SIGINT flushes what is queued (sdk.shutdown()), then exits 0; SIGTERM is
// left to the service. Packages: `npm ci` in this directory (versions pinned
// by package-lock.json).
process.env.OTEL_METRICS_EXPORTER = process.env.OTEL_METRICS_EXPORTER || 'none';
process.env.OTEL_LOGS_EXPORTER = process.env.OTEL_LOGS_EXPORTER || 'none';

const { NodeSDK } = require('@opentelemetry/sdk-node');
const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

const sdk = new NodeSDK({
  traceExporter: new OTLPTraceExporter(),
  instrumentations: [getNodeAutoInstrumentations()],
});
sdk.start();

process.on('SIGINT', () => {
  const bound = setTimeout(() => process.exit(1), 10000);
  sdk.shutdown()
    .then(() => process.exit(0), (e) => {
      console.error(`otel bootstrap: shutdown failed: ${e && e.message}`);
      process.exit(1);
    })
    .finally(() => clearTimeout(bound));
});
