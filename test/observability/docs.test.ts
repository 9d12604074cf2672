import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { INSTANCE_FAMILIES } from '../../src/observability/instance-metrics.js';
import { CLIENT_ABORTED_CODE, SHARED_FAMILIES, UNMATCHED_ROUTE_LABEL } from '../../src/observability/shared-metrics.js';
import { DURATION_BUCKETS, METRIC_CLASSES, METRIC_METHODS } from '../../src/shm/metrics-layout.js';

const docsFile = new URL('../../docs/observability.md', import.meta.url);

describe('docs/observability.md', () => {
  it('docs_listEveryMetricFamily', async () => {
    const docs = await readFile(docsFile, 'utf8');
    const missing = [...Object.values(SHARED_FAMILIES), ...Object.values(INSTANCE_FAMILIES)].filter((f) => !docs.includes(`| \`${f}\` |`));
    expect(missing).toEqual([]);
  });

  it('docs_stateEveryLabelValueAndBucket', async () => {
    const docs = await readFile(docsFile, 'utf8');
    for (const v of [...METRIC_METHODS, ...METRIC_CLASSES, CLIENT_ABORTED_CODE, UNMATCHED_ROUTE_LABEL]) expect(docs).toContain(`\`${v}\``);
    for (const b of DURATION_BUCKETS) expect(docs).toContain(`\`${b}\``);
  });

  it('docs_describeEveryTracingVariableTheCodeReads', async () => {
    const docs = await readFile(docsFile, 'utf8');
    const source = await readFile(new URL('../../src/observability/tracing.ts', import.meta.url), 'utf8');
    const read = new Set(source.match(/OTEL_[A-Z_]+(?=\b)/g));
    const missing = [...read].filter((v) => !docs.includes(v));
    expect(missing).toEqual([]);
  });
});
