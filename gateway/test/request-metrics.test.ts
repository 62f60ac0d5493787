import request from 'supertest';
import { startTelemetry, type Telemetry } from '@kantoor/telemetry';
import { noDatabase, testApp } from './helpers';

describe('request metrics', () => {
  let telemetry: Telemetry;
  beforeAll(() => {
    telemetry = startTelemetry({ serviceName: 'gateway-metrics-test', instrumentations: false });
  });
  afterAll(() => telemetry.shutdown());

  it('counts and times every request by method, route template and status, probes left out', async () => {
    const { app } = testApp({ db: noDatabase });
    await request(app).get('/v1/test/whoami').expect(401);
    await request(app).get('/v1/test/whoami').expect(401);
    await request(app).get('/v1/no-such-thing').expect(404);
    await request(app).get('/healthz').expect(200);
    const text = (await request(app).get('/metrics').expect(200)).text;
    const count = (route: string, status: number) =>
      Number(
        new RegExp(
          `^http_server_request_duration_count\\{http_request_method="GET",http_route="${route}",http_response_status_code="${status}"[^}]*\\} (\\d+)`,
          'm',
        ).exec(text)?.[1],
      );
    expect(count('/v1/test/whoami', 401)).toBe(2);
    expect(count('unmatched', 404)).toBe(1);
    expect(text).not.toContain('http_route="/healthz"');
  });
});
