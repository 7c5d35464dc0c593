/**
 * CPU time by process on this machine, for the benches' accounting: this process (every thread), the
 * Kafka broker (java processes whose command line names kafka) and the PostgreSQL server (every postgres
 * process: backends and background writers). Read from Linux's /proc; null elsewhere.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export interface CpuSeconds {
  self: number;
  broker: number;
  postgres: number;
}

/** Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux architecture node runs on. */
const HZ = 100;

export function cpuNow(): CpuSeconds | null {
  let dirs: string[];
  try {
    dirs = readdirSync('/proc');
  } catch {
    return null;
  }
  const u = process.cpuUsage();
  const out: CpuSeconds = { self: (u.user + u.system) / 1e6, broker: 0, postgres: 0 };
  for (const d of dirs) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      const which =
        comm === 'java' && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('kafka')
          ? 'broker'
          : comm.startsWith('postgres')
            ? 'postgres'
            : null;
      if (!which) continue;
      // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[which] += (Number(f[11]) + Number(f[12])) / HZ;
    } catch {
      /* the process ended meanwhile */
    }
  }
  return out;
}

export const cpuSince = (a: CpuSeconds | null, b: CpuSeconds | null): CpuSeconds | null =>
  a && b ? { self: b.self - a.self, broker: b.broker - a.broker, postgres: b.postgres - a.postgres } : null;

export const cores = () => availableParallelism();
