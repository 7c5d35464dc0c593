/** The promotion guard alone (fusion/lifecycle.ts): figures of a model on the windows both scored, and the decision. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decidePromotion, shadowFigures, type ShadowFigures } from '../../fusion/lifecycle.js';

const RULE = { openAfter: 3, resolveAfter: 6 };
const M = 60_000;
/** A series of one asset: a score per minute from t0. */
const series = (key: string, scores: number[], t0 = 0) =>
  new Map([[key, { t: scores.map((_, i) => t0 + i * M), s: scores }]]);

test('shadowFigures: openings outside confirmed alerts, confirmed caught, rejected raised, on common windows only', () => {
  // 0–9 quiet, 10–14 high (a confirmed fault), 15–29 quiet, 30–34 high (rejected), 35–49 quiet, 50–54 high.
  const s = Array.from({ length: 60 }, (_, i) =>
    (i >= 10 && i < 15) || (i >= 30 && i < 35) || (i >= 50 && i < 55) ? 9 : 1,
  );
  const labelled = [
    { key: 'p/a', opened: 12 * M, last: 14 * M, label: 'true_positive' as const },
    { key: 'p/a', opened: 32 * M, last: 34 * M, label: 'false_positive' as const },
  ];
  const f = shadowFigures(series('p/a', s), series('p/a', s), labelled, 6, RULE);
  assert.deepEqual(f, {
    windows: 60,
    openings: 2,
    confirmed: 1,
    confirmedCaught: 1,
    rejected: 1,
    rejectedRaised: 1,
  });
  // The other model scored only the first 40 windows: the third burst is not compared.
  const g = shadowFigures(series('p/a', s), series('p/a', s.slice(0, 40)), labelled, 6, RULE);
  assert.equal(g.windows, 40);
  assert.equal(g.openings, 1);
  // A model that stayed below its threshold catches nothing and opens nothing.
  const quiet = shadowFigures(
    series(
      'p/a',
      s.map(() => 1),
    ),
    series('p/a', s),
    labelled,
    6,
    RULE,
  );
  assert.deepEqual([quiet.openings, quiet.confirmedCaught, quiet.rejectedRaised], [0, 0, 0]);
});

const fig = (o: Partial<ShadowFigures>): ShadowFigures => ({
  windows: 5_000,
  openings: 10,
  confirmed: 3,
  confirmedCaught: 2,
  rejected: 2,
  rejectedRaised: 1,
  ...o,
});
const guard = { margin: 0.2, minWindows: 1_000 };

test('decidePromotion: the guard promotes only a model that beats the active one', () => {
  const a = fig({});
  assert.equal(decidePromotion(fig({ windows: 999 }), a, guard).decision, 'wait');
  const miss = decidePromotion(fig({ confirmedCaught: 1, openings: 0 }), a, guard);
  assert.equal(miss.decision, 'keep');
  assert.match(miss.reason, /caught 1 of 3 confirmed alerts, the active model 2/);
  const noisy = decidePromotion(fig({ rejectedRaised: 2, openings: 0 }), a, guard);
  assert.equal(noisy.decision, 'keep');
  assert.match(noisy.reason, /raised 2 of 2 rejected alerts/);
  assert.equal(decidePromotion(fig({ openings: 8 }), a, guard).decision, 'promote'); // 20 % fewer
  const close = decidePromotion(fig({ openings: 9 }), a, guard);
  assert.equal(close.decision, 'keep'); // 10 % fewer: inside the guard
  assert.match(close.reason, /not 20 % fewer/);
  assert.equal(decidePromotion(fig({ confirmedCaught: 3, openings: 10 }), a, guard).decision, 'promote');
  assert.equal(decidePromotion(fig({ confirmedCaught: 3, openings: 11 }), a, guard).decision, 'keep');
  // Both silent: nothing to gain.
  assert.equal(decidePromotion(fig({ openings: 0 }), fig({ openings: 0 }), guard).decision, 'keep');
});
