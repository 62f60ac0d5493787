import {
  ROOT_CONTEXT,
  TraceFlags,
  context,
  createTraceState,
  propagation,
  trace,
  type Context,
  type ContextManager,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { extractTraceContext, injectTraceHeaders } from './trace-headers';

/** Enough of a context manager to make `context.with` set the active context for synchronous code. */
class SynchronousContextManager implements ContextManager {
  private stack: Context[] = [ROOT_CONTEXT];
  active() {
    return this.stack[this.stack.length - 1];
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ) {
    this.stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T) {
    return target;
  }
  enable() {
    return this;
  }
  disable() {
    this.stack = [ROOT_CONTEXT];
    return this;
  }
}

const requestSpan = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.SAMPLED,
  traceState: createTraceState('kantoor=gateway'),
};

describe('trace headers', () => {
  it('adds nothing while telemetry has registered no propagator', () => {
    const headers = injectTraceHeaders({ 'event-id': 'e1' }, trace.setSpanContext(ROOT_CONTEXT, requestSpan));
    expect(headers).toEqual({ 'event-id': 'e1' });
  });

  describe('with the W3C propagator registered', () => {
    beforeAll(() => {
      context.setGlobalContextManager(new SynchronousContextManager());
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    });
    afterAll(() => {
      propagation.disable();
      context.disable();
    });

    it('carries the active span context through event headers to the consumer', () => {
      const published = { 'event-id': 'e1' };
      const headers = context.with(trace.setSpanContext(ROOT_CONTEXT, requestSpan), () =>
        injectTraceHeaders(published),
      );

      expect(headers).toEqual({
        'event-id': 'e1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'kantoor=gateway',
      });
      expect(published).toEqual({ 'event-id': 'e1' });

      const consumed = trace.getSpanContext(extractTraceContext(headers));
      expect(consumed).toMatchObject({
        traceId: requestSpan.traceId,
        spanId: requestSpan.spanId,
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      });
      expect(consumed?.traceState?.serialize()).toBe('kantoor=gateway');
    });

    it('leaves a record without trace headers outside any trace, and ignores a malformed traceparent', () => {
      expect(trace.getSpanContext(extractTraceContext({ 'event-id': 'e1' }))).toBeUndefined();
      expect(trace.getSpanContext(extractTraceContext({ traceparent: '00-not-a-trace-01' }))).toBeUndefined();
      expect(injectTraceHeaders({ 'event-id': 'e1' })).toEqual({ 'event-id': 'e1' });
    });
  });
});
