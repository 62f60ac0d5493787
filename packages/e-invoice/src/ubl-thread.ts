/**
 * Reading a UBL file and rendering it as a PDF on a thread of its own. Both are CPU work that grows with the
 * file (an invoice of 7,700 lines, 10 MiB: 1 s to read, 3.6 s to render, about 390 MB of memory): on a service's
 * own thread that would hold up every other request meanwhile, and a few such files at once could take the
 * process past its memory limit and stop it, with everyone's work in flight. The thread has a memory limit and a
 * time limit of its own: a file that needs more is refused (`ubl_too_complex`) and the service carries on.
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { fromPlainError, invalidArgument, isDomainError, type PlainError } from '@kantoor/errors';
import type { Attachment, EInvoice } from './model';

/** What the thread made of a file: the invoice, and its PDF, embedded by the sender or else rendered. */
export interface UblReading {
  invoice: EInvoice;
  /** the PDF the sender embedded (pdfRendition), unless `render: 'always'` */
  embedded?: Attachment;
  /** the invoice rendered as a PDF, when nothing is embedded or `render: 'always'` */
  rendered?: Uint8Array;
}

export interface UblThreadOptions {
  /** the thread's heap; a file that needs more is refused. Default 256 MB */
  maxMemoryMb?: number;
  /** time for one file; a file that takes longer is refused. Default 120 s */
  timeoutMs?: number;
  /** a thread without work stops after this long (a new one starts in about 0.2 s). Default 60 s */
  idleMs?: number;
}

export interface UblThread {
  /** Reads one file (one at a time, in the order asked); refusals are readUbl's, or `ubl_too_complex`. */
  read(bytes: Uint8Array, options?: UblReadOptions): Promise<UblReading>;
  /** Waits for the files asked for, then stops the thread. */
  close(): Promise<void>;
}

/** render the invoice as a PDF only when it embeds none, or always */
export type UblRender = 'unless-embedded' | 'always';

export interface UblReadOptions {
  /** refuse larger files before parsing (readUbl's maxBytes) */
  maxBytes?: number;
  /** default 'unless-embedded' */
  render?: UblRender;
}

/** What the thread is sent, and what it answers. */
export interface UblJob {
  bytes: Uint8Array;
  maxBytes?: number;
  render: UblRender;
}
export type UblAnswer = { ok: true; reading: UblReading } | { ok: false; error: PlainError };

// from src (tests) and from dist alike: the compiled script
const WORKER_SCRIPT = path.join(__dirname, '..', 'dist', 'ubl-worker.js');

const tooComplex = (what: string) =>
  invalidArgument(`The XML file ${what}; it is refused so that other files are not held up.`, {
    reason: 'ubl_too_complex',
  });

export function createUblThread(options: UblThreadOptions = {}): UblThread {
  const maxMemoryMb = options.maxMemoryMb ?? 256;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const idleMs = options.idleMs ?? 60_000;
  let worker: Worker | undefined;
  let idle: NodeJS.Timeout | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  function started(): Worker {
    const fresh = new Worker(WORKER_SCRIPT, {
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb, maxYoungGenerationSizeMb: 16 },
    });
    // an error after its file was answered (none is expected) must not become an uncaught one
    fresh.on('error', () => undefined);
    // a thread waiting for work does not keep the process alive
    fresh.unref();
    return fresh;
  }

  function stopWorker(stopped: Worker | undefined) {
    if (worker === stopped) worker = undefined;
    void stopped?.terminate();
  }

  function run(job: UblJob): Promise<UblReading> {
    clearTimeout(idle);
    const current = (worker ??= started());
    return new Promise<UblReading>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish();
        stopWorker(current);
        reject(
          tooComplex(
            `takes longer than ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`} to read`,
          ),
        );
      }, timeoutMs);
      const onMessage = (answer: UblAnswer) => {
        finish();
        if (answer.ok) return resolve(answer.reading);
        const error = fromPlainError(answer.error);
        reject(isDomainError(error) ? error : new Error(`reading the UBL file failed: ${error.message}`));
      };
      const onError = (error: Error & { code?: string }) => {
        finish();
        stopWorker(current);
        reject(
          error.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? tooComplex(`needs more than ${maxMemoryMb} MB of memory to read`)
            : error,
        );
      };
      const onExit = (code: number) => {
        finish();
        stopWorker(current);
        reject(new Error(`the thread reading UBL files stopped (exit code ${code})`));
      };
      function finish() {
        clearTimeout(timer);
        current.off('message', onMessage).off('error', onError).off('exit', onExit);
      }
      current.on('message', onMessage).on('error', onError).on('exit', onExit);
      // one copy of only this file's bytes (a Buffer may be a view on a larger one), moved to the thread
      const bytes = new Uint8Array(job.bytes);
      current.postMessage({ ...job, bytes } satisfies UblJob, [bytes.buffer]);
    }).finally(() => {
      if (worker && !closed) idle = setTimeout(() => stopWorker(worker), idleMs).unref();
    });
  }

  return {
    read(bytes, readOptions = {}) {
      if (closed) return Promise.reject(new Error('the thread reading UBL files is closed'));
      const job: UblJob = { bytes, maxBytes: readOptions.maxBytes, render: readOptions.render ?? 'unless-embedded' };
      const result = queue.then(() => run(job));
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      closed = true;
      await queue;
      clearTimeout(idle);
      const last = worker;
      worker = undefined;
      await last?.terminate();
    },
  };
}
