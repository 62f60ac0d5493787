import type { RequestHandler } from 'express';

const ALLOWED_HEADERS =
  'authorization, content-type, idempotency-key, x-api-key, x-request-id, traceparent, tracestate';
const EXPOSED_HEADERS =
  'x-request-id, ratelimit-limit, ratelimit-remaining, ratelimit-reset, ratelimit-policy, retry-after, idempotent-replayed, location, content-disposition';

/**
 * CORS for the firm's own front ends and the client portal, which may be served from other origins.
 * Only the configured origins get CORS headers; credentials travel in headers, never in cookies.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (request, response, next) => {
    const origin = request.get('origin');
    if (!origin || !(allowed.has(origin) || allowed.has('*'))) return next();
    response.vary('origin');
    response.set({ 'access-control-allow-origin': origin, 'access-control-expose-headers': EXPOSED_HEADERS });
    if (request.method !== 'OPTIONS' || !request.get('access-control-request-method')) return next();
    response.set({
      'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
      'access-control-allow-headers': ALLOWED_HEADERS,
      'access-control-max-age': '600',
    });
    response.status(204).end();
  };
}
