/**
 * Heavy reads (timelines over long ranges) share the API's connections with every other route. At most
 * `running` of them run at once, so at least one connection stays free for light reads; `waiting` more
 * wait their turn; beyond that a read is refused at once (503 with Retry-After) instead of queueing on the
 * pool until it times out.
 */
export interface HeavyGate {
  acquire(): Promise<(() => void) | null>;
  readonly active: number;
  readonly queued: number;
}

export function heavyGate(running: number, waiting: number): HeavyGate {
  let active = 0;
  const queue: Array<() => void> = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else active--;
  };
  return {
    get active() {
      return active;
    },
    get queued() {
      return queue.length;
    },
    async acquire() {
      if (active < running) {
        active++;
        return release;
      }
      if (queue.length >= waiting) return null;
      await new Promise<void>((resolve) => queue.push(resolve));
      return release;
    },
  };
}
