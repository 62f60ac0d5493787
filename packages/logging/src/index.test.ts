import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT, trace, TraceFlags, type Context, type ContextManager } from '@opentelemetry/api';
import { DomainError } from '@kantoor/errors';
import { activeRequestId, contextWithRequestId, createLogger, REDACTED } from './index';

/** Test-only stand-in for the AsyncLocalStorage context manager that telemetry registers in a real process. */
class TestContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active = () => this.storage.getStore() ?? ROOT_CONTEXT;
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ) {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(_ctx: Context, target: T) {
    return target;
  }
  enable = () => this;
  disable = () => {
    this.storage.disable();
    return this;
  };
}

beforeAll(() => context.setGlobalContextManager(new TestContextManager()));
afterAll(() => context.disable());

function capture() {
  const raw: string[] = [];
  return {
    raw,
    destination: { write: (line: string) => void raw.push(line) },
    lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

const spanContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
};

describe('createLogger', () => {
  it('writes one JSON line with service, ISO time, level label and message', () => {
    const out = capture();
    createLogger({ service: 'invoicing', destination: out.destination }).info({ run_id: 'r1' }, 'invoice run started');
    const [line] = out.lines();
    expect(line).toMatchObject({ service: 'invoicing', level: 'info', run_id: 'r1', msg: 'invoice run started' });
    expect(new Date(line.time as string).toISOString()).toBe(line.time);
  });

  it('stamps the active trace and span ids on lines logged inside a span, also through child loggers', () => {
    const out = capture();
    const logger = createLogger({ service: 'archive', destination: out.destination });
    const inSpan = trace.setSpan(context.active(), trace.wrapSpanContext(spanContext));
    context.with(inSpan, () => {
      logger.info('document archived');
      logger.child({ dossier_id: 'd-7' }).warn('retention date missing');
    });
    logger.info('outside any request');

    const [inside, child, outside] = out.lines();
    expect(inside).toMatchObject({ trace_id: spanContext.traceId, span_id: spanContext.spanId });
    expect(child).toMatchObject({
      trace_id: spanContext.traceId,
      span_id: spanContext.spanId,
      dossier_id: 'd-7',
      service: 'archive',
    });
    expect(outside).not.toHaveProperty('trace_id');
    expect(outside).not.toHaveProperty('span_id');
  });

  it('stamps the request id of the work under way (contextWithRequestId), and none outside it', () => {
    const out = capture();
    const logger = createLogger({ service: 'directory', destination: out.destination });
    context.with(contextWithRequestId('req-9'), () => logger.child({ firm_id: 'f-1' }).info('staff invited'));
    context.with(contextWithRequestId(undefined), () => logger.info('a scheduled purge'));
    expect(context.with(contextWithRequestId('req-9'), activeRequestId)).toBe('req-9');
    const [inside, outside] = out.lines();
    expect(inside).toMatchObject({ request_id: 'req-9', firm_id: 'f-1' });
    expect(outside).not.toHaveProperty('request_id');
  });

  it('leaves out the ids of an invalid span context', () => {
    const out = capture();
    const logger = createLogger({ service: 'archive', destination: out.destination });
    context.with(trace.setSpan(ROOT_CONTEXT, trace.wrapSpanContext({ ...spanContext, traceId: '0'.repeat(32) })), () =>
      logger.info('x'),
    );
    expect(out.lines()[0]).not.toHaveProperty('trace_id');
  });

  it('never writes secrets, wherever they sit in the logged object or error', () => {
    const secrets = {
      password: 'hunter2-top',
      user: { email: 'an@firm.be', password: 'hunter2-nested' },
      smtp: { host: 'smtp.firm.be', pass: 'smtp-pass-value' },
      auth: { user: 'mailer', pass: 'auth-pass-value' },
      token: 'tok-top',
      session: { accessToken: 'access-value', refreshToken: 'refresh-value', token: 'session-token' },
      exact: { apiKey: 'api-key-value', secret: 'client-secret-value', config: { clientSecret: 'deep-secret-value' } },
      req: {
        method: 'GET',
        headers: { authorization: 'Bearer jwt-value', cookie: 'sid=cookie-value', 'x-api-key': 'header-key-value' },
      },
      headers: { authorization: 'Basic top-header-value' },
      DATABASE_URL: 'postgres://app:db-password@db/kantoor',
      connector: { exact: { division: 42, oauth: { exactRefreshToken: 'three-deep-value' } } },
      recipients: [{ address: 'a@firm.be', smtpPassword: 'array-item-value' }],
    };
    const error = Object.assign(new Error('SMTP login refused'), {
      config: { password: 'error-config-password' },
      token: 'error-token',
    });
    const out = capture();
    const logger = createLogger({
      service: 'notification',
      destination: out.destination,
      redact: ['mailbox.credentials.pin'],
    });
    logger.info(secrets, 'sending');
    logger.error({ err: error }, 'send failed');
    logger
      .child({ token: 'child-binding-token' })
      .child({ job: { apiKey: 'grandchild-key' } })
      .info('bound');
    logger.info({ mailbox: { credentials: { user: 'u', pin: 'extra-path-value' } } }, 'extra');

    const written = out.raw.join('');
    for (const value of [
      'hunter2',
      'smtp-pass-value',
      'auth-pass-value',
      'tok-top',
      'access-value',
      'refresh-value',
      'session-token',
      'api-key-value',
      'client-secret-value',
      'deep-secret-value',
      'jwt-value',
      'cookie-value',
      'header-key-value',
      'top-header-value',
      'db-password',
      'three-deep-value',
      'array-item-value',
      'error-config-password',
      'error-token',
      'child-binding-token',
      'grandchild-key',
      'extra-path-value',
    ]) {
      expect(written).not.toContain(value);
    }
    const [sending] = out.lines();
    expect(sending).toMatchObject({
      user: { email: 'an@firm.be', password: REDACTED },
      smtp: { host: 'smtp.firm.be', pass: REDACTED },
    });
    expect(sending.req).toMatchObject({ method: 'GET', headers: { authorization: REDACTED } });
    expect(sending.recipients).toEqual([{ address: 'a@firm.be', smtpPassword: REDACTED }]);
    expect(secrets.user.password).toBe('hunter2-nested');
    expect(error.token).toBe('error-token');
  });

  it('serializes errors with type, message, stack, domain fields and cause', () => {
    const out = capture();
    const cause = new Error('connection reset');
    const error = new DomainError('unavailable', 'Exact Online did not answer', { reason: 'peer_unavailable', cause });
    createLogger({ service: 'accounting-connector', destination: out.destination }).error(
      { err: error },
      'sync failed',
    );
    const { err } = out.lines()[0] as { err: Record<string, unknown> };
    expect(err).toMatchObject({ type: 'DomainError', kind: 'unavailable', reason: 'peer_unavailable' });
    expect(err.message).toContain('Exact Online did not answer');
    expect(err.stack).toEqual(expect.stringContaining('DomainError'));
    expect(JSON.stringify(err)).toContain('connection reset');
  });

  it('writes no e-mail address an error quotes, under err or error, in its message, fields or cause', () => {
    const out = capture();
    const rejected = Object.assign(
      new Error(
        "Can't send mail - all recipients were rejected: 550 5.1.1 <jan.peeters@klant.example>: Recipient address rejected",
      ),
      {
        response: '550 5.1.1 <jan.peeters@klant.example>: Recipient address rejected',
        rejected: ['jan.peeters@klant.example'],
      },
    );
    const logger = createLogger({ service: 'notification', destination: out.destination });
    logger.error({ err: new Error('mail failed', { cause: rejected }) }, 'mail failed');
    logger.warn({ error: 'Duplicate key: (email)=(an.smet+facturen@kantoor-peeters.be) already exists' }, 'refused');
    const written = out.raw.join('');
    expect(written).not.toMatch(/jan\.peeters|an\.smet|klant\.example|kantoor-peeters\.be/);
    const [first, second] = out.lines() as Array<{ err?: { message: string }; error?: string }>;
    expect(first.err!.message).toBe('mail failed');
    expect(JSON.stringify(first.err)).toContain('550 5.1.1 <[e-mail address]>: Recipient address rejected');
    expect(second.error).toBe('Duplicate key: (email)=([e-mail address]) already exists');
    // what is not an address stays: package paths with @ in a stack, a message without one
    expect(JSON.stringify(first.err)).toContain('index.test.ts');
  });

  it('writes an error quoting a long text with an @ in it in moments, its addresses still replaced', () => {
    const out = capture();
    // a run of 300,000 address characters that is not an address: every start in it was read to its end
    const text = `${'x'.repeat(300_000)} meldt <an@klant.example> @`;
    const started = Date.now();
    createLogger({ service: 'notification', destination: out.destination }).warn({ error: text }, 'refused');
    expect(Date.now() - started).toBeLessThan(1000);
    const [line] = out.lines() as Array<{ error: string }>;
    expect(line.error.endsWith(' meldt <[e-mail address]> @')).toBe(true);
  });

  it('drops lines below the configured level', () => {
    const out = capture();
    const logger = createLogger({ service: 'backup', level: 'warn', destination: out.destination });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(out.lines().map((line) => line.level)).toEqual(['warn', 'error']);
    expect(
      createLogger({ service: 'backup', level: 'silent', destination: out.destination }).isLevelEnabled('fatal'),
    ).toBe(false);
  });

  it('refuses an unknown level naming the accepted ones', () => {
    expect(() => createLogger({ service: 'backup', level: 'verbose' })).toThrow(
      expect.objectContaining({
        kind: 'invalid_argument',
        reason: 'unknown_log_level',
        message: expect.stringContaining('debug'),
      }),
    );
  });
});
