/**
 * Reading UBL files on a thread of their own (createUblThread): the same invoice as readUbl, the same refusals,
 * and a file that needs more memory or time than the thread has is refused while the caller's thread runs on.
 * The thread runs the compiled code (dist/ubl-worker.js): the build comes before the tests.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PDFDocument } from 'pdf-lib';
import { createUblThread, readUbl, type UblThread } from '../src';
import { minimal, SAMPLES } from './ubl-documents';

const example = readFileSync(path.join(SAMPLES, 'base-example.xml'), 'utf8');
/** The base example with `count` copies of its first line: 1,000 lines are about 1.3 MB. */
const withLines = (count: number) => {
  const line = /<cac:InvoiceLine>[\s\S]*?<\/cac:InvoiceLine>/.exec(example)![0];
  return Buffer.from(example.replace(line, line.repeat(count)));
};

let thread: UblThread;
beforeAll(() => {
  thread = createUblThread();
});
afterAll(() => thread.close());

describe('a UBL file read on a thread of its own', () => {
  it('gives the invoice readUbl gives, and the invoice rendered as a PDF when it embeds none', async () => {
    const bytes = readFileSync(path.join(SAMPLES, 'base-example.xml'));
    const reading = await thread.read(bytes);
    expect(reading.invoice).toEqual(readUbl(bytes));
    expect(reading.embedded).toBeUndefined();
    expect((await PDFDocument.load(reading.rendered!)).getPageCount()).toBeGreaterThanOrEqual(1);
  });

  it('gives the embedded PDF and renders nothing, unless asked to render', async () => {
    const pdf = await PDFDocument.create();
    pdf.addPage();
    const embedded = Buffer.from(await pdf.save());
    const xml = minimal(`<cac:AdditionalDocumentReference><cbc:ID>F-2026-7</cbc:ID>
      <cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="F-2026-7.pdf">${embedded.toString('base64')}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference>`);
    const reading = await thread.read(Buffer.from(xml));
    expect(reading.embedded?.filename).toBe('F-2026-7.pdf');
    expect(Buffer.from(reading.embedded!.content!).equals(embedded)).toBe(true);
    expect(reading.rendered).toBeUndefined();
    const rendered = await thread.read(Buffer.from(xml), { render: 'always' });
    expect(rendered.embedded).toBeUndefined();
    expect((await PDFDocument.load(rendered.rendered!)).getPageCount()).toBe(1);
  });

  it("refuses what readUbl refuses, with readUbl's reason and message", async () => {
    const dtd = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Invoice>&e;</Invoice>';
    await expect(thread.read(Buffer.from(dtd))).rejects.toMatchObject({
      name: 'DomainError',
      kind: 'invalid_argument',
      reason: 'ubl_dtd_refused',
      message: expect.stringContaining('DTD or entities'),
    });
    await expect(thread.read(Buffer.from(example), { maxBytes: 1000 })).rejects.toMatchObject({
      reason: 'ubl_too_large',
    });
    await expect(thread.read(Buffer.from(example.replace('<cbc:ID>Snippet1</cbc:ID>', '')))).rejects.toMatchObject({
      reason: 'ubl_missing_field',
    });
  });

  it('refuses a file that needs more memory than the thread has, and reads the next file', async () => {
    const small = createUblThread({ maxMemoryMb: 32 });
    try {
      await expect(small.read(withLines(6000), { maxBytes: 50 << 20 })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'ubl_too_complex',
        message: expect.stringContaining('needs more than 32 MB of memory'),
      });
      expect((await small.read(Buffer.from(example))).invoice.number).toBe('Snippet1');
    } finally {
      await small.close();
    }
  });

  it('refuses a file that takes longer than the time allowed, and reads the next file', async () => {
    const hurried = createUblThread({ timeoutMs: 300 });
    try {
      await expect(hurried.read(withLines(6000), { maxBytes: 50 << 20 })).rejects.toMatchObject({
        reason: 'ubl_too_complex',
        message: expect.stringContaining('takes longer than 300 ms'),
      });
      expect((await hurried.read(Buffer.from(example))).invoice.number).toBe('Snippet1');
    } finally {
      await hurried.close();
    }
  });

  it("leaves the caller's thread free while a large file is read, and reads files in the order asked", async () => {
    let turns = 0;
    const ticker = setInterval(() => turns++, 10);
    const started = Date.now();
    try {
      const order: string[] = [];
      const large = thread.read(withLines(3000), { maxBytes: 50 << 20 }).then(() => order.push('large'));
      const next = thread.read(Buffer.from(example)).then(() => order.push('small'));
      await Promise.all([large, next]);
      expect(order).toEqual(['large', 'small']);
    } finally {
      clearInterval(ticker);
    }
    // reading and rendering took seconds; the timer kept firing all along (every 10 ms, a third of the turns at least)
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThan(500);
    expect(turns).toBeGreaterThan(elapsed / 30);
  });

  it('waits for the files asked for when closed, and refuses more', async () => {
    const closing = createUblThread();
    const pending = closing.read(Buffer.from(example));
    await closing.close();
    expect((await pending).invoice.number).toBe('Snippet1');
    await expect(closing.read(Buffer.from(example))).rejects.toThrow('closed');
  });
});
