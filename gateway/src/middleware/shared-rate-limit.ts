/**
 * Rate limits that hold across gateway replicas (RATE_LIMIT_SHARED, on in cluster mode). The per-user and per-API-key
 * token buckets live in PostgreSQL (`rate_limit_bucket`); a replica leases a few tokens of a bucket at a time and
 * spends them from memory, so a request costs a database round trip only once per lease (a twentieth of the limit,
 * at most 50). A client spread over N replicas therefore gets the limit, not N times it. What a replica leased and
 * has not spent when its client stops calling is lost to the bucket until it refills; at most a lease per replica.
 * A lease that finds the bucket empty is the last one until its next whole token is due: requests before then are
 * refused from memory, so a client calling on after its 429 costs the database nothing.
 *
 * The buckets of addresses (requests without credentials, login attempts) stay in each replica's memory: anyone
 * can make up addresses, and each new one would be a row. When the database cannot be reached, the replica decides
 * from its own memory (the per-replica limits) rather than refusing everyone, and says so in the log; it asks the
 * database again after OFFLINE_MS, so that requests do not each wait for a database that is down.
 */
import { metrics, type Counter } from '@opentelemetry/api';
import type { Database } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import { TokenBuckets, type RateLimitDecision, type RateLimitPolicy } from './rate-limit';

/** What a replica holds of one shared bucket. */
interface Held {
  /** leased tokens not yet spent */
  tokens: number;
  /** what the database had left after the last lease */
  left: number;
  /** the lease being asked for, which later requests wait for rather than ask again */
  leasing?: Promise<void>;
  lastUsed: number;
  /** a lease found the bucket empty: until its next whole token, requests are refused here without asking again */
  emptyUntil: number;
}

const LIMIT = '$2::float8';
const PER_SECOND = '$3::float8';
const BATCH = '$4::float8';
/** A bucket's refill since it was last written, capped at its limit. */
const REFILLED = `LEAST(${LIMIT}, b.tokens + GREATEST(0, EXTRACT(EPOCH FROM now() - b.updated_at)) * ${PER_SECOND})`;

/**
 * Leases up to $4 whole tokens of bucket $1: a new bucket starts full. Returns how many were granted and what is
 * left; the row lock of the upsert makes two replicas' leases one after the other.
 */
const LEASE_SQL = `
  INSERT INTO rate_limit_bucket AS b (key, tokens, granted, updated_at, full_at)
  VALUES ($1, ${LIMIT} - LEAST(${BATCH}, FLOOR(${LIMIT})), LEAST(${BATCH}, FLOOR(${LIMIT})), now(),
          now() + make_interval(secs => LEAST(${BATCH}, FLOOR(${LIMIT})) / ${PER_SECOND}))
  ON CONFLICT (key) DO UPDATE SET
    granted = LEAST(${BATCH}, FLOOR(${REFILLED})),
    tokens = ${REFILLED} - LEAST(${BATCH}, FLOOR(${REFILLED})),
    full_at = now() + make_interval(secs => (${LIMIT} - ${REFILLED} + LEAST(${BATCH}, FLOOR(${REFILLED}))) / ${PER_SECOND}),
    updated_at = now()
  RETURNING granted, tokens`;

/** After a lease failed, the replica counts on its own this long before it asks the database again. */
const OFFLINE_MS = 10_000;
/** Held buckets unused this long are forgotten (their leased tokens with them). */
const FORGET_AFTER_MS = 5 * 60_000;
const SWEEP_EVERY_MS = 60_000;

export class SharedTokenBuckets {
  private readonly held = new Map<string, Held>();
  private lastSweep = 0;
  private warnedAt = 0;
  /** until then leases are not asked for: the database did not answer the last one */
  private offlineUntil = 0;
  /** decisions this replica made on its own because a lease failed, for an alert */
  private readonly alone: Counter = metrics
    .getMeter('kantoor-gateway')
    .createCounter('kantoor.gateway.rate_limit.unshared_decisions', {
      description:
        'rate-limit decisions of people and API keys made by this replica alone: the database did not answer',
    });

  constructor(
    private readonly db: Database,
    private readonly local: TokenBuckets,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Spends a token of the shared bucket `key`: at once from what this replica holds, else after a lease. */
  take(key: string, policy: RateLimitPolicy): RateLimitDecision | Promise<RateLimitDecision> {
    const now = this.clock();
    if (now - this.lastSweep > SWEEP_EVERY_MS) this.sweep(now);
    const held = this.held.get(key);
    if (held && !held.leasing && held.tokens >= 1) return this.spend(held, policy, now);
    // a client that keeps calling after its 429 must not cost the database a lease each time
    if (held && !held.leasing && now < held.emptyUntil) return this.refusal(held, policy, now);
    // a database that is down would make every request wait for it: count here for a while instead
    if (now < this.offlineUntil) return this.decideAlone(key, policy);
    return this.leaseThenTake(key, policy);
  }

  private async leaseThenTake(key: string, policy: RateLimitPolicy): Promise<RateLimitDecision> {
    let held = this.held.get(key);
    if (!held) {
      held = { tokens: 0, left: policy.limit, lastUsed: this.clock(), emptyUntil: 0 };
      this.held.set(key, held);
    }
    // requests arriving while a lease is asked for wait for it, then spend what it brought (or lease again)
    while (held.leasing) await held.leasing;
    if (held.tokens >= 1) return this.spend(held, policy, this.clock());
    if (this.clock() < held.emptyUntil) return this.refusal(held, policy, this.clock());
    const leasing = this.lease(key, policy, held);
    held.leasing = leasing.then(
      () => undefined,
      () => undefined,
    );
    try {
      await leasing;
    } catch (error) {
      this.offlineUntil = this.clock() + OFFLINE_MS;
      this.warn(error);
      return this.decideAlone(key, policy);
    } finally {
      held.leasing = undefined;
    }
    const now = this.clock();
    if (held.tokens >= 1) return this.spend(held, policy, now);
    held.emptyUntil = now + ((1 - held.left) / (policy.limit / policy.windowSeconds)) * 1000;
    return this.refusal(held, policy, now);
  }

  private async lease(key: string, policy: RateLimitPolicy, held: Held): Promise<void> {
    const perSecond = policy.limit / policy.windowSeconds;
    const batch = Math.min(50, Math.max(1, Math.ceil(policy.limit / 20)));
    const { rows } = await this.db.query<{ granted: number; tokens: number }>(LEASE_SQL, [
      key,
      policy.limit,
      perSecond,
      batch,
    ]);
    held.tokens += Number(rows[0].granted);
    held.left = Number(rows[0].tokens);
  }

  /** A decision from this replica's memory alone, counted. */
  private decideAlone(key: string, policy: RateLimitPolicy): RateLimitDecision {
    this.alone.add(1);
    return this.local.take(key, policy);
  }

  private spend(held: Held, policy: RateLimitPolicy, now: number): RateLimitDecision {
    held.tokens -= 1;
    held.lastUsed = now;
    const perSecond = policy.limit / policy.windowSeconds;
    // what the client has left everywhere: the bucket's tokens and those this replica holds for it
    const remaining = held.left + held.tokens;
    return {
      allowed: true,
      limit: policy.limit,
      remaining: Math.floor(remaining),
      resetSeconds: Math.ceil((policy.limit - remaining) / perSecond),
      retryAfterSeconds: 0,
      windowSeconds: policy.windowSeconds,
    };
  }

  private refusal(held: Held, policy: RateLimitPolicy, now: number): RateLimitDecision {
    const perSecond = policy.limit / policy.windowSeconds;
    return {
      allowed: false,
      limit: policy.limit,
      remaining: 0,
      resetSeconds: Math.ceil((policy.limit - held.left) / perSecond),
      retryAfterSeconds: Math.max(1, Math.ceil((held.emptyUntil - now) / 1000)),
      windowSeconds: policy.windowSeconds,
    };
  }

  /** Forgets buckets unused for a while; one replica in a while also deletes the rows of buckets full again. */
  private sweep(now: number) {
    this.lastSweep = now;
    for (const [key, held] of this.held) {
      if (!held.leasing && now - held.lastUsed > FORGET_AFTER_MS) this.held.delete(key);
    }
    this.db.query('DELETE FROM rate_limit_bucket WHERE full_at < now()').catch((error) => this.warn(error));
  }

  private warn(error: unknown) {
    const now = this.clock();
    if (now - this.warnedAt < 60_000) return;
    this.warnedAt = now;
    this.logger.warn(
      { err: error },
      'shared rate limits unavailable: this replica counts on its own until the database answers',
    );
  }
}
