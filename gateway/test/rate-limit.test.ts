import request from 'supertest';
import { TokenBuckets } from '../src';
import { bearer, noDatabase, problemType, publicPing, staff, testApp, whoAmI } from './helpers';

describe('rate limits', () => {
  let now = 1_700_000_000_000;
  const limited = () =>
    testApp({ db: noDatabase, clock: () => now }, [whoAmI, publicPing], {
      RATE_LIMIT_PER_USER: '3',
      RATE_LIMIT_PER_IP: '2',
      RATE_LIMIT_WINDOW_SECONDS: '60',
    }).app;

  it('tells each caller its limit, what remains and when the bucket is full again', async () => {
    const app = limited();
    const anne = bearer(staff({ subjectId: 'anne' }));
    const first = await request(app).get('/v1/test/whoami').set('authorization', anne);
    expect(first.headers).toMatchObject({
      'ratelimit-limit': '3',
      'ratelimit-remaining': '2',
      'ratelimit-reset': '20',
      'ratelimit-policy': '3;w=60',
    });
    await request(app).get('/v1/test/whoami').set('authorization', anne).expect(200);
    await request(app).get('/v1/test/whoami').set('authorization', anne).expect(200);
    const refused = await request(app).get('/v1/test/whoami').set('authorization', anne);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ type: problemType('rate-limited'), status: 429 });
    expect(refused.headers).toMatchObject({ 'retry-after': '20', 'ratelimit-remaining': '0' });

    // another person has a bucket of their own
    await request(app)
      .get('/v1/test/whoami')
      .set('authorization', bearer(staff({ subjectId: 'bob' })))
      .expect(200);
    // and Anne's refills with time: one request per 20 s
    now += 20_000;
    await request(app).get('/v1/test/whoami').set('authorization', anne).expect(200);
    expect((await request(app).get('/v1/test/whoami').set('authorization', anne)).status).toBe(429);
  });

  it('limits requests without credentials per address, bad credentials included', async () => {
    const app = limited();
    await request(app).get('/v1/test/ping').expect(200);
    const badToken = await request(app).get('/v1/test/whoami').set('authorization', 'Bearer not.a.token');
    expect(badToken.status).toBe(401);
    expect(badToken.headers['ratelimit-remaining']).toBe('0');
    const refused = await request(app).get('/v1/test/ping');
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('30');
  });

  it('behind an in-cluster ingress (TRUST_PROXY as the chart sets it) gives each client its own bucket', async () => {
    // supertest connects from 127.0.0.1; the ingress pod (10.42.0.15) forwards for the client it names
    const throughIngress = (app: ReturnType<typeof limited>, client: string) =>
      request(app).get('/v1/test/ping').set('x-forwarded-for', `${client}, 10.42.0.15`);
    const behindIngress = (trustProxy?: string) =>
      testApp({ db: noDatabase, clock: () => now }, [publicPing], {
        RATE_LIMIT_PER_IP: '2',
        ...(trustProxy && { TRUST_PROXY: trustProxy }),
      }).app;

    const app = behindIngress('loopback, uniquelocal');
    await throughIngress(app, '203.0.113.7').expect(200);
    await throughIngress(app, '203.0.113.7').expect(200);
    expect((await throughIngress(app, '203.0.113.7')).status).toBe(429);
    await throughIngress(app, '198.51.100.9').expect(200);
    // a client cannot pick its bucket: what it writes itself stands left of the address the ingress saw
    expect((await throughIngress(app, '192.0.2.1, 203.0.113.7')).status).toBe(429);

    // the gateway's own default trusts only loopback: every client shares the ingress pod's bucket
    const untrusting = behindIngress();
    await throughIngress(untrusting, '203.0.113.7').expect(200);
    await throughIngress(untrusting, '198.51.100.9').expect(200);
    expect((await throughIngress(untrusting, '192.0.2.44')).status).toBe(429);
  });

  it('leaves probes and the documentation alone', async () => {
    const app = limited();
    for (let i = 0; i < 5; i++) await request(app).get('/healthz').expect(200);
    for (let i = 0; i < 5; i++) await request(app).get('/openapi.json').expect(200);
  });
});

describe('TokenBuckets', () => {
  it('refills continuously up to the limit, and not at all when the clock steps back', () => {
    let now = 0;
    const buckets = new TokenBuckets(() => now);
    const policy = { limit: 10, windowSeconds: 10 };
    for (let i = 0; i < 10; i++) expect(buckets.take('k', policy).allowed).toBe(true);
    expect(buckets.take('k', policy)).toMatchObject({
      allowed: false,
      remaining: 0,
      retryAfterSeconds: 1,
      resetSeconds: 10,
    });
    now = 3_000;
    expect(buckets.take('k', policy)).toMatchObject({ allowed: true, remaining: 2 });
    now = -50_000;
    expect(buckets.take('k', policy)).toMatchObject({ allowed: true, remaining: 1 });
    now = 1_000_000;
    expect(buckets.take('k', policy)).toMatchObject({ allowed: true, remaining: 9 });
  });

  it('forgets idle buckets once there are many, so memory does not grow with every address', () => {
    let now = 0;
    const buckets = new TokenBuckets(() => now);
    const policy = { limit: 5, windowSeconds: 1 };
    for (let i = 0; i < 10_000; i++) buckets.take(`address:${i}`, policy);
    now = 2_000;
    buckets.take('address:new', policy);
    expect(buckets.size).toBe(1);
  });

  it('takes a flood of new addresses in moments, keeping at most 200,000 buckets', () => {
    let now = 0;
    const buckets = new TokenBuckets(() => now);
    // 5 logins in 15 minutes: a bucket is not full again until three minutes after its use
    const login = { limit: 5, windowSeconds: 900 };
    const started = Date.now();
    // 2,500 new addresses a second for two minutes: each new one swept every bucket (30,000 took 2.6 s)
    for (let i = 0; i < 300_000; i++, now += 0.4) buckets.take(`login:10.0.${i}`, login);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(buckets.size).toBeLessThanOrEqual(200_000);
    expect(buckets.size).toBeGreaterThan(150_000);
    // an address still in use keeps its limit
    for (let i = 0; i < 5; i++) expect(buckets.take('login:10.9.9.9', login).allowed).toBe(true);
    expect(buckets.take('login:10.9.9.9', login).allowed).toBe(false);
  });
});
