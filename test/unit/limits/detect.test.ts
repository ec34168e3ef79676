import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import type { AlertRule } from '../../../proxy/config/types.js';
import { DetectionEngine, type DetectionEvent, type FiredAlert } from '../../../proxy/limits/detect.js';

const MIB = 1024 * 1024;
const MINUTE_MS = 60_000;

function alertRule(r: Partial<AlertRule> & Pick<AlertRule, 'name' | 'kind' | 'windowMs'>): AlertRule {
  return { over: null, atLeast: null, targets: [], severity: 'warning', quarantineMs: null, ...r };
}

const BULK_UPLOAD = alertRule({ name: 'bulk_upload', kind: 'upload_bytes', over: 50 * MIB, windowMs: 2 * MINUTE_MS, severity: 'critical' });
const CREDENTIAL_SPIKE = alertRule({ name: 'credential_spike', kind: 'requests_to', over: 3, windowMs: 5 * MINUTE_MS, targets: ['oauth2.googleapis.com/token'] });
const REPEATED_DLP = alertRule({ name: 'repeated_dlp', kind: 'dlp_blocks', atLeast: 5, windowMs: 10 * MINUTE_MS });
const ANY_ARCHIVE = alertRule({ name: 'archive', kind: 'archive_upload', atLeast: 1, windowMs: 10 * MINUTE_MS, severity: 'info' });
const ALL_RULES = [BULK_UPLOAD, CREDENTIAL_SPIKE, REPEATED_DLP, ANY_ARCHIVE];

const upload = (bytes: number, agent = 'a'): DetectionEvent => ({ agent, kind: 'upload', bytes, host: 'api.openai.com' });
const request = (host: string, path?: string, agent = 'a'): DetectionEvent => ({ agent, kind: 'request', host, ...(path === undefined ? {} : { path }) });
const dlpBlock = (agent = 'a'): DetectionEvent => ({ agent, kind: 'dlp_block', host: 'api.openai.com', path: '/v1/chat' });
const archive = (agent = 'a'): DetectionEvent => ({ agent, kind: 'archive', host: 'api.openai.com', path: '/v1/files' });
const TOKEN = 'oauth2.googleapis.com';

/** [ms since start, event] */
type Timeline = Array<[number, DetectionEvent]>;
const repeat = (times: number, everyMs: number, ev: DetectionEvent, startMs = 0): Timeline =>
  Array.from({ length: times }, (_, i) => [startMs + i * everyMs, ev]);

// [name, timeline, indices of the events that fire, with the rule and value]
const cases: Array<[string, Timeline, Array<[index: number, rule: string, value: number]>]> = [
  // bulk upload: > 50 MiB in 2 m
  ['bulk: exactly 50 MiB does not fire', [[0, upload(50 * MIB)]], []],
  ['bulk: 50 MiB + 1 byte fires', [[0, upload(50 * MIB + 1)]], [[0, 'bulk_upload', 50 * MIB + 1]]],
  ['bulk: the byte that crosses fires', [[0, upload(50 * MIB)], [1_000, upload(1)]], [[1, 'bulk_upload', 50 * MIB + 1]]],
  ['bulk: 1 MiB chunks fire on the 51st', repeat(51, 100, upload(MIB)), [[50, 'bulk_upload', 51 * MIB]]],
  ['bulk: fires once per crossing, not on every chunk above', repeat(60, 100, upload(MIB)), [[50, 'bulk_upload', 51 * MIB]]],
  ['bulk: 60 MiB spread over 3m20s does not fire', repeat(5, 50_000, upload(12 * MIB)), []],
  ['bulk: two halves just over 2 m (plus a bucket) apart do not fire', [[0, upload(26 * MIB)], [122_000, upload(26 * MIB)]], []],
  ['bulk: two halves inside 2 m fire', [[0, upload(26 * MIB)], [119_999, upload(26 * MIB)]], [[1, 'bulk_upload', 52 * MIB]]],
  ['bulk: re-fires after falling back below', [[0, upload(51 * MIB)], [10_000, upload(51 * MIB)], [300_000, upload(51 * MIB)]],
    [[0, 'bulk_upload', 51 * MIB], [2, 'bulk_upload', 51 * MIB]]],
  ['bulk: agents are counted apart', [[0, upload(30 * MIB, 'a')], [0, upload(30 * MIB, 'b')]], []],
  ['bulk: a zero-byte or malformed upload counts nothing', [[0, upload(50 * MIB)], [0, upload(0)], [0, upload(Number.NaN)], [0, upload(-1)]], []],
  // credential spike: > 3 requests in 5 m to oauth2.googleapis.com/token
  ['spike: 4 requests to the token path fire on the 4th', repeat(4, 1_000, request(TOKEN, '/token')), [[3, 'credential_spike', 4]]],
  ['spike: 3 requests do not fire', repeat(3, 1_000, request(TOKEN, '/token')), []],
  ['spike: a longer name is not the path (/tokeninfo)', repeat(4, 0, request(TOKEN, '/tokeninfo')), []],
  ['spike: other paths on the host do not count',
    [[0, request(TOKEN, '/tokeninfo')], [0, request(TOKEN, '/')], [0, request(TOKEN, '/revoke')], [0, request(TOKEN, '/v1/token')], [0, request(TOKEN, '/tokeninfo')]], []],
  ['spike: query strings, sub-paths, case of the host and %-encoding still count',
    [[0, request(TOKEN, '/token?grant_type=x')], [0, request(TOKEN.toUpperCase(), '/token')], [0, request(`${TOKEN}.`, '/token/')], [0, request(TOKEN, '/%74oken')]],
    [[3, 'credential_spike', 4]]],
  ['spike: other hosts do not count', repeat(5, 0, request('accounts.google.com', '/token')), []],
  ['spike: a tunnel (no path) cannot count against a path rule', repeat(5, 0, request(TOKEN)), []],
  ['spike: uploads to the path are not requests', repeat(5, 0, { agent: 'a', kind: 'upload', bytes: 10, host: TOKEN, path: '/token' }), []],
  ['spike: 4 requests spread over more than 5 m do not fire', repeat(4, 110_000, request(TOKEN, '/token')), []],
  // repeated DLP blocks: >= 5 in 10 m
  ['dlp: 5 blocks fire on the 5th', repeat(5, 60_000, dlpBlock()), [[4, 'repeated_dlp', 5]]],
  ['dlp: 4 blocks do not fire', repeat(4, 60_000, dlpBlock()), []],
  ['dlp: 5 blocks over 12 m do not fire', repeat(5, 3 * MINUTE_MS, dlpBlock()), []],
  // archive: any
  ['archive: the first archive fires', [[0, archive()]], [[0, 'archive', 1]]],
  ['archive: a second one in the window does not fire again', [[0, archive()], [1_000, archive()]], [[0, 'archive', 1]]],
  ['archive: fires again once the window has passed', [[0, archive()], [11 * MINUTE_MS, archive()]], [[0, 'archive', 1], [1, 'archive', 1]]],
];

for (const [name, timeline, expected] of cases) {
  test(`detect: ${name}`, () => {
    let nowMs = 0;
    const engine = new DetectionEngine(ALL_RULES, { now: () => nowMs });
    const fired: Array<[number, string, number]> = [];
    timeline.forEach(([atMs, ev], i) => {
      nowMs = atMs;
      for (const alert of engine.observe(ev)) fired.push([i, alert.rule, alert.value]);
    });
    assert.deepEqual(fired, expected);
  });
}

test('detect: a fired alert carries what the audit record needs', () => {
  const nowMs = 5_000;
  const engine = new DetectionEngine([BULK_UPLOAD], { now: () => nowMs });
  const expected: FiredAlert = {
    rule: 'bulk_upload', severity: 'critical', agent: 'agent-7', value: 50 * MIB + 1, threshold: 50 * MIB,
    windowMs: 120_000, quarantineUntilMs: null,
  };
  assert.deepEqual(engine.observe(upload(50 * MIB + 1, 'agent-7')), [expected]);
  assert.equal(engine.isQuarantined('agent-7'), null, 'alert-only rule does not quarantine');
});

test('detect: quarantine starts, holds, and expires by the clock', () => {
  let nowMs = 0;
  const rule = { ...REPEATED_DLP, quarantineMs: 10 * MINUTE_MS };
  const engine = new DetectionEngine([rule], { now: () => nowMs });
  const steps: Array<[atMs: number, event: DetectionEvent | null, quarantinedUntil: number | null]> = [
    [0, dlpBlock(), null],
    [1_000, dlpBlock(), null],
    [2_000, dlpBlock(), null],
    [3_000, dlpBlock(), null],
    [4_000, dlpBlock(), 604_000],             // fires: 10 m from now
    [300_000, null, 604_000],
    [603_999, null, 604_000],
    [604_000, null, null],                   // `untilMs` is exclusive
    [604_000, dlpBlock('b'), null],           // other agents are unaffected
  ];
  for (const [atMs, event, until] of steps) {
    nowMs = atMs;
    if (event) {
      const fired = engine.observe(event);
      if (until !== null && fired.length > 0) assert.equal(fired[0]!.quarantineUntilMs, until);
    }
    const q = engine.isQuarantined('a');
    assert.deepEqual(q, until === null ? null : { untilMs: until, rule: 'repeated_dlp' }, `at ${atMs}`);
  }
});

test('detect: a later firing extends a quarantine, never shortens it', () => {
  let nowMs = 0;
  const long = { ...ANY_ARCHIVE, name: 'archive_long', quarantineMs: 60 * MINUTE_MS };
  const short = { ...BULK_UPLOAD, quarantineMs: 1 * MINUTE_MS };
  const engine = new DetectionEngine([long, short], { now: () => nowMs });
  assert.equal(engine.observe(archive())[0]?.quarantineUntilMs, 3_600_000);
  nowMs = 1_000;
  assert.equal(engine.observe(upload(51 * MIB))[0]?.quarantineUntilMs, 3_600_000);
  assert.deepEqual(engine.isQuarantined('a'), { untilMs: 3_600_000, rule: 'archive_long' });
});

test('detect: lift and liftAll (SIGHUP / reload)', () => {
  const nowMs = 0;
  const rule = { ...ANY_ARCHIVE, quarantineMs: 10 * MINUTE_MS };
  const engine = new DetectionEngine([rule], { now: () => nowMs });
  for (const agent of ['a', 'b', 'c']) engine.observe(archive(agent));
  assert.equal(engine.lift('a'), true);
  assert.equal(engine.lift('a'), false);
  assert.equal(engine.isQuarantined('a'), null);
  assert.notEqual(engine.isQuarantined('b'), null);
  engine.liftAll();
  assert.equal(engine.isQuarantined('b'), null);
  assert.equal(engine.isQuarantined('c'), null);
  assert.deepEqual(engine.observe(archive('b')), [], 'still inside the window: no new crossing, no new quarantine');
});

test('detect: state stays within maxAgents, and flooding it does not lift a quarantine', () => {
  const nowMs = 0;
  const rule = { ...ANY_ARCHIVE, quarantineMs: 10 * MINUTE_MS };
  const engine = new DetectionEngine([rule, BULK_UPLOAD], { maxAgents: 100, now: () => nowMs });
  engine.observe(archive('victim'));
  for (let i = 0; i < 10_000; i++) engine.observe(upload(1, `ip:10.0.${i >> 8}.${i & 255}`));
  assert.ok(engine.trackedAgents <= 100, `${engine.trackedAgents}`);
  assert.notEqual(engine.isQuarantined('victim'), null);
});

test('detect: a rule that can never fire is refused at construction', () => {
  assert.throws(() => new DetectionEngine([alertRule({ name: 'dead', kind: 'dlp_blocks', windowMs: 1_000 })]), /dead/);
});

test('detect: both over and atLeast set, either trips', () => {
  let nowMs = 0;
  const rule = alertRule({ name: 'both', kind: 'dlp_blocks', over: 10, atLeast: 2, windowMs: MINUTE_MS });
  const engine = new DetectionEngine([rule], { now: () => nowMs });
  assert.deepEqual(engine.observe(dlpBlock()), []);
  nowMs = 1;
  assert.equal(engine.observe(dlpBlock()).length, 1);
});
