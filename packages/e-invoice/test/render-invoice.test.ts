/**
 * The PDF the platform renders for an e-invoice that came without one, read back as text: what an accountant
 * reads the invoice for is on it, long invoices continue on the next pages, and no name breaks the renderer.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PDFDocument, StandardFonts, type PDFFont } from 'pdf-lib';
import { pdfText, type PdfText } from '@kantoor/testing';
import { readUbl, renderInvoicePdf, type EInvoice, type InvoiceLine } from '../src';
import { wrap } from '../src/text-pdf';
import { SAMPLES, sampleFiles } from './ubl-documents';

const sample = (file: string) => readUbl(readFileSync(path.join(SAMPLES, file)));
const rendered = async (invoice: EInvoice) => pdfText(await renderInvoicePdf(invoice));
/** the text with every run of white space as one space: values are found whatever line they stand on */
const flat = (text: PdfText) => text.text.replace(/\s+/g, ' ');
/** each of `expected` is in `text` */
const expectShown = (text: string, expected: Array<string | RegExp>) => {
  for (const value of expected) {
    if (typeof value === 'string') expect(text).toContain(value);
    else expect(text).toMatch(value);
  }
};

let fonts: Record<string, PDFFont>;
beforeAll(async () => {
  const scratch = await PDFDocument.create();
  fonts = {
    Helvetica: await scratch.embedFont(StandardFonts.Helvetica),
    'Helvetica-Bold': await scratch.embedFont(StandardFonts.HelveticaBold),
  };
});

/** every piece of text lies inside the page, 40 points clear of its edges (the footer 20 from the bottom) */
function expectAllOnThePage(text: PdfText): void {
  const outside = text.items.filter((item) => {
    const page = text.pageSizes[item.page - 1];
    const right = item.x + fonts[item.font].widthOfTextAtSize(item.text, item.size);
    return item.x < 40 || right > page.width - 40 || item.y < 20 || item.y > page.height - 40;
  });
  expect(outside).toEqual([]);
  expect(text.items.length).toBeGreaterThan(0);
}

describe('the rendered PDF of every OpenPEPPOL example', () => {
  it.each(sampleFiles)('%s shows the parties, lines, VAT, totals and payment', async (file) => {
    const invoice = sample(file);
    const text = await rendered(invoice);
    const all = flat(text);
    const show = (value: string | undefined) => value && expect(all).toContain(value.replace(/\s+/g, ' '));
    show(`${invoice.kind === 'credit_note' ? 'Credit note' : 'Invoice'} ${invoice.number}`);
    show(`Issue date ${invoice.issueDate}`);
    show(invoice.dueDate && `Due date ${invoice.dueDate}`);
    show(invoice.taxPointDate && `Tax point date ${invoice.taxPointDate}`);
    show(`Currency ${invoice.currency}`);
    show(invoice.buyerReference && `Buyer reference ${invoice.buyerReference}`);
    show(invoice.orderReference && `Order reference ${invoice.orderReference}`);
    show(invoice.contractReference && `Contract reference ${invoice.contractReference}`);
    show(invoice.projectReference && `Project reference ${invoice.projectReference}`);
    for (const party of [invoice.seller, invoice.buyer]) {
      show(party.name);
      show(party.vatNumber && `VAT number ${party.vatNumber}`);
      show(party.legalId && `Legal registration ${party.legalId.value}`);
      show(party.address?.city);
    }
    for (const note of invoice.note?.split('\n') ?? []) show(note);
    show(invoice.delivery?.date && `Delivery date ${invoice.delivery.date}`);
    for (const line of invoice.lines) {
      show(line.itemName);
      for (const charge of line.allowanceCharges) show(charge.reason);
    }
    for (const charge of invoice.allowanceCharges) show(charge.reason);
    for (const row of invoice.vatBreakdown) {
      show(row.category.exemptionReason);
      show(`${row.taxAmount.value.includes('.') ? row.taxAmount.value : `${row.taxAmount.value}.00`}`);
    }
    show(`Total without VAT ${Number(invoice.totals.taxExclusive.value).toFixed(2)}`);
    show(`Amount due ${Number(invoice.totals.payable.value).toFixed(2)} ${invoice.totals.payable.currency}`);
    for (const means of invoice.paymentMeans) {
      show(means.account && `Account (IBAN) ${means.account.id}`);
      show(means.account?.bic && `BIC ${means.account.bic}`);
      show(means.paymentId);
    }
    show(invoice.paymentTerms);
    for (const attachment of invoice.attachments) show(attachment.filename ?? attachment.id);
    // the table of lines has its header, and every page its number
    expect(all).toContain('# Item Quantity Unit price VAT Net amount');
    text.pages.forEach((lines, index) => expect(lines.at(-1)).toMatch(`page ${index + 1} of ${text.pages.length}`));
    expectAllOnThePage(text);
  });

  it('the base example, as its accountant reads it', async () => {
    expectShown(flat(await rendered(sample('base-example.xml'))), [
      'Type Invoice: Commercial invoice (380)',
      'SupplierOfficialName Ltd Buyer Official Name',
      'Main street 1 Hovedgatan 32',
      'VAT number GB1232434 VAT number SE4598375937',
      'Legal registration GB983294 Legal registration 39937423947 (scheme 0183)',
      'Delivery date 2017-11-01',
      'Address Delivery street 2 Building 56 21234 Stockholm SE',
      // line 1: 7 days at 400.00, VAT S 25%, 2800.00
      '1 item name 7 day 400.00 S 25% 2800.00',
      'Charge: Insurance S 25% 25.00 EUR',
      'Standard rate (S) 25% 1325.00 EUR 331.25 EUR',
      'Sum of line net amounts 1300.00 EUR',
      'Charges on the document 25.00 EUR',
      'Total with VAT 1656.25 EUR',
      'Amount due 1656.25 EUR',
      'Account (IBAN) IBAN32423940',
      'BIC BIC324098',
      'Payment reference Snippet1',
      'Payment terms: Payment within 10 days, 2% discount',
    ]);
  });

  it('a credit note names the invoice it corrects', async () => {
    const note = sample('base-creditnote-correction.xml');
    const all = flat(await rendered(note));
    expectShown(all, [
      `Credit note ${note.number}`,
      'Type Credit note: Credit note (381)',
      `Credited invoice ${note.billingReferences[0].id}`,
    ]);
  });

  it('allowances and charges with their reasons, on the price, the lines and the document', async () => {
    const all = flat(await rendered(sample('Allowance-example.xml')));
    expectShown(all, [
      'Price after a discount of 40.00 EUR on 450.00 EUR',
      'Charge: Cleaning (CG), 1% of 100.00 EUR: 1.00 EUR',
      'Allowance: Discount (95): 101.00 EUR',
      'Charge: Cleaning (CG), 20% of 1000.00 EUR S 25% 200.00 EUR',
      'Allowances on the document 200.00 EUR',
      'Exempt from VAT (E) 0% 1000.00 EUR 0.00 EUR Exemption: Reason for tax exempt',
      'VAT in the accounting currency 9324.00 SEK',
      'Paid in advance 1000.00 EUR',
      'Notes Please note we have a new phone number: 22 22 22 22',
    ]);
  });

  it('the Norwegian example: its exemption, rounding, attachments (listed by name, not embedded)', async () => {
    const invoice = sample('Norwegian-example-1.xml');
    const all = flat(await rendered(invoice));
    expectShown(all, [
      'Allowance: Promotion discount',
      'Charge: Freight',
      'Exemption: Exempt New Means of Transport',
      `Rounding ${invoice.totals.payableRounding!.value}`,
      'Attached documents',
      /Hours-spent\.csv.*attached file of \d+ bytes, not shown here/,
      `Amount due ${invoice.totals.payable.value}`,
    ]);
  });
});

describe('a long invoice', () => {
  const LINES = 120;
  // longer than a page: the row itself continues on the next page
  const longDescription = Array.from({ length: 1200 }, (_, i) => `word${i}`).join(' ');
  const invoiceOf = (base: EInvoice): EInvoice => ({
    ...base,
    note: `${'A long remark that goes on. '.repeat(40)}End of remark.`,
    lines: Array.from({ length: LINES }, (_, i): InvoiceLine => ({
      ...base.lines[0],
      id: `L${i + 1}`,
      itemName: `Article ${i + 1}`,
      description: i === 57 ? longDescription : `Description of article ${i + 1}`,
      lineExtensionAmount: { value: String(100 + i), currency: 'EUR' },
    })),
  });

  let text: PdfText;
  beforeAll(async () => {
    text = await rendered(invoiceOf(sample('base-example.xml')));
  });

  it('continues on the next pages: every line once and in order, the header on each page, nothing off a page', async () => {
    expect(text.pages.length).toBeGreaterThan(3);
    const lineIds = text.items.filter((item) => /^L\d+$/.test(item.text)).map((item) => item.text);
    expect(lineIds).toEqual(Array.from({ length: LINES }, (_, i) => `L${i + 1}`));
    // every page the table runs over starts it with its header
    const tablePages = [...new Set(text.items.filter((item) => /^L\d+$/.test(item.text)).map((item) => item.page))];
    expect(tablePages.length).toBeGreaterThan(2);
    for (const page of tablePages)
      expect(text.pages[page - 1]).toEqual(expect.arrayContaining(['# Item Quantity Unit price VAT Net amount']));
    // the last line's amount, and what comes after the table, are there
    expectShown(flat(text), [
      `L${LINES} Article ${LINES} 7 day 400.00 S 25% ${100 + LINES - 1}.00`,
      'Amount due 1656.25 EUR',
    ]);
    expectAllOnThePage(text);
  });

  it('wraps long text to the page and loses none of it', async () => {
    expect(flat(text)).toContain(`${'A long remark that goes on. '.repeat(40)}End of remark.`.trim());
    // the long description runs down the item column, word after word
    const itemColumn = text.items.filter((item) => /^word\d+/.test(item.text));
    expect(itemColumn.length).toBeGreaterThan(10);
    expect(new Set(itemColumn.map((item) => item.x)).size).toBe(1);
    expect(itemColumn.map((item) => item.text).join(' ')).toBe(longDescription);
    expect(new Set(itemColumn.map((item) => item.page)).size).toBeGreaterThan(1);
    expectAllOnThePage(text);
  });
});

describe('names outside Latin-1', () => {
  it('are printed with a visible "?" for what the font cannot show, and never break the renderer', async () => {
    const base = sample('base-example.xml');
    const invoice: EInvoice = {
      ...base,
      seller: { ...base.seller, name: 'Łódź Spółka z o.o.', address: { city: 'Kraków', country: 'PL' } },
      buyer: { ...base.buyer, name: 'Αθήνα Ε.Π.Ε.' },
      note: 'Café Zürich, Šibenik, 10 € — e\u0301 \u{1F600} \uD800',
      lines: [{ ...base.lines[0], itemName: '東京の部品' }, ...base.lines.slice(1)],
    };
    const text = await rendered(invoice);
    const all = flat(text);
    expectShown(all, ['?ód? Spó?ka z o.o.', 'Kraków', '????? ?.?.?.']);
    // one "?" per character, Latin-1 and the rest of WinAnsi kept, a composed é put together
    expectShown(all, [
      '1 ????? 7 day 400.00',
      'Café Zürich, Šibenik, 10 € — é ? ?',
      'Characters this PDF cannot show are printed as "?"',
    ]);
    expectAllOnThePage(text);
  });

  it('say nothing about replaced characters when there are none', async () => {
    expect(flat(await rendered(sample('base-example.xml')))).not.toContain('cannot show');
  });
});

describe('wrapping text to a width', () => {
  const width = 120;
  const widthOf = (line: string) => fonts.Helvetica.widthOfTextAtSize(line, 10);

  it('cuts a word longer than a line into lines that fit, losing no character', () => {
    const word = 'NL91ABNA0417164300'.repeat(500);
    const lines = wrap(`Rekening ${word} betaald`, fonts.Helvetica, 10, width);
    expect(lines[0]).toBe('Rekening');
    expect(lines.at(-1)).toMatch(/ betaald$/);
    expect(lines.join('').replace('Rekening', '').replace(' betaald', '')).toBe(word);
    expect(lines.filter((line) => widthOf(line) > width)).toEqual([]);
  });

  it('puts at least one character on a line narrower than any character, and keeps words whole that fit', () => {
    expect(wrap('WWW', fonts.Helvetica, 10, 2)).toEqual(['W', 'W', 'W']);
    expect(wrap('Brood en koffie voor het kantoor', fonts.Helvetica, 10, width)).toEqual([
      'Brood en koffie voor het',
      'kantoor',
    ]);
  });
});
