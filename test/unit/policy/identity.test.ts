import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import type { CompiledAgent } from '../../../proxy/config/types.js';
import { parseCidr } from '../../../proxy/policy/address.js';
import { agentForSource, authenticate, parseProxyAuthorization, type AuthMode, type AuthResult } from '../../../proxy/policy/identity.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const basic = (id: string, token: string): string => `Basic ${b64(`${id}:${token}`)}`;
const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

test('parseProxyAuthorization', () => {
  const cases: Array<[name: string, header: string | undefined, expected: { id: string; token: string } | null]> = [
    ['missing', undefined, null],
    ['empty', '', null],
    ['not Basic', `Bearer ${b64('a:b')}`, null],
    ['Digest', 'Digest username="a"', null],
    ['scheme only', 'Basic', null],
    ['scheme and space only', 'Basic ', null],
    ['bad base64 characters', 'Basic !!!!', null],
    ['impossible base64 length', 'Basic YWJjZ', null],
    ['two credentials', `Basic ${b64('a:b')} ${b64('c:d')}`, null],
    ['no colon', `Basic ${b64('agenttoken')}`, null],
    ['empty id', `Basic ${b64(':token')}`, null],
    ['empty token', `Basic ${b64('agent:')}`, null],
    ['only a colon', `Basic ${b64(':')}`, null],
    ['not UTF-8', `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, null],
    ['too long', `Basic ${b64(`a:${'x'.repeat(5000)}`)}`, null],
    ['simple', basic('agent-1', 's3cret'), { id: 'agent-1', token: 's3cret' }],
    ['split at the first colon', basic('agent-1', 'tok:with:colons'), { id: 'agent-1', token: 'tok:with:colons' }],
    ['scheme is case-insensitive', `bAsIc ${b64('a:b')}`, { id: 'a', token: 'b' }],
    ['surrounding and inner whitespace', `  Basic   ${b64('a:b')}  `, { id: 'a', token: 'b' }],
    ['unpadded base64', `Basic ${b64('ab:c').replace(/=+$/, '')}`, { id: 'ab', token: 'c' }],
    ['unicode id and token', basic('agënt-ü', 'tökén-🔑'), { id: 'agënt-ü', token: 'tökén-🔑' }],
  ];
  for (const [name, header, expected] of cases) assert.deepEqual(parseProxyAuthorization(header), expected, name);
});

test('parseProxyAuthorization never throws on junk', () => {
  let seed = 7;
  const rand = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 2_000; i++) {
    const bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    const header = rand() < 0.5 ? `Basic ${bytes.toString('base64').slice(0, Math.floor(rand() * 60))}` : bytes.toString('latin1');
    assert.doesNotThrow(() => parseProxyAuthorization(header));
  }
});

const agent = (id: string, token: string, profile: string, sources: string[] = []): CompiledAgent =>
  ({ id, tokenSha256: sha256(token), profile, sources: sources.map(parseCidr) });

const AGENTS: readonly CompiledAgent[] = Object.freeze([
  agent('laptop', 'tok-laptop', 'dev'),
  agent('sidecar-net', 'tok-net', 'sidecar', ['10.0.0.0/24']),
  agent('sidecar-one', 'tok-one', 'strict', ['10.0.0.5/32', 'fd00::/64']),
  { id: 'broken', tokenSha256: Buffer.from('short'), profile: 'dev', sources: [] }, // malformed digest
]);

const ok = (id: string | null, profile: string): { ok: true; agentId: string | null; profile: string } => ({ ok: true, agentId: id, profile });
const refused = (detail: 'missing' | 'invalid'): AuthResult => ({ ok: false, code: 'auth_required', detail });
const summarise = (r: AuthResult): unknown => (r.ok ? { ok: true, agentId: r.agent?.id ?? null, profile: r.profile } : r);

test('authenticate', () => {
  const cases: Array<[name: string, header: string | undefined, sourceIp: string | null, mode: AuthMode, expected: unknown]> = [
    // required
    ['required: right token', basic('laptop', 'tok-laptop'), '192.0.2.1', 'required', ok('laptop', 'dev')],
    ['required: wrong token', basic('laptop', 'tok-net'), '192.0.2.1', 'required', refused('invalid')],
    ['required: token of another agent', basic('sidecar-net', 'tok-laptop'), '192.0.2.1', 'required', refused('invalid')],
    ['required: unknown id', basic('nobody', 'tok-laptop'), '192.0.2.1', 'required', refused('invalid')],
    ['required: malformed header', 'Basic !!!', '192.0.2.1', 'required', refused('invalid')],
    ['required: not Basic', 'Bearer tok-laptop', '192.0.2.1', 'required', refused('invalid')],
    ['required: token case matters', basic('laptop', 'TOK-LAPTOP'), '192.0.2.1', 'required', refused('invalid')],
    ['required: malformed digest in config matches nothing', basic('broken', 'short'), null, 'required', refused('invalid')],
    ['required: nothing sent', undefined, '192.0.2.1', 'required', refused('missing')],
    ['required: nothing sent, no address', undefined, null, 'required', refused('missing')],
    ['required: an empty header is nothing sent', '  ', null, 'required', refused('missing')],
    ['optional: an empty header is nothing sent', '', null, 'optional', ok(null, 'default')],
    ['required: source mapping identifies a sidecar', undefined, '10.0.0.7', 'required', ok('sidecar-net', 'sidecar')],
    // optional
    ['optional: right token', basic('laptop', 'tok-laptop'), null, 'optional', ok('laptop', 'dev')],
    ['optional: wrong token is still refused', basic('laptop', 'nope'), null, 'optional', refused('invalid')],
    ['optional: unknown id is still refused', basic('nobody', 'x'), null, 'optional', refused('invalid')],
    ['optional: malformed header is still refused', 'Basic', null, 'optional', refused('invalid')],
    ['optional: nothing sent is anonymous, default profile', undefined, '192.0.2.1', 'optional', ok(null, 'default')],
    ['optional: source mapping', undefined, '10.0.0.200', 'optional', ok('sidecar-net', 'sidecar')],
    // off
    ['off: credentials are ignored, even wrong ones', basic('laptop', 'nope'), '192.0.2.1', 'off', ok(null, 'default')],
    ['off: right credentials are ignored too', basic('laptop', 'tok-laptop'), '192.0.2.1', 'off', ok(null, 'default')],
    ['off: source mapping still identifies', basic('laptop', 'tok-laptop'), '10.0.0.5', 'off', ok('sidecar-one', 'strict')],
    // source mapping details
    ['explicit credentials win over the source', basic('laptop', 'tok-laptop'), '10.0.0.5', 'required', ok('laptop', 'dev')],
    ['a wrong token from a mapped source is refused', basic('sidecar-one', 'nope'), '10.0.0.5', 'optional', refused('invalid')],
    ['most specific source wins (/32 over /24)', undefined, '10.0.0.5', 'required', ok('sidecar-one', 'strict')],
    ['IPv4-mapped IPv6 source', undefined, '::ffff:10.0.0.5', 'required', ok('sidecar-one', 'strict')],
    ['IPv6 source', undefined, 'fd00::1234', 'required', ok('sidecar-one', 'strict')],
    ['IPv6 source with a zone', undefined, 'fd00::1234%eth0', 'required', ok('sidecar-one', 'strict')],
    ['just outside the /24', undefined, '10.0.1.0', 'required', refused('missing')],
    ['unparseable source', undefined, 'not-an-ip', 'optional', ok(null, 'default')],
  ];
  for (const [name, header, sourceIp, mode, expected] of cases)
    assert.deepEqual(summarise(authenticate(AGENTS, header, sourceIp, mode)), expected, name);
});

test('authenticate works with unfrozen and changing agent lists', () => {
  const agents = [agent('a', 'tok-a', 'dev')];
  assert.equal(authenticate(agents, basic('a', 'tok-a'), null, 'required').ok, true);
  const next = [agent('b', 'tok-b', 'dev')]; // a reload swaps the whole array
  assert.equal(authenticate(next, basic('a', 'tok-a'), null, 'required').ok, false);
  assert.equal(authenticate(next, basic('b', 'tok-b'), null, 'required').ok, true);
});

test('agentForSource: first agent in config order wins a tie', () => {
  const agents = [agent('first', 'x', 'p1', ['10.0.0.0/8']), agent('second', 'y', 'p2', ['10.0.0.0/8'])];
  assert.equal(agentForSource(agents, '10.1.2.3')?.id, 'first');
  assert.equal(agentForSource(agents, '11.0.0.1'), null);
});

