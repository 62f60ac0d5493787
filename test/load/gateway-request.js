// Issue 2's budget: an authenticated gateway request that makes one gRPC call (GET /v1/firm), 50 concurrent
// connections, at least 1,500 requests/s with p99 at most 50 ms.
//   k6 run -e KANTOOR_EMAIL=… -e KANTOOR_PASSWORD=… test/load/gateway-request.js
import http from 'k6/http';
import { check } from 'k6';
import { BASE, authorised, token } from './common.js';

export const options = {
  scenarios: {
    firm: { executor: 'constant-vus', vus: 50, duration: __ENV.DURATION || '30s' },
  },
  thresholds: {
    'http_req_duration{name:GET /v1/firm}': ['p(99)<=50'],
    'http_reqs{name:GET /v1/firm}': ['rate>=1500'],
    http_req_failed: ['rate<0.001'],
  },
};

export const setup = () => ({ accessToken: token() });

export default function ({ accessToken }) {
  const response = http.get(`${BASE}/v1/firm`, {
    headers: authorised(accessToken),
    tags: { name: 'GET /v1/firm' },
  });
  check(response, { 'the firm is answered': (r) => r.status === 200 });
}
