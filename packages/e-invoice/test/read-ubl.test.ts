import { readFileSync } from 'node:fs';
import path from 'node:path';
import Decimal from 'decimal.js';
import { PDFDocument } from 'pdf-lib';
import { pdfRendition, readUbl, renderInvoicePdf, type Amount } from '../src';
import { minimal, SAMPLES, sampleFiles } from './ubl-documents';
const sum = (amounts: Amount[]) => amounts.reduce((total, amount) => total.plus(amount.value), new Decimal(0));

describe('the OpenPEPPOL examples', () => {
  it('are all there', () => expect(sampleFiles.length).toBeGreaterThanOrEqual(16));

  it.each(sampleFiles)('%s reads with totals that add up (BR-CO-10, -13, -14, -15, -16)', async (file) => {
    const invoice = readUbl(readFileSync(path.join(SAMPLES, file)));
    const { totals } = invoice;
    expect(invoice.syntax).toBe('peppol_bis_3');
    expect(invoice.number).not.toBe('');
    expect(invoice.seller.name).not.toBe('');
    expect(invoice.buyer.name).not.toBe('');
    expect(sum(invoice.lines.map((line) => line.lineExtensionAmount)).toFixed(2)).toBe(
      new Decimal(totals.lineExtension.value).toFixed(2),
    );
    const allowances = sum(invoice.allowanceCharges.filter((c) => !c.isCharge).map((c) => c.amount));
    const charges = sum(invoice.allowanceCharges.filter((c) => c.isCharge).map((c) => c.amount));
    expect(new Decimal(totals.lineExtension.value).minus(allowances).plus(charges).eq(totals.taxExclusive.value)).toBe(
      true,
    );
    expect(sum(invoice.vatBreakdown.map((row) => row.taxAmount)).eq(invoice.taxTotal.value)).toBe(true);
    expect(new Decimal(totals.taxExclusive.value).plus(invoice.taxTotal.value).eq(totals.taxInclusive.value)).toBe(
      true,
    );
    const due = new Decimal(totals.taxInclusive.value)
      .minus(totals.prepaid?.value ?? 0)
      .plus(totals.payableRounding?.value ?? 0);
    expect(due.eq(totals.payable.value)).toBe(true);
    const rendered = await PDFDocument.load(await renderInvoicePdf(invoice));
    expect(rendered.getPageCount()).toBeGreaterThanOrEqual(1);
  });

  it('reads the base example field by field', () => {
    const invoice = readUbl(readFileSync(path.join(SAMPLES, 'base-example.xml')));
    expect(invoice).toMatchObject({
      kind: 'invoice',
      number: 'Snippet1',
      issueDate: '2017-11-13',
      dueDate: '2017-12-01',
      typeCode: '380',
      currency: 'EUR',
      buyerReference: '0150abc',
      seller: {
        name: 'SupplierOfficialName Ltd',
        vatNumber: 'GB1232434',
        endpoint: { value: '9482348239847239874', scheme: '0088' },
      },
      buyer: { name: 'Buyer Official Name', vatNumber: 'SE4598375937', address: { city: 'Stockholm', country: 'SE' } },
      paymentMeans: [{ code: '30', paymentId: 'Snippet1', account: { id: 'IBAN32423940', bic: 'BIC324098' } }],
      allowanceCharges: [{ isCharge: true, reason: 'Insurance', amount: { value: '25', currency: 'EUR' } }],
      vatBreakdown: [
        { taxableAmount: { value: '1325' }, taxAmount: { value: '331.25' }, category: { id: 'S', percent: '25' } },
      ],
      totals: { payable: { value: '1656.25', currency: 'EUR' }, chargeTotal: { value: '25' } },
    });
    expect(invoice.lines).toHaveLength(2);
    expect(invoice.lines[0]).toMatchObject({
      id: '1',
      quantity: '7',
      unitCode: 'DAY',
      price: { amount: { value: '400' } },
    });
  });

  it('reads a credit note with its credited quantities and the corrected invoice', () => {
    const note = readUbl(readFileSync(path.join(SAMPLES, 'base-creditnote-correction.xml')));
    expect(note.kind).toBe('credit_note');
    expect(note.typeCode).toBe('381');
    expect(note.billingReferences[0]?.id).toBeTruthy();
    expect(note.lines[0].quantity).toBe('7');
  });

  it('keeps negative amounts of a negative invoice exact', () => {
    const invoice = readUbl(readFileSync(path.join(SAMPLES, 'base-negative-inv-correction.xml')));
    expect(invoice.totals.payable.value).toBe('-1656.25');
  });

  it('reads the attachments of the Norwegian example', () => {
    const invoice = readUbl(readFileSync(path.join(SAMPLES, 'Norwegian-example-1.xml')));
    expect(invoice.currency).toBe('NOK');
    expect(invoice.attachments.length).toBeGreaterThan(0);
  });
});

describe('a Belgian UBL.BE invoice', () => {
  it('uses its embedded PDF as the rendition and keeps the Belgian tax category', async () => {
    const pdf = await PDFDocument.create();
    pdf.addPage();
    const base64 = Buffer.from(await pdf.save()).toString('base64');
    const invoice = readUbl(
      minimal(`<cac:AdditionalDocumentReference><cbc:ID>F-2026-7</cbc:ID><cbc:DocumentDescription>CommercialInvoice</cbc:DocumentDescription>
        <cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="F-2026-7.pdf">${base64}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference>
        <cac:AdditionalDocumentReference><cbc:ID>UBL.BE</cbc:ID><cbc:DocumentDescription>Kantoor 1.0</cbc:DocumentDescription></cac:AdditionalDocumentReference>`),
    );
    expect(invoice.syntax).toBe('ubl_be');
    expect(invoice.seller.name).toBe('Bakkerij Peeters & Zn');
    expect(invoice.vatBreakdown[0].category).toMatchObject({ id: 'S', name: '03', percent: '21' });
    expect(invoice.lines[0].quantity).toBe('0.1');
    const rendition = pdfRendition(invoice);
    expect(rendition?.filename).toBe('F-2026-7.pdf');
    expect((await PDFDocument.load(rendition!.content!)).getPageCount()).toBe(1);
  });

  it('reads a credit note', () => {
    expect(readUbl(minimal('', 'CreditNote')).kind).toBe('credit_note');
  });

  it("reads a credit note's project reference (BT-11) from the document reference with type code 50", () => {
    const project =
      '<cac:AdditionalDocumentReference><cbc:ID>PRJ-42</cbc:ID><cbc:DocumentTypeCode>50</cbc:DocumentTypeCode></cac:AdditionalDocumentReference>';
    const other =
      '<cac:AdditionalDocumentReference><cbc:ID>TS-1</cbc:ID><cbc:DocumentTypeCode>130</cbc:DocumentTypeCode></cac:AdditionalDocumentReference>';
    expect(readUbl(minimal(other + project, 'CreditNote')).projectReference).toBe('PRJ-42');
    expect(readUbl(minimal(other, 'CreditNote')).projectReference).toBeUndefined();
    // an invoice names its project in ProjectReference; a type code 50 reference there is an ordinary one
    expect(readUbl(minimal(project)).projectReference).toBeUndefined();
  });
});

describe('a large embedded PDF', () => {
  /** A real PDF of about `size` bytes (an incompressible stream makes it big, as a scan would). */
  const bigPdf = async (size: number) => {
    const pdf = await PDFDocument.create();
    pdf.addPage();
    const noise = Buffer.alloc(size);
    for (let i = 0, x = 11; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    pdf.context.register(pdf.context.flateStream(noise));
    return Buffer.from(await pdf.save());
  };
  const withAttachment = (content: string, tag = 'cbc:EmbeddedDocumentBinaryObject', rest = '') =>
    minimal(`<cac:AdditionalDocumentReference><cbc:ID>F-2026-7</cbc:ID><cbc:DocumentDescription>CommercialInvoice</cbc:DocumentDescription>
      <cac:Attachment><${tag} mimeCode="application/pdf" filename="scan.pdf">${content}</${tag}></cac:Attachment></cac:AdditionalDocumentReference>${rest}`);
  const mimeLines = (base64: string) => base64.replace(/.{76}/g, '$&\r\n');

  it('is read byte for byte, in lines or not, under any prefix, in a fraction of the time its text takes to parse', async () => {
    const pdf = await bigPdf(8 << 20);
    const base64 = pdf.toString('base64');
    for (const [content, tag] of [
      [base64, 'cbc:EmbeddedDocumentBinaryObject'],
      [mimeLines(base64), 'cbc:EmbeddedDocumentBinaryObject'],
      [
        `\n  ${base64}\n`,
        'b:EmbeddedDocumentBinaryObject xmlns:b="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"',
      ],
    ]) {
      const closing = tag.split(' ')[0];
      const xml = withAttachment(content, tag).replace(`</${tag}>`, `</${closing}>`);
      const started = Date.now();
      const rendition = pdfRendition(readUbl(xml, { maxBytes: 50 << 20 }));
      // parsed as text, 11 MiB of base64 took about 0.9 s and 330 MB of memory; set aside, 0.1 s and 11 MB
      expect(Date.now() - started).toBeLessThan(600);
      expect(rendition?.filename).toBe('scan.pdf');
      expect(Buffer.from(rendition!.content!).equals(pdf)).toBe(true);
    }
  });

  it('is read the same when a CDATA section in the file holds what looks like one', async () => {
    const pdf = await bigPdf(64 << 10);
    const base64 = pdf.toString('base64');
    // a CDATA section holds text that looks like markup, which must stay the text it is
    const quoted = `<cbc:EmbeddedDocumentBinaryObject>${base64}</cbc:EmbeddedDocumentBinaryObject>`;
    const withCdata = withAttachment(
      base64,
      undefined,
      `<cac:AdditionalDocumentReference><cbc:ID>X</cbc:ID><cbc:DocumentDescription><![CDATA[${quoted}]]></cbc:DocumentDescription></cac:AdditionalDocumentReference>`,
    );
    const invoice = readUbl(withCdata);
    expect(Buffer.from(pdfRendition(invoice)!.content!).equals(pdf)).toBe(true);
    const described = invoice.attachments.find((attachment) => attachment.id === 'X');
    expect(described?.description === quoted).toBe(true);
  });
});

describe('which rule set a document follows', () => {
  const UBL_BE = 'urn:cen.eu:en16931:2017#conformant#urn:UBL.BE:1.0.0.20180214';
  const PEPPOL = 'urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0';
  const customized = (id: string, extra = '', root = 'Invoice') => minimal(extra, root).replace(UBL_BE, id);
  const pdfReference = async (type: string) => {
    const pdf = await PDFDocument.create();
    pdf.addPage();
    const base64 = Buffer.from(await pdf.save()).toString('base64');
    return `<cac:AdditionalDocumentReference><cbc:ID>F-2026-7</cbc:ID><cbc:DocumentType>${type}</cbc:DocumentType>
      <cac:Attachment><cbc:EmbeddedDocumentBinaryObject mimeCode="application/pdf" filename="factuur.pdf">${base64}</cbc:EmbeddedDocumentBinaryObject></cac:Attachment></cac:AdditionalDocumentReference>`;
  };
  const efffSoftware = `<cac:AdditionalDocumentReference><cbc:ID>eFFF</cbc:ID><cbc:DocumentType>Kantoor 1.0</cbc:DocumentType></cac:AdditionalDocumentReference>`;

  it.each([
    [PEPPOL, 'peppol_bis_3'],
    [UBL_BE, 'ubl_be'],
    ['urn:cen.eu:en16931:2017', 'en16931'],
    // e-fff's own CustomizationIDs are not in the reference: any ID that names efff counts, in any case
    ['urn:cen.eu:en16931:2017#conformant#urn:eFFF.be:3.0', 'efff'],
    ['urn:www.cenbii.eu:transaction:biitrns010:ver2.0:extended:urn:www.efff.be:ver3.0', 'efff'],
    ['urn:www.cenbii.eu:transaction:biitrns010:ver2.0', 'ubl'],
  ])('a CustomizationID %s is read as %s', (id, syntax) => {
    expect(readUbl(customized(id)).syntax).toBe(syntax);
  });

  it('reads a legacy e-fff 3.0 invoice by its eFFF software reference, with its PDF by DocumentType', async () => {
    const invoice = readUbl(customized(PEPPOL, `${await pdfReference('CommercialInvoice')}${efffSoftware}`));
    expect(invoice.syntax).toBe('efff');
    expect(invoice.attachments.find((attachment) => attachment.id === 'eFFF')?.documentType).toBe('Kantoor 1.0');
    const rendition = pdfRendition(invoice);
    expect(rendition).toMatchObject({ documentType: 'CommercialInvoice', filename: 'factuur.pdf' });
    expect((await PDFDocument.load(rendition!.content!)).getPageCount()).toBe(1);
  });

  it('reads a legacy e-fff 3.0 credit note', async () => {
    const note = readUbl(customized(PEPPOL, `${await pdfReference('CreditNote')}${efffSoftware}`, 'CreditNote'));
    expect(note).toMatchObject({ kind: 'credit_note', syntax: 'efff' });
    expect(pdfRendition(note)?.documentType).toBe('CreditNote');
  });

  it('reads e-fff without a CustomizationID when the eFFF reference is there', () => {
    const invoice = readUbl(minimal(efffSoftware).replace(/<cbc:CustomizationID>.*<\/cbc:CustomizationID>/, ''));
    expect(invoice).toMatchObject({ syntax: 'efff', customizationId: undefined });
  });

  it('takes the CustomizationID over the eFFF reference when it names UBL.BE', () => {
    expect(readUbl(customized(UBL_BE, efffSoftware)).syntax).toBe('ubl_be');
  });

  it('does not take a document reference that merely mentions e-fff for e-fff', () => {
    const mention = `<cac:AdditionalDocumentReference><cbc:ID>efff-export-7</cbc:ID><cbc:DocumentDescription>eFFF</cbc:DocumentDescription></cac:AdditionalDocumentReference>`;
    expect(readUbl(customized(PEPPOL, mention)).syntax).toBe('peppol_bis_3');
  });
});

describe('refused XML', () => {
  it('refuses a DTD with an external entity (XXE)', () => {
    const xxe = minimal().replace(
      '<?xml version="1.0"?>',
      '<?xml version="1.0"?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
    );
    expect(() => readUbl(xxe)).toThrow(expect.objectContaining({ reason: 'ubl_dtd_refused' }));
  });

  it('refuses entity expansion (billion laughs)', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><Invoice>&lol2;</Invoice>`;
    expect(() => readUbl(bomb)).toThrow('declares a DTD or entities');
  });

  it('refuses XML that is not well-formed, naming the line', () => {
    expect(() => readUbl(minimal().replace('</Invoice>', ''))).toThrow(
      expect.objectContaining({
        reason: 'ubl_not_well_formed',
        message: expect.stringMatching(/not well-formed.*line/),
      }),
    );
  });

  it('refuses XML that is not an invoice', () => {
    expect(() => readUbl('<?xml version="1.0"?><Order><ID>1</ID></Order>')).toThrow(
      'not a UBL invoice or credit note (root element Order)',
    );
  });

  it('refuses a file above the size limit before parsing', () => {
    expect(() => readUbl(minimal(), { maxBytes: 100 })).toThrow(expect.objectContaining({ reason: 'ubl_too_large' }));
  });

  it('refuses an invoice without a number or with a non-decimal amount', () => {
    expect(() => readUbl(minimal().replace('<cbc:ID>F-2026-7</cbc:ID>', ''))).toThrow('The Invoice has no ID.');
    expect(() => readUbl(minimal().replace('>121.00</cbc:PayableAmount>', '>12,1</cbc:PayableAmount>'))).toThrow(
      'is not a decimal number',
    );
  });
});

describe('the encoding an XML file declares', () => {
  const utf8 = readFileSync(path.join(SAMPLES, 'Allowance-example.xml'), 'utf8');
  const declaring = (encoding: string, xml = utf8) =>
    xml.replace('<?xml version="1.0" encoding="UTF-8"?>', `<?xml version="1.0" encoding="${encoding}"?>`);
  const expected = readUbl(Buffer.from(utf8, 'utf8'));
  const utf16be = (xml: string) => Buffer.from(xml, 'utf16le').swap16();

  it('is the one the sample is read in, whether UTF-8, UTF-16 or ISO-8859-1', () => {
    expect(expected.buyer.address?.subdivision).toBe('Södermalm');
    expect(readUbl(Buffer.from(declaring('ISO-8859-1'), 'latin1'))).toEqual(expected);
    expect(readUbl(Buffer.from(`\uFEFF${declaring('UTF-16')}`, 'utf16le'))).toEqual(expected);
    expect(readUbl(utf16be(`\uFEFF${declaring('UTF-16')}`))).toEqual(expected);
    expect(readUbl(Buffer.from(declaring('UTF-16'), 'utf16le'))).toEqual(expected);
    expect(readUbl(Buffer.from(`\uFEFF${utf8}`, 'utf8'))).toEqual(expected);
  });

  it('reads Windows-1252 and ISO-8859-15, where the euro sign is one byte', () => {
    const euro = utf8.replace('<cbc:Note>', '<cbc:Note>Prijs in €. ');
    const cp1252 = Buffer.from(declaring('Windows-1252', euro).replace('€', '\u0080'), 'latin1');
    expect(readUbl(cp1252).note).toMatch(/^Prijs in €\. /);
    expect(readUbl(Buffer.from(declaring('ISO-8859-15', euro).replace('€', '\u00a4'), 'latin1')).note).toMatch(
      /^Prijs in €\. /,
    );
  });

  it('reads a .NET file that says UTF-16 but is written in UTF-8', () => {
    expect(readUbl(Buffer.from(declaring('utf-16'), 'utf8'))).toEqual(expected);
  });

  it('refuses an encoding it does not know, naming it', () => {
    expect(() => readUbl(Buffer.from(declaring('Shift_JIS'), 'utf8'))).toThrow(
      expect.objectContaining({
        reason: 'ubl_unsupported_encoding',
        message: expect.stringContaining('encoded in Shift_JIS, which is not supported'),
      }),
    );
  });

  it('refuses bytes that are not valid in the declared encoding', () => {
    expect(() => readUbl(Buffer.from(utf8, 'latin1'))).toThrow(
      expect.objectContaining({ reason: 'ubl_bad_encoding', message: expect.stringContaining('not valid UTF-8') }),
    );
    expect(() => readUbl(Buffer.from(declaring('US-ASCII'), 'utf8'))).toThrow(
      expect.objectContaining({ reason: 'ubl_bad_encoding' }),
    );
    const undefinedIn1252 = Buffer.from(declaring('windows-1252').replace('<cbc:Note>', '<cbc:Note>\u0081'), 'latin1');
    expect(() => readUbl(undefinedIn1252)).toThrow(expect.objectContaining({ reason: 'ubl_bad_encoding' }));
  });

  it('still refuses a DTD in UTF-16', () => {
    const xxe = declaring('UTF-16').replace('?>', '?><!DOCTYPE Invoice [<!ENTITY x SYSTEM "file:///etc/passwd">]>');
    expect(() => readUbl(Buffer.from(`\uFEFF${xxe}`, 'utf16le'))).toThrow(
      expect.objectContaining({ reason: 'ubl_dtd_refused' }),
    );
  });
});
