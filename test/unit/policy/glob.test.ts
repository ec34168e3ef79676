import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileGlob } from '../../../proxy/policy/glob.js';

const cases: Array<[glob: string, path: string, expected: boolean]> = [
  ['/v1/messages', '/v1/messages', true],
  ['/v1/messages', '/v1/messages/', false],
  ['/v1/messages', '/V1/messages', false],           // case-sensitive
  ['/v1/*', '/v1/', true],                            // * may match nothing
  ['/v1/*', '/v1/chat/completions', true],            // * crosses /
  ['/v1/*', '/v1', false],
  ['/v1/*', '/v2/x', false],
  ['/v1*', '/v1beta/models', true],
  ['*', '', true],
  ['*', '/anything/at/all', true],
  ['/a/*/c', '/a/b/c', true],
  ['/a/*/c', '/a/b/x/c', true],
  ['/a/*/c', '/a/c', false],                          // the literal slashes are required
  ['/a*b*c', '/abc', true],
  ['/a*b*c', '/aXbYc', true],
  ['/a*b*c', '/acb', false],
  ['*.json', '/x.json', true],
  ['*.json', '/x.jsonx', false],
  ['/ab*ba', '/aba', false],                          // prefix and suffix may not overlap
  ['/ab*ba', '/abba', true],
  ['/a**b', '/aXXb', true],
  ['/x?y', '/x?y', true],                             // ? is literal
  ['/x?y', '/xzy', false],
  ['/[ab]', '/[ab]', true],                           // brackets are literal
  ['/[ab]', '/a', false],
  ['/.*', '/.hidden', true],                          // regex characters are literal
  ['/.*', '/xhidden', false],
];
for (const [glob, path, expected] of cases) {
  test(`${JSON.stringify(glob)} vs ${JSON.stringify(path)}: ${expected}`, () => assert.equal(compileGlob(glob)(path), expected));
}

test('many stars against a hostile path stay fast (no backtracking)', () => {
  // `^(.*a){30}b$` style patterns make backtracking regexes take exponential time here.
  const match = compileGlob(`/${'*a'.repeat(30)}*b`);
  const path = `/${'a'.repeat(50_000)}`;
  const start = performance.now();
  assert.equal(match(path), false);
  assert.equal(match(`${path}b`), true);
  // Generous bound: catches backtracking blow-up (exponential), not a benchmark.
  assert.ok(performance.now() - start < 10_000, 'glob matching took too long');
});
