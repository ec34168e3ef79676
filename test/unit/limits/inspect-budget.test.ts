import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { InspectBudget } from '../../../proxy/limits/inspect-budget.js';

type Op = ['reserve', number, boolean] | ['release', number];

const cases: Array<[name: string, maxBytes: number, ops: Op[], inUse: number]> = [
  ['reserve up to exactly the cap', 100, [['reserve', 60, true], ['reserve', 40, true]], 100],
  ['one byte over the cap is refused and reserves nothing', 100, [['reserve', 60, true], ['reserve', 41, false]], 60],
  ['a single reservation larger than the cap never fits', 100, [['reserve', 101, false]], 0],
  ['release makes room again', 100, [['reserve', 100, true], ['reserve', 1, false], ['release', 30], ['reserve', 30, true]], 100],
  ['release never goes below zero', 100, [['reserve', 10, true], ['release', 10], ['release', 10]], 0],
  ['zero and negative amounts are no-ops', 100, [['reserve', 0, true], ['reserve', -5, true], ['release', -5]], 0],
  ['a zero cap refuses every real reservation', 0, [['reserve', 1, false]], 0],
];

for (const [name, maxBytes, ops, inUse] of cases) {
  test(`inspect budget: ${name}`, () => {
    const budget = new InspectBudget(maxBytes);
    ops.forEach((op, i) => {
      if (op[0] === 'reserve') assert.equal(budget.tryReserve(op[1]), op[2], `op ${i}`);
      else budget.release(op[1]);
    });
    assert.equal(budget.inUse, inUse);
  });
}

test('inspect budget refuses a negative cap', () => {
  assert.throws(() => new InspectBudget(-1), RangeError);
});

test('inspect budget: a new cap (config reload) applies to the next reservation and revokes none', () => {
  const budget = new InspectBudget(100);
  assert.equal(budget.tryReserve(80), true);
  budget.maxBytes = 50;
  assert.equal(budget.maxBytes, 50);
  assert.equal(budget.inUse, 80, 'held reservations stay');
  assert.equal(budget.tryReserve(1), false, 'over the lowered cap');
  budget.release(80);
  assert.equal(budget.tryReserve(50), true);
  budget.maxBytes = 200;
  assert.equal(budget.tryReserve(150), true);
  assert.throws(() => {
    budget.maxBytes = Number.NaN;
  }, RangeError);
  assert.equal(budget.maxBytes, 200, 'a refused cap changes nothing');
});
