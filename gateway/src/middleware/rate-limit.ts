/**
 * Rate limits: a token bucket per staff member or portal user, per API key, and per address for requests
 * without credentials (plus a stricter one for login attempts). The buckets of people and keys are shared by the
 * gateway replicas through PostgreSQL when RATE_LIMIT_SHARED is on (cluster mode; shared-rate-limit.ts), so a client
 * gets the limit however its requests are spread; the others live in this process's memory. Answers carry the IETF
 * RateLimit-* headers (draft-ietf-httpapi-ratelimit-headers).
 */
import type { Request, Response } from 'express';
import { resourceExhausted } from '@kantoor/errors';
import type { Caller } from '../auth/caller';
import type { SharedTokenBuckets } from './shared-rate-limit';

export interface RateLimitPolicy {
  /** requests per window; also the burst */
  limit: number;
  windowSeconds: number;
}

export interface RateLimitDecision {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** seconds until the bucket is full again */
  resetSeconds: number;
  /** seconds until the next request would be allowed */
  retryAfterSeconds: number;
  windowSeconds: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
}

/** Past this many buckets, full (idle) ones are dropped, so memory does not grow with every address seen. */
const SWEEP_ABOVE = 10_000;
/**
 * The most buckets kept: past it the oldest go (a tenth at a time), though not full. Only a flood of addresses
 * gets there (10 logins a minute per address keep a bucket from being full for six seconds after its use), and
 * such a client can reset its own limits by using more addresses anyway.
 */
const MAX_BUCKETS = 200_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  /** the size at which the next sweep runs: twice what a sweep left, so sweeps cost O(1) per new key */
  private sweepAt = SWEEP_ABOVE;

  constructor(private readonly clock: () => number = Date.now) {}

  take(key: string, policy: RateLimitPolicy): RateLimitDecision {
    const now = this.clock();
    const perMs = policy.limit / (policy.windowSeconds * 1000);
    const bucket = this.buckets.get(key) ?? { tokens: policy.limit, updatedAt: now };
    // the wall clock may step back (NTP): time that runs backwards refills nothing and takes nothing
    bucket.tokens = Math.min(policy.limit, bucket.tokens + Math.max(0, now - bucket.updatedAt) * perMs);
    bucket.updatedAt = Math.max(now, bucket.updatedAt);
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    if (!this.buckets.has(key)) {
      if (this.buckets.size >= this.sweepAt) {
        this.sweep(now, perMs, policy.limit);
        if (this.buckets.size >= MAX_BUCKETS) this.dropOldest(this.buckets.size - MAX_BUCKETS * 0.9);
        this.sweepAt = Math.min(MAX_BUCKETS, Math.max(SWEEP_ABOVE, this.buckets.size * 2));
      }
      this.buckets.set(key, bucket);
    }
    return {
      allowed,
      limit: policy.limit,
      remaining: Math.floor(bucket.tokens),
      resetSeconds: Math.ceil((policy.limit - bucket.tokens) / perMs / 1000),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
      windowSeconds: policy.windowSeconds,
    };
  }

  get size(): number {
    return this.buckets.size;
  }

  /** Drops the `count` buckets made first (a Map keeps the order keys came in). */
  private dropOldest(count: number): void {
    for (const key of this.buckets.keys()) {
      if (count-- <= 0) return;
      this.buckets.delete(key);
    }
  }

  private sweep(now: number, perMs: number, limit: number): void {
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.updatedAt) * perMs >= limit) this.buckets.delete(key);
    }
  }
}

export interface RateLimits {
  perUser: RateLimitPolicy;
  perApiKey: RateLimitPolicy;
  perAddress: RateLimitPolicy;
  loginPerAddress: RateLimitPolicy;
}

export function bucketFor(caller: Caller | null, address: string, limits: RateLimits): [string, RateLimitPolicy] {
  if (!caller) return [`address:${address}`, limits.perAddress];
  if (caller.kind === 'api_key') return [`api_key:${caller.subjectId}`, limits.perApiKey];
  return [`${caller.kind}:${caller.subjectId}`, limits.perUser];
}

export interface RateLimitBuckets {
  /** the buckets in this process's memory: all of them, unless `shared` takes those of people and keys */
  local: TokenBuckets;
  /** the buckets of people and API keys, shared by the gateway replicas (RATE_LIMIT_SHARED) */
  shared?: SharedTokenBuckets;
}

/**
 * Takes a token from each bucket that applies, sets the headers of the tightest one, and throws a 429
 * problem (with Retry-After) when any is empty. Synchronous unless a shared bucket has to be leased from.
 */
export function enforceRateLimits(
  buckets: RateLimitBuckets,
  limits: RateLimits,
  request: Request,
  response: Response,
  options: { throttle?: 'login' },
): void | Promise<void> {
  const address = request.ip ?? 'unknown';
  const caller = request.gateway.caller;
  const [key, policy] = bucketFor(caller, address, limits);
  const decisions = [caller && buckets.shared ? buckets.shared.take(key, policy) : buckets.local.take(key, policy)];
  if (options.throttle === 'login') decisions.push(buckets.local.take(`login:${address}`, limits.loginPerAddress));
  if (decisions.some((decision) => decision instanceof Promise))
    return Promise.all(decisions).then((decided) => answerRateLimits(decided, response));
  answerRateLimits(decisions as RateLimitDecision[], response);
}

function answerRateLimits(decisions: RateLimitDecision[], response: Response): void {
  const refused = decisions.find((decision) => !decision.allowed);
  const shown =
    refused ??
    decisions.reduce((tightest, decision) => (decision.remaining < tightest.remaining ? decision : tightest));
  response.set({
    'ratelimit-limit': String(shown.limit),
    'ratelimit-remaining': String(shown.remaining),
    'ratelimit-reset': String(shown.resetSeconds),
    'ratelimit-policy': `${shown.limit};w=${shown.windowSeconds}`,
  });
  if (refused) {
    response.set('retry-after', String(refused.retryAfterSeconds));
    throw resourceExhausted(`Too many requests; try again in ${refused.retryAfterSeconds} s.`, {
      reason: 'rate_limited',
    });
  }
}
