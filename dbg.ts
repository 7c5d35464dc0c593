import { readFileSync } from 'node:fs';
import { AdaptiveClock } from './align/clock.js';
const dev = process.argv[2], dir = process.argv[3], from = Number(process.argv[4] ?? 60);
const recs = readFileSync(`${dir}/records.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.value.device === dev || r.value.camera === dev);
const truth = new Map<string, number>();
for (const l of readFileSync(`${dir}/truth.jsonl`, 'utf8').split('\n')) { if (!l.includes(dev)) continue; const t = JSON.parse(l); if ((t.type === 'sample'||t.type==='image'||t.type==='block') && (t.device === dev||t.camera===dev)) truth.set(String(t.seq), t.type==='block'? t.trueT0 + (t.n-1)*t.truePeriodMs : t.trueTs); }
const c = new AdaptiveClock();
const t0 = recs[0].deliverAt; let shown = 0;
for (const r of recs) {
  const v = r.value; const d = v.ts !== undefined ? (typeof v.ts === 'number' ? v.ts : Date.parse(v.ts)) : (typeof v.t0 === 'number' ? v.t0 : Date.parse(v.t0)) + ((Object.values(v.channels)[0] as number[]).length - 1) * v.periodMs;
  const out = c.process(d, r.deliverAt, v.seq);
  const err = out.ts - (truth.get(String(v.seq)) ?? NaN);
  const st = c.state();
  if ((Math.abs(err) > 60 && r.deliverAt - t0 > from * 1000) && shown++ < 25) console.log(new Date(r.deliverAt).toISOString().slice(11, 23), v.seq, 'd-r', d - r.deliverAt, 'err', Math.round(err), 'off', Math.round(st.offsetMs ?? NaN), 'drift', st.driftPpm?.toFixed(1), 'unc', st.uncertaintyMs.toFixed(1), 'steps', st.steps);
}
console.log("final", (c as any).raw.uncertaintyMs(), (c as any).smooth.uncertaintyMs());
