import type { Caller } from './caller';

/**
 * Callers of bearer tokens already verified, keyed by the token itself, so a client sending the same token
 * on every request pays for the signature check once. An entry lives until the token's `exp` and no longer,
 * so an expired token is refused exactly as before; a JWT cannot be revoked before `exp` anyway. Bounded:
 * the oldest token goes first (a client holding on to its token
 * re-enters the cache on its next request). Tokens without `exp` are never kept.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, { caller: Caller; expiresAtMs: number }>();

  constructor(
    private readonly capacity = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  get(token: string): Caller | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= this.clock()) {
      this.entries.delete(token);
      return undefined;
    }
    return copyOf(entry.caller);
  }

  /** `expiresAt`: the token's verified `exp` claim, in seconds since the epoch */
  remember(token: string, caller: Caller, expiresAt: unknown): void {
    if (this.capacity <= 0 || typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) return;
    const expiresAtMs = expiresAt * 1000;
    if (expiresAtMs <= this.clock()) return;
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { caller: copyOf(caller), expiresAtMs });
  }

  get size(): number {
    return this.entries.size;
  }
}

// a handler that changes the caller it was given must not change who the next request's token stands for
const copyOf = (caller: Caller): Caller => ({
  ...caller,
  scopes: [...caller.scopes],
  ...(caller.impersonation && { impersonation: { ...caller.impersonation } }),
});
