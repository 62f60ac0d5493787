import request from 'supertest';
import { noDatabase, problemType, testApp } from './helpers';

describe('probes', () => {
  it('answers liveness while the process runs', async () => {
    const { app } = testApp({ db: noDatabase, shuttingDown: () => true });
    expect((await request(app).get('/healthz')).body).toEqual({ status: 'ok' });
  });

  it('is ready when every dependency check passes, and names each check', async () => {
    const { app } = testApp({
      db: noDatabase,
      readinessChecks: { directory: async () => undefined, database: async () => true },
    });
    const response = await request(app).get('/readyz');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ready', checks: { directory: 'ok', database: 'ok' } });
  });

  it('is not ready while a dependency fails or hangs, without telling why to the outside', async () => {
    const { app, logs } = testApp({
      db: noDatabase,
      readinessTimeoutMs: 100,
      readinessChecks: {
        directory: async () => undefined,
        archive: () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:50051')),
        invoicing: () => new Promise(() => undefined),
        backup: async () => false,
      },
    });
    const response = await request(app).get('/readyz');
    expect(response.status).toBe(503);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({
      type: problemType('not-ready'),
      checks: { directory: 'ok', archive: 'failed', invoicing: 'timeout', backup: 'failed' },
    });
    expect(response.text).not.toContain('10.0.0.7');
    expect(logs().some((line) => line.check === 'archive')).toBe(true);
  });

  it('turns not ready as soon as shutdown begins, so the load balancer stops sending requests', async () => {
    let shuttingDown = false;
    const { app } = testApp({ db: noDatabase, shuttingDown: () => shuttingDown });
    await request(app).get('/readyz').expect(200);
    shuttingDown = true;
    const response = await request(app).get('/readyz');
    expect(response.status).toBe(503);
    expect(response.body.detail).toBe('The gateway is shutting down.');
  });

  it('embedded: serves /metrics, saying so when Prometheus is not running in this process', async () => {
    const { app } = testApp({ db: noDatabase });
    const response = await request(app).get('/metrics');
    expect(response.status).toBe(503);
    expect(response.text).toContain('not enabled');
  });

  it('cluster: does not serve /metrics on the public port (the Ingress routes it there); METRICS_PORT does', async () => {
    const { app } = testApp({ db: noDatabase }, undefined, {
      KANTOOR_MODE: 'cluster',
      DATABASE_URL: 'postgres://gateway@db.invalid/gateway',
      CALLER_SIGNING_KEY: 'a-caller-signing-key-of-32-bytes+',
      OIDC_ISSUER: 'https://login.firm.example/realms/kantoor',
    });
    const response = await request(app).get('/metrics');
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    await request(app).get('/healthz').expect(200);
  });
});

describe('CORS', () => {
  it('answers preflights of configured origins only', async () => {
    const { app } = testApp({ db: noDatabase }, undefined, { CORS_ORIGINS: 'https://app.kantoor.example' });
    const allowed = await request(app)
      .options('/v1/test/whoami')
      .set('origin', 'https://app.kantoor.example')
      .set('access-control-request-method', 'GET')
      .set('access-control-request-headers', 'authorization');
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.kantoor.example');
    expect(allowed.headers['access-control-allow-headers']).toContain('idempotency-key');

    const stranger = await request(app).get('/v1/test/whoami').set('origin', 'https://evil.example');
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    const exposed = await request(app).get('/v1/test/whoami').set('origin', 'https://app.kantoor.example');
    expect(exposed.headers['access-control-expose-headers']).toContain('ratelimit-remaining');
  });
});
