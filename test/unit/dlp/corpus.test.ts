/**
 * Regression gate over the public corpus: overall precision ≥ 0.95 and recall ≥ 0.93
 * (the product targets are 0.97 / 0.95; the margin keeps normal tuning from flaking, and a
 * broken detector still fails it).
 */
import * as assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { compileDetectors } from '../../../proxy/dlp/detectors.js';
import { DEFAULT_CORPUS, evaluateCorpus, precision, readCorpus, recall } from '../../bench/dlp-quality.js';

test('corpus: overall precision and recall stay above the gate', { skip: !existsSync(DEFAULT_CORPUS) && 'corpus not present' }, () => {
  const d = compileDetectors({ honeytokens: [], fingerprintKey: Buffer.from('corpus') });
  const report = evaluateCorpus(d, readCorpus(DEFAULT_CORPUS));
  const p = precision(report.overall);
  const r = recall(report.overall);
  assert.ok(p >= 0.95, `precision ${p.toFixed(3)} < 0.95`);
  assert.ok(r >= 0.93, `recall ${r.toFixed(3)} < 0.93`);
  // Every type except phone stays above 0.90 recall (the per-type product target).
  for (const [type, s] of report.perType) {
    if (type === 'phone' || s.tp + s.fn === 0) continue;
    assert.ok(recall(s) >= 0.9, `${type} recall ${recall(s).toFixed(3)} < 0.90`);
  }
});
