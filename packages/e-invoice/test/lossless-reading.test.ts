import { readFileSync } from 'node:fs';
import path from 'node:path';
import Decimal from 'decimal.js';
import { XMLParser } from 'fast-xml-parser';
import { readUbl, type EInvoice } from '../src';
import { SAMPLES, sampleFiles } from './ubl-documents';

const RARE_TERMS = path.join(__dirname, 'fixtures/rare-business-terms.xml');
const UBL_BE_TERMS = path.join(__dirname, 'fixtures/ubl-be-terms.xml');

/** Values the model does not keep, each because a writer can put them back without being told. */
const IMPLIED = [
  // EN 16931 has one tax scheme; a party's VAT PartyTaxScheme is its vatNumber, the others its taxRegistrations
  { path: /\/TaxScheme\/ID$/, value: 'VAT' },
  // UNCL5305 is the only code list a VAT category (BT-95, BT-102, BT-118, BT-151) may come from
  { path: /TaxCategory\/ID@schemeID$/, value: 'UNCL5305' },
  // a line's DocumentReference is only ever its invoiced object (BT-128, PEPPOL-EN16931-R101), code 130
  { path: /Line\/DocumentReference\/DocumentTypeCode$/, value: '130' },
];

interface Occurrence {
  path: string;
  value: string;
}

type Ordered = Array<Record<string, unknown>>;

/** Every element text and attribute value of the document, with its path, as written. */
function occurrencesIn(xml: string): Occurrence[] {
  const tree = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
  }).parse(xml) as Ordered;
  const found: Occurrence[] = [];
  const walk = (nodes: Ordered, at: string) => {
    for (const node of nodes) {
      const name = Object.keys(node).find((key) => key !== ':@');
      if (name === undefined || name === '?xml') continue;
      if (name === '#text') {
        found.push({ path: at, value: String(node[name]) });
        continue;
      }
      const here = `${at}/${name}`;
      for (const [attribute, value] of Object.entries((node[':@'] ?? {}) as Record<string, unknown>)) {
        if (!attribute.startsWith('xmlns')) found.push({ path: `${here}@${attribute}`, value: String(value) });
      }
      walk(node[name] as Ordered, here);
    }
  };
  walk(tree, '');
  return found.filter((occurrence) => occurrence.value !== '');
}

/** Every value in the model, as text; embedded files as the base64 they were sent in. */
function valuesIn(value: unknown, into: string[] = []): string[] {
  if (value instanceof Uint8Array) into.push(Buffer.from(value).toString('base64'));
  else if (typeof value === 'string') into.push(value, ...(value.includes('\n') ? value.split('\n') : []));
  else if (typeof value === 'boolean') into.push(String(value));
  else if (Array.isArray(value)) value.forEach((item) => valuesIn(item, into));
  else if (value && typeof value === 'object') Object.values(value).forEach((item) => valuesIn(item, into));
  return into;
}

/** "25.0" and "25" are one value: the model keeps decimals canonical. */
const canonical = (value: string) =>
  /^[+-]?(\d+\.?\d*|\.\d+)$/.test(value) ? new Decimal(value).toFixed() : value.replace(/\s+/g, ' ');

/**
 * The values of the document that the model lacks. Counted, not just looked up: a value written three times
 * must be in the model three times, so a dropped element is not hidden by the same value elsewhere.
 */
function droppedFrom(xml: string, invoice: EInvoice): string[] {
  const kept = new Map<string, number>();
  for (const value of valuesIn(invoice)) kept.set(canonical(value), (kept.get(canonical(value)) ?? 0) + 1);
  const dropped: string[] = [];
  for (const { path: at, value } of occurrencesIn(xml)) {
    if (IMPLIED.some((implied) => implied.path.test(at) && implied.value === value)) continue;
    const key = canonical(at.endsWith('EmbeddedDocumentBinaryObject') ? value.replace(/\s+/g, '') : value);
    const left = kept.get(key) ?? 0;
    if (left === 0) dropped.push(`${at} = ${value}`);
    else kept.set(key, left - 1);
  }
  return dropped;
}

const read = (file: string) => readUbl(readFileSync(path.join(SAMPLES, file)));

describe('reading keeps every business term', () => {
  it.each([
    ...sampleFiles.map((name) => [name, path.join(SAMPLES, name)]),
    ['rare-business-terms.xml', RARE_TERMS],
    ['ubl-be-terms.xml', UBL_BE_TERMS],
  ])('nothing in %s is left out of the model', (_name, file) => {
    const xml = readFileSync(file, 'utf8');
    expect(droppedFrom(xml, readUbl(Buffer.from(xml)))).toEqual([]);
  });

  it('notices a value the model does not keep', () => {
    const xml = readFileSync(RARE_TERMS, 'utf8');
    const withExtension = xml.replace(
      '<cbc:BuyerReference>',
      '<cbc:PaymentAlternativeCurrencyCode>USD</cbc:PaymentAlternativeCurrencyCode><cbc:BuyerReference>',
    );
    expect(droppedFrom(withExtension, readUbl(withExtension))).toEqual([
      '/Invoice/PaymentAlternativeCurrencyCode = USD',
    ]);
  });

  it('reads the item identifiers, classification, properties and origin of a line', () => {
    const [first, second] = read('base-example.xml').lines;
    expect(first).toMatchObject({
      standardItemId: { value: '21382183120983', scheme: '0088' },
      classifications: [{ code: '09348023', listId: 'SRV' }],
      originCountry: 'NO',
      accountingCost: 'Konteringsstreng',
      orderLineReference: '123',
    });
    expect(second.standardItemId).toEqual({ value: '21382183120983', scheme: '0088' });
    const allowance = read('Allowance-example.xml');
    expect(allowance.lines[0]).toMatchObject({ sellersItemId: '97iugug876', properties: [] });
    expect(allowance.lines[0].price).toMatchObject({ baseQuantity: '1', baseQuantityUnitCode: 'C62' });
    expect(allowance.lines[1]).toMatchObject({
      properties: [{ name: 'AdditionalItemName', value: 'AdditionalItemValue' }],
      period: { start: '2017-12-01', end: '2017-12-05' },
      orderLineReference: '124',
    });
    expect(read('base-creditnote-correction.xml').lines[0]).toMatchObject({
      standardItemId: { value: '21382183120983', scheme: '0088' },
      classifications: [{ code: '09348023', listId: 'SRV' }],
      originCountry: 'NO',
    });
  });

  it('reads the legal form, the address lines, the payee and the tax representative', () => {
    const allowance = read('Allowance-example.xml');
    expect(allowance.seller).toMatchObject({ legalForm: 'AdditionalLegalInformation', taxRegistrations: [] });
    expect(allowance.delivery).toMatchObject({
      partyName: 'Delivery party Name',
      address: { addressLine: 'Gate 15', country: 'SE' },
    });
    expect(read('GR-base-example-TaxRepresentative.xml').taxRepresentative).toMatchObject({
      name: 'TaxRepresentative Name',
      address: { addressLine: 'Back door' },
    });
    expect(read('Norwegian-example-1.xml').payee).toMatchObject({
      name: 'Ebeneser Scrooge AS',
      identifiers: [{ value: '2298740918237', scheme: '0088' }],
      legalId: { value: '999999999', scheme: '0192' },
    });
  });

  it('reads the document references, the invoiced object among them', () => {
    const allowance = read('Allowance-example.xml');
    expect(allowance).toMatchObject({
      accountingCost: '4025:123:4343',
      contractReference: 'framework no 1',
      invoicePeriod: { start: '2017-12-01', end: '2017-12-31' },
    });
    expect(allowance.attachments).toEqual([
      { id: 'DR35141', idScheme: 'ABT', documentType: '130', documentTypeCode: '130' },
      { id: 'ts12345', description: 'Technical specification', externalUri: 'www.techspec.no' },
    ]);
  });

  it('reads the terms that no OpenPEPPOL example uses', () => {
    const invoice = readUbl(readFileSync(RARE_TERMS));
    expect(invoice).toMatchObject({
      despatchReference: 'DESADV-9001',
      receiptReference: 'RECADV-9002',
      originatorReference: 'TENDER-LOT-4',
      contractReference: 'FRAMEWORK-2025-12',
      projectReference: 'PROJECT-RENOVATION',
      invoicePeriod: { start: '2026-04-01', end: '2026-04-30', descriptionCode: '35' },
      attachments: [{ id: 'TIMESHEET-APRIL', description: 'Timesheet' }],
      seller: {
        vatNumber: 'BE0123456749',
        taxRegistrations: [{ companyId: 'GB-TAX-445566', taxScheme: 'TAX' }],
        legalForm: 'BV, RPR Gent',
      },
      buyer: { address: { addressLine: 'Gebouw C, derde verdieping' } },
      paymentMeans: [
        { code: '54', card: { primaryAccountNumber: '1234', network: 'VISA', holder: 'M. Peeters' } },
        { code: '59', mandate: { id: 'MANDATE-31', payerAccount: 'BE71096123456769' } },
      ],
    });
    expect(invoice.attachments[0].content).toBeUndefined();
    expect(invoice.lines[0]).toMatchObject({
      buyersItemId: 'BUYER-ART-5',
      classifications: [{ code: '45421000', listId: 'STI', listVersionId: '19.0501' }],
      objectIdentifier: { value: 'SITE-VISIT-17', scheme: 'AAA' },
    });
  });

  it('reads the terms UBL.BE adds: line VAT, legal mention and cash discount', () => {
    const invoice = readUbl(readFileSync(UBL_BE_TERMS));
    expect(invoice).toMatchObject({
      syntax: 'ubl_be',
      delivery: { date: '2026-05-02', terms: { id: 'BELM-002', specialTerms: 'Legal mention text' } },
      paymentTerms: '2% korting bij betaling binnen 8 dagen',
      settlementDiscount: { percent: '2', amount: { value: '4.84', currency: 'EUR' }, dueDate: '2026-05-12' },
      vatBreakdown: [{ category: { id: 'S', name: '03', percent: '21' } }],
    });
    expect(invoice.lines[0]).toMatchObject({
      taxAmount: { value: '42', currency: 'EUR' },
      taxCategory: { id: 'S', name: '03' },
    });
  });
});
