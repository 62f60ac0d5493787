/**
 * Endpoints for the platform rather than for clients: liveness, readiness and (embedded mode) Prometheus
 * metrics. They are not in the route table (no caller, no rate limit, not in the OpenAPI document);
 * OPERATIONAL_PATHS lists them (and DOCUMENTATION_PATHS the document and its page) so that an access matrix can
 * tell them from a route that escaped the table.
 */
import express, { type Router } from 'express';
import { PROBLEM_TYPE_BASE } from '@kantoor/errors';
import { metricsHandler } from '@kantoor/telemetry';
import type { Logger } from '@kantoor/logging';
import { PROBLEM_CONTENT_TYPE } from '../middleware/problem';

/** Resolves when the dependency can serve; rejects (or resolves false) when it cannot. */
export type ReadinessCheck = () => Promise<unknown>;

export interface OperationsOptions {
  readinessChecks: Record<string, ReadinessCheck>;
  shuttingDown: () => boolean;
  logger: Logger;
  checkTimeoutMs?: number;
  /**
   * Serve `/metrics` here: embedded mode, where this port is the only one and `/metrics` has every thread's
   * metrics. In cluster mode the public port sits behind the Ingress, and Prometheus scrapes METRICS_PORT.
   */
  metrics: boolean;
}

export const OPERATIONAL_PATHS = ['/healthz', '/readyz', '/metrics'] as const;

export function operationsRouter(options: OperationsOptions): Router {
  const router = express.Router();
  const timeoutMs = options.checkTimeoutMs ?? 2000;

  // liveness: the event loop answers; dependencies are readiness's business, or one outage restarts every pod
  router.get('/healthz', (_request, response) => void response.set('cache-control', 'no-store').json({ status: 'ok' }));

  router.get('/readyz', async (request, response) => {
    response.set('cache-control', 'no-store');
    const notReady = (status: string, checks: Record<string, string>) =>
      response
        .status(503)
        .type(PROBLEM_CONTENT_TYPE)
        .send(
          JSON.stringify({
            type: `${PROBLEM_TYPE_BASE}not-ready`,
            title: 'Service unavailable',
            status: 503,
            detail: status === 'shutting_down' ? 'The gateway is shutting down.' : 'A dependency is not ready.',
            requestId: request.gateway.requestId,
            checks,
          }),
        );
    if (options.shuttingDown()) return notReady('shutting_down', {});
    const results = await Promise.all(
      Object.entries(options.readinessChecks).map(
        async ([name, check]) => [name, await runCheck(name, check, timeoutMs, options.logger)] as const,
      ),
    );
    const checks = Object.fromEntries(results);
    // a check can take a while; a shutdown that began meanwhile still wins
    if (options.shuttingDown()) return notReady('shutting_down', checks);
    if (results.some(([, result]) => result !== 'ok')) return notReady('not_ready', checks);
    response.json({ status: 'ready', checks });
  });

  if (options.metrics) router.get('/metrics', metricsHandler());
  return router;
}

async function runCheck(name: string, check: ReadinessCheck, timeoutMs: number, logger: Logger): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    const result = await Promise.race([check().then((value) => (value === false ? 'failed' : 'ok')), timeout]);
    if (result !== 'ok') logger.warn({ check: name, result }, 'readiness check did not pass');
    return result;
  } catch (error) {
    logger.warn({ check: name, err: error }, 'readiness check failed');
    return 'failed';
  } finally {
    clearTimeout(timer);
  }
}
