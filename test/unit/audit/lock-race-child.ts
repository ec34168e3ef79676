/**
 * Child process for lock.test.ts: at each round's start time (argv: targets as JSON, first start
 * in ms since the epoch, ms between rounds) it tries to take the lock on that round's target,
 * an abandoned one the parent left, and prints one line per round: "held" or "busy".
 */
import pino from 'pino';
import { acquireLock, LockBusyError } from '../../../proxy/audit/lock.js';

const targets = JSON.parse(process.argv[2]!) as string[];
const firstMs = Number(process.argv[3]);
const roundMs = Number(process.argv[4]);
const log = pino({ level: 'silent' });
const out: string[] = [];
for (let i = 0; i < targets.length; i++) {
  const at = firstMs + i * roundMs;
  while (Date.now() < at) { /* spin: every child starts the round at the same moment */ }
  try {
    // Held locks are kept (not released) until the process exits: each round has its own target.
    await acquireLock(targets[i]!, { what: 'audit file', log, onLost: () => undefined, tuning: { waitMs: roundMs / 3, staleMs: 60_000, heartbeatMs: 60_000, pollMs: 5 } });
    out.push('held');
  } catch (e) {
    if (!(e instanceof LockBusyError)) throw e;
    out.push('busy');
  }
}
// Exiting releases what this process holds: not before every other child has given up on the last round.
const end = firstMs + targets.length * roundMs;
while (Date.now() < end) await new Promise((r) => setTimeout(r, 10));
process.stdout.write(`${out.join('\n')}\n`);
