/** The part of a pino logger the relay and the consumers write to. */
export interface EventLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export const consoleEventLogger: EventLogger = {
  info: () => {},
  warn: (fields, message) => console.warn(message, fields),
  error: (fields, message) => console.error(message, fields),
};

/** Resolves after `ms`, or at once when `signal` aborts (so stop() never waits out a back-off). */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function backoffMs(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(initialMs * 2 ** (failures - 1), maxMs);
}
