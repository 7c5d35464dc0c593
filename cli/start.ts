/** `tributary start`: the service, until SIGINT or SIGTERM. */
import { startService } from '../service.js';
import { type Values, configOr2 } from './args.js';
import { pino } from 'pino';

export async function start(values: Values): Promise<number> {
  const cfg = configOr2(values);
  if (!cfg) return 2;
  const logger = pino({ level: cfg.log.level, base: { service: 'tributary' } });
  const svc = await startService(cfg, logger);
  await new Promise<void>((resolve) => {
    const done = () => resolve();
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await svc.stop();
  return 0;
}
