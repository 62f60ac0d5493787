/**
 * Keeps the objects of a finished gRPC call young, so that V8 frees them in its cheap young-generation
 * collections (scavenges) instead of copying them to the old generation first.
 *
 * A scavenge keeps everything that an old-generation object points to, whether that old object is still in use
 * or not: dead old objects count until the next full collection. Two things in the gRPC path left such
 * pointers to every call in flight, so whole calls (the HTTP/2 stream, grpc-js's call layers, the request
 * behind them) were copied and promoted:
 *
 * - JavaScript `Map`s and `Set`s that take an entry per call: node:http2's streams of a session (by stream id)
 *   and its pending streams, and grpc-js's active calls of a connection. When V8 grows or compacts such a
 *   collection it moves the entries to a new table and keeps the old one as it was (for iterators in
 *   progress); once the collection has reached the old generation, every outgrown table kept the calls of
 *   that moment alive until a full collection. Here they are replaced with the two collections below, whose
 *   arrays are cleared slot by slot and emptied when outgrown.
 * - Node 20's `AsyncResource.prototype.bind` (node:http2 binds every client request with it) defines a deprecated
 *   `asyncResource` accessor on each bound function, whose getter and setter are fresh closures wrapped by
 *   util.deprecate, and the wrapper takes the wrapped function as its prototype (`Object.setPrototypeOf`): a
 *   prototype per call makes V8 create new hidden classes per call in the old generation, pointing at the call.
 *   Replaced with one that binds the same way without it, on Node versions whose bind does that.
 *
 * Measured with `--trace-gc-nvp` (2026-12-03): a grpc-js client with 50 calls in flight promoted 7.5 KB of every
 * call (0.07 KB with both changes) and spent 17% of its time in scavenges (4%); the server side 4.2 KB (0.11 KB).
 * The embedded platform's other causes, and its figures, are in gateway/README.md ("Throughput").
 *
 * What this reaches into (node:http2's session state, grpc-js's connector and transport) is checked when it is
 * used: when a shape differs (another Node or grpc-js version) it leaves that object as it is, which changes
 * nothing but the collections' cost.
 */
import { AsyncResource } from 'node:async_hooks';
import type { Http2Server, Http2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';

const EMPTY = -1;

/**
 * A map from non-negative 31-bit integers (HTTP/2 stream ids) to values, with `Map`'s methods as node:http2 uses
 * them. Open addressing with linear probing in two arrays; a removed entry's slot is cleared at once (backward
 * shift, no tombstones), and when the table grows the old arrays are emptied.
 */
export class IntegerKeyMap<V> {
  #keys: Int32Array;
  #values: Array<V | undefined>;
  /** 32 - log2(capacity): a key's home slot is the top bits of its multiplicative hash */
  #shift = 0;
  #count = 0;

  constructor(initialCapacity = 64) {
    let capacity = 8;
    while (capacity < initialCapacity) capacity *= 2;
    this.#keys = new Int32Array(capacity).fill(EMPTY);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#shift = 32 - Math.log2(capacity);
  }

  get size(): number {
    return this.#count;
  }

  has(key: number): boolean {
    return this.#keys[this.#slotOf(key)] === key;
  }

  get(key: number): V | undefined {
    const slot = this.#slotOf(key);
    return this.#keys[slot] === key ? this.#values[slot] : undefined;
  }

  set(key: number, value: V): this {
    if (!Number.isInteger(key) || key < 0 || key > 0x7fffffff)
      throw new RangeError(`IntegerKeyMap keys are integers from 0 to 2^31-1, not ${key}`);
    let slot = this.#slotOf(key);
    if (this.#keys[slot] !== key) {
      if ((this.#count + 1) * 2 > this.#keys.length) {
        this.#grow();
        slot = this.#slotOf(key);
      }
      this.#keys[slot] = key;
      this.#count += 1;
    }
    this.#values[slot] = value;
    return this;
  }

  delete(key: number): boolean {
    let hole = this.#slotOf(key);
    if (this.#keys[hole] !== key) return false;
    const keys = this.#keys;
    const values = this.#values;
    const mask = keys.length - 1;
    keys[hole] = EMPTY;
    values[hole] = undefined;
    this.#count -= 1;
    // move back the entries after it that would no longer be found past the hole
    for (let slot = (hole + 1) & mask; keys[slot] !== EMPTY; slot = (slot + 1) & mask) {
      const home = this.#homeOf(keys[slot]);
      const reachable = hole <= slot ? home > hole && home <= slot : home > hole || home <= slot;
      if (reachable) continue;
      keys[hole] = keys[slot];
      values[hole] = values[slot];
      keys[slot] = EMPTY;
      values[slot] = undefined;
      hole = slot;
    }
    return true;
  }

  clear(): void {
    this.#keys.fill(EMPTY);
    this.#values.fill(undefined);
    this.#count = 0;
  }

  /** Visits the entries there when it began, leaving out those that `callback` removed before their turn. */
  forEach(callback: (value: V, key: number, map: this) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }

  *entries(): IterableIterator<[number, V]> {
    const present: number[] = [];
    for (const key of this.#keys) if (key !== EMPTY) present.push(key);
    for (const key of present) {
      const slot = this.#slotOf(key);
      if (this.#keys[slot] === key) yield [key, this.#values[slot] as V];
    }
  }

  *keys(): IterableIterator<number> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries();
  }

  #homeOf(key: number): number {
    return Math.imul(key, 0x9e3779b1) >>> this.#shift;
  }

  #slotOf(key: number): number {
    const keys = this.#keys;
    const mask = keys.length - 1;
    let slot = this.#homeOf(key);
    while (keys[slot] !== key && keys[slot] !== EMPTY) slot = (slot + 1) & mask;
    return slot;
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldValues = this.#values;
    this.#keys = new Int32Array(oldKeys.length * 2).fill(EMPTY);
    this.#values = new Array<V | undefined>(oldKeys.length * 2).fill(undefined);
    this.#shift -= 1;
    for (let slot = 0; slot < oldKeys.length; slot++)
      if (oldKeys[slot] !== EMPTY) {
        const target = this.#slotOf(oldKeys[slot]);
        this.#keys[target] = oldKeys[slot];
        this.#values[target] = oldValues[slot];
      }
    oldValues.fill(undefined);
  }
}

let nextSetId = 0;

/**
 * A set of objects by identity, with `Set`'s methods as node:http2 and grpc-js use them. Each member carries its
 * index in the set's array under a symbol of the set's own; removing swaps the last member into its place, and
 * an outgrown array is emptied.
 */
export class IdentitySet<T extends object> {
  readonly #slot = Symbol(`IdentitySet#${nextSetId++}`);
  #members: Array<T | undefined> = new Array<T | undefined>(16).fill(undefined);
  #count = 0;

  get size(): number {
    return this.#count;
  }

  has(member: T): boolean {
    const index = this.#indexOf(member);
    return index !== undefined && this.#members[index] === member;
  }

  add(member: T): this {
    if (this.has(member)) return this;
    if (this.#count === this.#members.length) {
      const old = this.#members;
      this.#members = old.concat(new Array<T | undefined>(old.length).fill(undefined));
      old.fill(undefined);
    }
    this.#members[this.#count] = member;
    (member as Record<symbol, number | undefined>)[this.#slot] = this.#count;
    this.#count += 1;
    return this;
  }

  delete(member: T): boolean {
    const index = this.#indexOf(member);
    if (index === undefined || this.#members[index] !== member) return false;
    const lastIndex = this.#count - 1;
    const last = this.#members[lastIndex]!;
    this.#members[index] = last;
    (last as Record<symbol, number | undefined>)[this.#slot] = index;
    this.#members[lastIndex] = undefined;
    (member as Record<symbol, number | undefined>)[this.#slot] = undefined;
    this.#count = lastIndex;
    return true;
  }

  clear(): void {
    for (const member of this.#members.slice(0, this.#count))
      (member as Record<symbol, number | undefined>)[this.#slot] = undefined;
    this.#members.fill(undefined);
    this.#count = 0;
  }

  /** Visits the members there when it began, leaving out those that `callback` removed before their turn. */
  forEach(callback: (member: T, again: T, set: this) => void): void {
    for (const member of this) callback(member, member, this);
  }

  *values(): IterableIterator<T> {
    for (const member of this.#members.slice(0, this.#count)) if (this.has(member!)) yield member!;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.values();
  }

  #indexOf(member: T): number | undefined {
    return (member as Record<symbol, number | undefined>)[this.#slot];
  }
}

/** node:http2's per-session state: the symbol-keyed object holding `streams` and `pendingStreams` */
function sessionState(session: Http2Session): { streams?: unknown; pendingStreams?: unknown } | undefined {
  const key = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'state');
  const state = key && (session as unknown as Record<symbol, unknown>)[key];
  return typeof state === 'object' && state !== null ? state : undefined;
}

/**
 * Gives a new HTTP/2 session (no stream yet) the collections above for its streams; true when it did. Called
 * for a session that already has streams, or of a node:http2 of another shape, it changes nothing.
 */
export function youngSessionStreams(session: Http2Session): boolean {
  const state = sessionState(session);
  if (!state) return false;
  const { streams, pendingStreams } = state;
  // node's own Map and Set (primordials' SafeMap / SafeSet, which are not `instanceof` Map and Set), empty
  if (!emptyCollection(streams, ['get', 'set', 'delete', 'forEach'])) return false;
  if (!emptyCollection(pendingStreams, ['add', 'delete', 'forEach'])) return false;
  state.streams = new IntegerKeyMap();
  state.pendingStreams = new IdentitySet();
  return true;
}

function emptyCollection(value: unknown, methods: string[]): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const collection = value as Record<string, unknown>;
  return collection.size === 0 && methods.every((method) => typeof collection[method] === 'function');
}

/** What grpc-js keeps of a client connection that this reaches into. */
interface TransportInternals {
  activeCalls?: unknown;
  session?: Http2Session;
}

/**
 * A new grpc-js client connection (no call yet) keeps its calls in flight in an IdentitySet, and its session's
 * streams in the collections above; true when it did.
 */
export function youngTransportCalls(transport: TransportInternals): boolean {
  const calls = transport.activeCalls;
  if (!(calls instanceof Set) || calls.size > 0) return false;
  transport.activeCalls = new IdentitySet();
  if (transport.session) youngSessionStreams(transport.session);
  return true;
}

/** Which parts are in place: the client connector and AsyncResource.bind are changed when this module loads. */
export const youngCalls = { clientConnections: false, asyncResourceBind: false };

/** grpc-js's client connector, whose `connect` resolves to a new connection (transport) */
interface ConnectorPrototype {
  connect(...args: unknown[]): Promise<TransportInternals>;
}

/** marks what this module put in place, so that loading it again (jest's module registries) does it once */
const INSTALLED = Symbol.for('kantoor.grpc.young-calls');
const installed = (fn: unknown) => typeof fn === 'function' && INSTALLED in fn;

function installClientConnections(): void {
  let transports: { Http2SubchannelConnector?: { prototype: ConnectorPrototype } } = {};
  try {
    transports = require('@grpc/grpc-js/build/src/transport');
  } catch {
    return;
  }
  const connector = transports.Http2SubchannelConnector?.prototype;
  const connect = connector?.connect;
  if (!connector || typeof connect !== 'function') return;
  if (installed(connect)) {
    youngCalls.clientConnections = true;
    return;
  }
  connector.connect = function (this: ConnectorPrototype, ...args: unknown[]) {
    return connect.apply(this, args).then((transport) => {
      youngTransportCalls(transport);
      return transport;
    });
  };
  Object.defineProperty(connector.connect, INSTALLED, { value: true });
  youngCalls.clientConnections = true;
}

/** Every HTTP/2 session a grpc-js server accepts from now on gets young streams (after `bindAsync`). */
export function youngServerSessions(server: Server): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const http2Server of servers.keys()) http2Server.prependListener('session', youngSessionStreams);
}

/**
 * On a Node whose AsyncResource.bind gives the bound function a deprecated `asyncResource` accessor (Node 20):
 * a bind that gives it the same `length` and `asyncResource`, as plain properties.
 */
function installAsyncResourceBind(): void {
  const original = AsyncResource.prototype.bind;
  if (installed(original)) {
    youngCalls.asyncResourceBind = true;
    return;
  }
  const probe = new AsyncResource('KANTOOR_PROBE', { requireManualDestroy: true }).bind(() => undefined);
  if (typeof Object.getOwnPropertyDescriptor(probe, 'asyncResource')?.get !== 'function') return;
  type Callable = (this: unknown, ...args: unknown[]) => unknown;
  const bind = function bind(this: AsyncResource, fn: Callable, thisArg?: unknown) {
    if (typeof fn !== 'function') return Reflect.apply(original, this, [fn, thisArg]) as unknown;
    // the function below gets its own `this` (the bound function's receiver), so the resource needs a name
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const resource = this;
    const bound: Callable =
      thisArg === undefined
        ? function (this: unknown, ...args: unknown[]) {
            return resource.runInAsyncScope(fn, this, ...args);
          }
        : (...args: unknown[]) => resource.runInAsyncScope(fn, thisArg, ...args);
    Object.defineProperty(bound, 'length', {
      configurable: true,
      enumerable: false,
      value: fn.length,
      writable: false,
    });
    (bound as Callable & { asyncResource: AsyncResource }).asyncResource = resource;
    return bound;
  };
  Object.defineProperty(bind, INSTALLED, { value: true });
  AsyncResource.prototype.bind = bind as unknown as typeof original;
  youngCalls.asyncResourceBind = true;
}

installClientConnections();
installAsyncResourceBind();
