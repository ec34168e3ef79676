/** Which V8 flags `warden start` sets (proxy/gc.ts): its own, unless the operator chose. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { GC_FLAGS, gcFlagsToApply } from '../../proxy/gc.js';

const cases: ReadonlyArray<[string, readonly string[], string | undefined, readonly string[]]> = [
  ['nothing given', [], undefined, GC_FLAGS],
  ['unrelated node flags', ['--max-old-space-size=512', '--enable-source-maps'], undefined, GC_FLAGS],
  ['tracing is not a choice', ['--trace-incremental-marking', '--trace-gc'], undefined, GC_FLAGS],
  ['WARDEN_GC=default', [], 'default', []],
  ['WARDEN_GC with another value', [], 'tuned', GC_FLAGS],
  ['incremental marking asked for', ['--incremental-marking'], undefined, []],
  ['underscore spelling', ['--trace-gc', '--incremental_marking'], undefined, []],
  ['another incremental-marking flag', ['--incremental-marking-hard-trigger=80'], undefined, []],
];

for (const [name, execArgv, wardenGc, want] of cases) {
  test(`gcFlagsToApply: ${name}`, () => {
    assert.deepEqual(gcFlagsToApply(execArgv, wardenGc), want);
  });
}

test('the flags are ones this node knows', () => {
  // setFlagsFromString ignores a flag V8 does not know; `node --v8-options` lists the known ones.
  const known = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  for (const f of GC_FLAGS) {
    const name = f.replace(/^--no-/, '--').replace(/=.*/, '');
    assert.ok(known.includes(`  ${name} (`), `${name} not in node --v8-options`);
  }
});
