/** The thread of createUblThread: reads each file it is sent and renders it when asked (see ubl-thread.ts). */
import { parentPort } from 'node:worker_threads';
import { toPlainError } from '@kantoor/errors';
import { pdfRendition, readUbl } from './read-ubl';
import { renderInvoicePdf } from './render-invoice';
import type { UblAnswer, UblJob } from './ubl-thread';

const port = parentPort!;

async function answer(job: UblJob): Promise<void> {
  try {
    const invoice = readUbl(job.bytes, { maxBytes: job.maxBytes });
    const embedded = job.render === 'always' ? undefined : pdfRendition(invoice);
    const rendered = embedded ? undefined : await renderInvoicePdf(invoice);
    port.postMessage({ ok: true, reading: { invoice, embedded, rendered } } satisfies UblAnswer);
  } catch (error) {
    port.postMessage({ ok: false, error: toPlainError(error) } satisfies UblAnswer);
  }
}

port.on('message', (job: UblJob) => void answer(job));
