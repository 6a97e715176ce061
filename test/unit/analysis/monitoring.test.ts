import {
  liveObservations,
  observationsFromMonitoring,
  requestTotal,
} from '../../../functions/domain/analysis/monitoring';
import { judge } from '../../../functions/domain/analysis/judge';
import { SETTINGS } from './helpers';

const series = (cls: string, points: unknown[]) => ({
  metric: { labels: { response_code_class: cls } },
  resource: { labels: { revision_name: 'api-00002' } },
  points,
});
const dist = {
  count: '3',
  bucketOptions: { exponentialBuckets: { numFiniteBuckets: 10, growthFactor: 2, scale: 1 } },
  bucketCounts: ['0', '1', '2'],
};

describe('observationsFromMonitoring', () => {
  test('REST JSON: int64 strings, RFC 3339, newest first → oldest first, summed per period', () => {
    const obs = observationsFromMonitoring({
      requestCount: {
        timeSeries: [
          series('2xx', [
            {
              interval: { startTime: '2026-01-01T00:01:00Z', endTime: '2026-01-01T00:02:00Z' },
              value: { int64Value: '7' },
            },
            {
              interval: { startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T00:01:00Z' },
              value: { int64Value: '5' },
            },
          ]),
          series('4xx', [
            {
              interval: { startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T00:01:00Z' },
              value: { int64Value: '2' },
            },
          ]),
        ],
      },
      requestLatencies: {
        timeSeries: [
          {
            points: [
              {
                interval: { startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T00:01:00Z' },
                value: { distributionValue: dist },
              },
            ],
          },
          {
            points: [
              {
                interval: { startTime: '2026-01-01T00:00:00Z', endTime: '2026-01-01T00:01:00Z' },
                value: { distributionValue: dist },
              },
            ],
          },
        ],
      },
    });
    expect(obs.revision).toBe('api-00002');
    expect(obs.intervals).toEqual([
      {
        startTime: '2026-01-01T00:00:00.000Z',
        endTime: '2026-01-01T00:01:00.000Z',
        requests: { '2xx': 5, '4xx': 2 },
        latency: { count: 6, bucketOptions: dist.bucketOptions, bucketCounts: [0, 2, 4] },
      },
      { startTime: '2026-01-01T00:01:00.000Z', endTime: '2026-01-01T00:02:00.000Z', requests: { '2xx': 7 } },
    ]);
  });

  test('gRPC/proto-JS: Long and number int64, {seconds, nanos} timestamps, null oneof members', () => {
    const obs = observationsFromMonitoring({
      requestCount: [
        series('5xx', [
          {
            interval: {
              startTime: { seconds: '1767225600', nanos: 0 },
              endTime: { seconds: { low: 1767225660, high: 0 }, nanos: 0 },
            },
            value: { int64Value: { low: 3, high: 0 }, value: 'int64Value' },
          },
        ]),
      ],
      requestLatencies: [
        {
          points: [
            {
              interval: { startTime: { seconds: 1767225600 }, endTime: { seconds: 1767225660 } },
              value: {
                distributionValue: {
                  count: 3,
                  bucketOptions: { linearBuckets: null, explicitBuckets: { bounds: [10, 20] } },
                  bucketCounts: [0, 3],
                },
              },
            },
          ],
        },
      ],
    });
    expect(obs.intervals).toEqual([
      {
        startTime: '2026-01-01T00:00:00.000Z',
        endTime: '2026-01-01T00:01:00.000Z',
        requests: { '5xx': 3 },
        latency: { count: 3, bucketOptions: { explicitBuckets: { bounds: [10, 20] } }, bucketCounts: [0, 3] },
      },
    ]);
  });

  test.each([
    [
      { requestCount: 'nope' },
      'metrics.requestCount: expected a ListTimeSeries response {timeSeries: [...]} or an array of TimeSeries, got "nope"',
    ],
    [
      {
        requestCount: {
          timeSeries: [series('2xx', [{ interval: { endTime: 'yesterday' }, value: { int64Value: '1' } }])],
        },
      },
      'metrics.requestCount.timeSeries[0].points[0].interval.endTime: expected an RFC 3339 timestamp or {seconds, nanos}, got "yesterday"',
    ],
    [
      {
        requestCount: {
          timeSeries: [
            series('2xx', [{ interval: { endTime: '2026-01-01T00:00:00Z' }, value: { int64Value: -1 } }]),
          ],
        },
      },
      'metrics.requestCount.timeSeries[0].points[0].value.int64Value: expected a non-negative int64 (string, number or Long), got -1',
    ],
    [
      { requestCount: { timeSeries: [{ points: [] }] } },
      'metrics.requestCount.timeSeries[0].metric.labels.response_code_class: expected one of 1xx, 2xx, 3xx, 4xx, 5xx (group by response_code_class), got nothing',
    ],
    [
      {
        requestCount: [],
        requestLatencies: [
          {
            points: [
              {
                interval: { endTime: '2026-01-01T00:00:00Z' },
                value: { distributionValue: { ...dist, bucketCounts: ['1'] } },
              },
            ],
          },
        ],
      },
      'metrics.requestLatencies.timeSeries[0].points[0].value.distributionValue.bucketCounts: expected counts summing to count 3, got 1',
    ],
    [
      {
        requestCount: [],
        requestLatencies: [
          {
            points: [
              {
                interval: { endTime: '2026-01-01T00:00:00Z' },
                value: { distributionValue: { ...dist, bucketOptions: {} } },
              },
            ],
          },
        ],
      },
      'metrics.requestLatencies.timeSeries[0].points[0].value.distributionValue.bucketOptions: expected one of exponentialBuckets, linearBuckets, explicitBuckets, got {}',
    ],
  ])('malformed input names the field, value and expectation (%#)', (input, message) => {
    expect(() => observationsFromMonitoring(input)).toThrow(message);
  });
});

/**
 * Live verdicts read Monitoring with the same strict parser (the adapter calls liveObservations).
 * The previous lenient reader turned `int64Value: 'n/a'` into NaN and a missing count into 0.
 */
describe('liveObservations (the live verdicts’ reading)', () => {
  /** The Node client's shape: Long-like int64, {seconds, nanos} timestamps, unset oneof members null. */
  const protoPoint = (minute: number, value: Record<string, unknown>) => ({
    interval: {
      startTime: { seconds: { low: 1767225600 + minute * 60, high: 0 }, nanos: 0 },
      endTime: { seconds: String(1767225600 + (minute + 1) * 60), nanos: 0 },
    },
    value: { boolValue: null, doubleValue: null, distributionValue: null, ...value },
  });
  const healthyStable = liveObservations('api-stable', {
    requestCount: [series('2xx', [protoPoint(0, { int64Value: '2000' })])],
  });

  it('reads the Node client’s proto shapes', () => {
    expect(
      liveObservations('api-00002', {
        requestCount: [
          series('2xx', [protoPoint(0, { int64Value: { low: 400, high: 0 } })]),
          series('5xx', [protoPoint(0, { int64Value: 3 })]),
        ],
        requestLatencies: [{ points: [protoPoint(0, { distributionValue: dist })] }],
      }),
    ).toEqual({
      revision: 'api-00002',
      intervals: [
        {
          startTime: '2026-01-01T00:00:00.000Z',
          endTime: '2026-01-01T00:01:00.000Z',
          requests: { '2xx': 400, '5xx': 3 },
          latency: { count: 3, bucketOptions: dist.bucketOptions, bucketCounts: [0, 1, 2] },
        },
      ],
    });
  });

  it.each([
    [
      'a count that is not a number',
      { int64Value: 'n/a' },
      'answer.requestCount.timeSeries[0].points[0].value.int64Value: expected a non-negative int64 (string, number or Long), got "n/a"',
    ],
    [
      'a point without its count (a double: the wrong aligner)',
      { doubleValue: 12.5 },
      'answer.requestCount.timeSeries[0].points[0].value.int64Value: expected a non-negative int64 (string, number or Long), got nothing',
    ],
  ])('%s makes the look INCONCLUSIVE with the field named, never NaN', (_, value, field) => {
    const canary = liveObservations('api-00002', { requestCount: [series('5xx', [protoPoint(0, value)])] });
    expect(canary).toEqual({
      revision: 'api-00002',
      intervals: [],
      incomplete: [`not judged: invalid answer: ${field}`],
    });
    const judgement = judge({ canary, stable: healthyStable, settings: SETTINGS, elapsedSeconds: 600 });
    expect(judgement.verdict).toBe('INCONCLUSIVE');
    expect(judgement.reasons.join('; ')).toContain(field);
    expect(JSON.stringify(judgement.figures)).not.toMatch(/NaN|null/);
  });

  it('keeps what the reads already knew was incomplete, with or without a malformed field', () => {
    const read = liveObservations('api-00002', { requestCount: [] }, ['request_count: more than 20 pages']);
    expect(read).toEqual({
      revision: 'api-00002',
      intervals: [],
      incomplete: ['request_count: more than 20 pages'],
    });
  });
});

describe('requestTotal (the start message’s traffic check)', () => {
  const point = (int64Value: unknown, start = 1767225600) => ({
    interval: {
      startTime: { seconds: String(start), nanos: 0 },
      endTime: { seconds: String(start + 60), nanos: 0 },
    },
    value: { int64Value },
  });
  it('sums every point of every series, and says when the first counted requests were served', () => {
    expect(
      requestTotal([
        { points: [point('40'), point(2, 1767225540), point('0', 1767225480)] },
        { points: [point({ low: 8, high: 0 })] },
      ]),
    ).toEqual({ requests: 50, firstServed: new Date(1767225540_000).toISOString() });
    expect(requestTotal([])).toEqual({ requests: 0 });
  });
  it('throws naming a malformed count instead of counting NaN', () => {
    expect(() => requestTotal([{ points: [point('40'), point('lots')] }])).toThrow(
      'invalid answer: answer.requestCount.timeSeries[0].points[1].value.int64Value: expected a non-negative int64 (string, number or Long), got "lots"',
    );
  });
});
