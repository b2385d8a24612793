import { defineConfig } from 'vitest/config';

// the SDK's Node 20 notice, printed by the main process when global setup talks to DynamoDB Local
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    include: ['functions/**/*.test.ts', 'shared/**/*.test.ts', 'infra/**/*.test.ts', 'scripts/**/*.test.ts'],
    // One DynamoDB Local (in memory) for the whole run; every test file creates its own table.
    globalSetup: ['shared/testing/globalSetup.ts'],
    // metrics are read when shared/runtime.ts is imported, before a harness sets its environment
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', POWERTOOLS_LOG_LEVEL: 'SILENT', POWERTOOLS_METRICS_DISABLED: 'true' },
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
