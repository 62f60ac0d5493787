import { randomUUID } from 'node:crypto';
import Decimal from 'decimal.js';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { invalidArgument } from '@kantoor/errors';
import { decodeXml } from './decode-xml';
import type {
  AllowanceCharge,
  Amount,
  Attachment,
  DecimalString,
  EInvoice,
  Identifier,
  InvoiceLine,
  InvoiceSyntax,
  Party,
  PaymentMeans,
  Period,
  PostalAddress,
  TaxCategory,
} from './model';

export interface ReadUblOptions {
  /** refuse larger documents before parsing; default 20 MiB (embedded PDFs make UBL files big) */
  maxBytes?: number;
}

export const DEFAULT_MAX_UBL_BYTES = 20 * 1024 * 1024;

const NAMESPACES = {
  Invoice: 'urn:oasis:names:specification:ubl:schema:xsd:Invoice-2',
  CreditNote: 'urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2',
} as const;

type Node = Record<string, unknown>;

const refuse = (reason: string, message: string) => invalidArgument(message, { reason });

/**
 * Reads a UBL 2.1 Invoice or CreditNote (Peppol BIS 3.0, EN 16931, UBL.BE, e-fff) into the invoice model.
 * Safe on hostile input: a document with a DTD (and so any entity declaration, internal or external) is
 * refused before parsing, the size is bounded, and only the five predefined XML entities are expanded. Bytes are
 * decoded as the file declares (UTF-8, UTF-16, ISO-8859-1, Windows-1252 ...); a string is taken as already decoded.
 */
export function readUbl(xml: string | Uint8Array, options: ReadUblOptions = {}): EInvoice {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_UBL_BYTES;
  const size = typeof xml === 'string' ? Buffer.byteLength(xml) : xml.byteLength;
  if (size > maxBytes) throw refuse('ubl_too_large', `The XML file is larger than ${maxBytes} bytes.`);
  const decoded = typeof xml === 'string' ? xml.replace(/^\uFEFF/, '') : decodeXml(xml);
  const { text, binaries } = setAsideBinaries(decoded);
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
    throw refuse('ubl_dtd_refused', 'The XML file declares a DTD or entities, which are refused for safety.');
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    throw refuse('ubl_not_well_formed', `The XML file is not well-formed: ${valid.err.msg} (line ${valid.err.line}).`);
  }
  const parsed = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    processEntities: true,
    htmlEntities: false,
    isArray: (_name, jpath, _leaf, isAttribute) => !isAttribute && String(jpath).includes('.'),
  }).parse(text) as Node;
  const rootName = Object.keys(parsed).find((key) => key !== '?xml');
  if (rootName !== 'Invoice' && rootName !== 'CreditNote') {
    throw refuse(
      'ubl_not_invoice',
      `The XML file is not a UBL invoice or credit note (root element ${rootName ?? 'none'}).`,
    );
  }
  const root = parsed[rootName] as Node;
  const namespace = root['@_xmlns'];
  if (namespace !== undefined && namespace !== NAMESPACES[rootName]) {
    throw refuse('ubl_not_invoice', `The XML file's ${rootName} element is not in the UBL 2.1 namespace.`);
  }
  return new UblReader(rootName, binaries).read(root);
}

/** An embedded file's content is set aside before parsing from this size on. */
const SET_ASIDE_CHARS = 4096;
const BINARY_OPEN = /<((?:[A-Za-z_][\w.-]*:)?)EmbeddedDocumentBinaryObject(?=[\s>/])[^<>]*>/g;

/**
 * The text with the base64 content of each large EmbeddedDocumentBinaryObject replaced by a token, and the
 * contents by token. The XML parser keeps several copies of every text it reads (a 10 MiB file with an embedded
 * PDF took 330 MB of memory to read); read from the text itself, an embedded PDF costs its own size. Only content
 * made of base64 characters and white space is set aside, so the parser sees the same document, with no CDATA
 * section anywhere (one could hold what looks like an element); the tokens are unique to this reading, so a file
 * cannot name one.
 */
function setAsideBinaries(text: string): { text: string; binaries: Map<string, string> } {
  const binaries = new Map<string, string>();
  if (text.includes('<![CDATA[')) return { text, binaries };
  const nonce = randomUUID();
  const parts: string[] = [];
  let at = 0;
  for (const match of text.matchAll(BINARY_OPEN)) {
    const start = match.index + match[0].length;
    if (match[0].endsWith('/>') || start < at) continue;
    const end = text.indexOf(`</${match[1]}EmbeddedDocumentBinaryObject`, start);
    if (end < 0 || end - start < SET_ASIDE_CHARS || !isBase64Text(text, start, end)) continue;
    const token = `kantoor-set-aside-${nonce}-${binaries.size}`;
    parts.push(text.slice(at, start), token);
    binaries.set(token, text.slice(start, end));
    at = end;
  }
  if (binaries.size === 0) return { text, binaries };
  parts.push(text.slice(at));
  return { text: parts.join(''), binaries };
}

/** Whether text[start, end) holds only base64 characters and white space. */
function isBase64Text(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const base64 =
      (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 61;
    if (!base64 && c !== 32 && c !== 9 && c !== 10 && c !== 13) return false;
  }
  return true;
}

function kids(node: unknown, name: string): Node[] {
  if (!node || typeof node !== 'object') return [];
  const value = (node as Node)[name];
  return value === undefined ? [] : ((Array.isArray(value) ? value : [value]) as Node[]);
}

/** The first element along the path, e.g. el(party, 'PartyLegalEntity', 'RegistrationName'). */
function el(node: unknown, ...path: string[]): unknown {
  let current: unknown = node;
  for (const name of path) {
    current = kids(current, name)[0];
    if (current === undefined) return undefined;
  }
  return current;
}

function textOf(node: unknown): string | undefined {
  if (node === undefined || node === null) return undefined;
  if (typeof node === 'string') return node === '' ? undefined : node;
  if (typeof node === 'object' && '#text' in (node as Node)) {
    const value = String((node as Node)['#text']);
    return value === '' ? undefined : value;
  }
  return undefined;
}

const text = (node: unknown, ...path: string[]) => textOf(el(node, ...path));
const attr = (node: unknown, name: string) =>
  node && typeof node === 'object' ? ((node as Node)[`@_${name}`] as string | undefined) : undefined;

class UblReader {
  private currency = '';

  constructor(
    private readonly rootName: 'Invoice' | 'CreditNote',
    private readonly binaries: ReadonlyMap<string, string>,
  ) {}

  read(root: Node): EInvoice {
    const isCredit = this.rootName === 'CreditNote';
    const number = this.required(root, 'ID');
    const issueDate = this.date(this.required(root, 'IssueDate'), 'IssueDate');
    this.currency = this.required(root, 'DocumentCurrencyCode');
    const customizationId = text(root, 'CustomizationID');
    const attachments = kids(root, 'AdditionalDocumentReference').map((ref) => this.attachment(ref));
    const taxTotals = kids(root, 'TaxTotal');
    const mainTax =
      taxTotals.find((total) => attr(el(total, 'TaxAmount'), 'currencyID') === this.currency) ?? taxTotals[0];
    if (!mainTax) throw this.missing('TaxTotal');
    const otherTax = taxTotals.find((total) => total !== mainTax);
    const totals = el(root, 'LegalMonetaryTotal');
    if (!totals) throw this.missing('LegalMonetaryTotal');
    const lineName = isCredit ? 'CreditNoteLine' : 'InvoiceLine';
    const lines = kids(root, lineName).map((line) =>
      this.line(line, isCredit ? 'CreditedQuantity' : 'InvoicedQuantity'),
    );
    if (lines.length === 0) throw this.missing(lineName);
    return {
      kind: isCredit ? 'credit_note' : 'invoice',
      syntax: syntaxOf(customizationId, attachments),
      customizationId,
      profileId: text(root, 'ProfileID'),
      number,
      issueDate,
      dueDate: this.optionalDate(text(root, 'DueDate') ?? text(root, 'PaymentMeans', 'PaymentDueDate')),
      typeCode: text(root, isCredit ? 'CreditNoteTypeCode' : 'InvoiceTypeCode') ?? (isCredit ? '381' : '380'),
      currency: this.currency,
      taxCurrency: text(root, 'TaxCurrencyCode'),
      taxPointDate: this.optionalDate(text(root, 'TaxPointDate')),
      note: kids(root, 'Note').map(textOf).filter(Boolean).join('\n') || undefined,
      buyerReference: text(root, 'BuyerReference'),
      orderReference: text(root, 'OrderReference', 'ID'),
      salesOrderReference: text(root, 'OrderReference', 'SalesOrderID'),
      accountingCost: text(root, 'AccountingCost'),
      billingReferences: kids(root, 'BillingReference')
        .map((ref) => el(ref, 'InvoiceDocumentReference') ?? el(ref, 'CreditNoteDocumentReference'))
        .filter((ref) => text(ref, 'ID'))
        .map((ref) => ({ id: text(ref, 'ID')!, issueDate: this.optionalDate(text(ref, 'IssueDate')) })),
      contractReference: text(root, 'ContractDocumentReference', 'ID'),
      // BT-11: a credit note has no ProjectReference element; Peppol BIS 3.0 carries it as an
      // AdditionalDocumentReference with DocumentTypeCode 50
      projectReference:
        text(root, 'ProjectReference', 'ID') ??
        (isCredit
          ? attachments.find((attachment) => attachment.documentTypeCode === '50')?.id || undefined
          : undefined),
      despatchReference: text(root, 'DespatchDocumentReference', 'ID'),
      receiptReference: text(root, 'ReceiptDocumentReference', 'ID'),
      originatorReference: text(root, 'OriginatorDocumentReference', 'ID'),
      invoicePeriod: this.period(el(root, 'InvoicePeriod')),
      seller: this.party(el(root, 'AccountingSupplierParty', 'Party'), 'AccountingSupplierParty'),
      buyer: this.party(el(root, 'AccountingCustomerParty', 'Party'), 'AccountingCustomerParty'),
      payee: el(root, 'PayeeParty') ? this.party(el(root, 'PayeeParty'), 'PayeeParty') : undefined,
      taxRepresentative: el(root, 'TaxRepresentativeParty')
        ? this.party(el(root, 'TaxRepresentativeParty'), 'TaxRepresentativeParty')
        : undefined,
      delivery: this.delivery(el(root, 'Delivery')),
      paymentMeans: kids(root, 'PaymentMeans').map((means) => this.paymentMeans(means)),
      paymentTerms:
        kids(root, 'PaymentTerms')
          .map((terms) => text(terms, 'Note'))
          .filter(Boolean)
          .join('\n') || undefined,
      settlementDiscount: this.settlementDiscount(
        kids(root, 'PaymentTerms').find((terms) => text(terms, 'SettlementDiscountPercent') !== undefined),
      ),
      allowanceCharges: kids(root, 'AllowanceCharge').map((charge) => this.allowanceCharge(charge)),
      taxTotal: this.amount(el(mainTax, 'TaxAmount'), 'TaxTotal/TaxAmount'),
      taxTotalInTaxCurrency: otherTax ? this.amount(el(otherTax, 'TaxAmount'), 'TaxTotal/TaxAmount') : undefined,
      vatBreakdown: kids(mainTax, 'TaxSubtotal').map((subtotal) => ({
        taxableAmount: this.amount(el(subtotal, 'TaxableAmount'), 'TaxSubtotal/TaxableAmount'),
        taxAmount: this.amount(el(subtotal, 'TaxAmount'), 'TaxSubtotal/TaxAmount'),
        category: this.taxCategory(el(subtotal, 'TaxCategory'))!,
      })),
      totals: {
        lineExtension: this.amount(el(totals, 'LineExtensionAmount'), 'LineExtensionAmount'),
        taxExclusive: this.amount(el(totals, 'TaxExclusiveAmount'), 'TaxExclusiveAmount'),
        taxInclusive: this.amount(el(totals, 'TaxInclusiveAmount'), 'TaxInclusiveAmount'),
        allowanceTotal: this.optionalAmount(el(totals, 'AllowanceTotalAmount')),
        chargeTotal: this.optionalAmount(el(totals, 'ChargeTotalAmount')),
        prepaid: this.optionalAmount(el(totals, 'PrepaidAmount')),
        payableRounding: this.optionalAmount(el(totals, 'PayableRoundingAmount')),
        payable: this.amount(el(totals, 'PayableAmount'), 'PayableAmount'),
      },
      lines,
      attachments,
    };
  }

  private missing(field: string) {
    return refuse('ubl_missing_field', `The ${this.rootName} has no ${field}.`);
  }

  private required(node: unknown, ...path: string[]): string {
    const value = text(node, ...path);
    if (value === undefined) throw this.missing(path.join('/'));
    return value;
  }

  private date(value: string, field: string): string {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) {
      throw refuse('ubl_invalid_value', `The ${this.rootName}'s ${field} "${value}" is not a date (YYYY-MM-DD).`);
    }
    return value;
  }

  private optionalDate = (value: string | undefined) => (value === undefined ? undefined : this.date(value, 'date'));

  private decimal(value: string | undefined, field: string): DecimalString {
    if (value === undefined) throw this.missing(field);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(value.trim())) {
      throw refuse('ubl_invalid_value', `The ${this.rootName}'s ${field} "${value}" is not a decimal number.`);
    }
    return new Decimal(value.trim()).toFixed();
  }

  private optionalDecimal = (value: string | undefined, field: string) =>
    value === undefined ? undefined : this.decimal(value, field);

  private amount(node: unknown, field: string): Amount {
    return { value: this.decimal(textOf(node), field), currency: attr(node, 'currencyID') ?? this.currency };
  }

  private optionalAmount = (node: unknown) => (node === undefined ? undefined : this.amount(node, 'amount'));

  private identifier(node: unknown): Identifier | undefined {
    const value = textOf(node);
    if (value === undefined) return undefined;
    const scheme = attr(node, 'schemeID');
    return scheme ? { value, scheme } : { value };
  }

  private address(node: unknown): PostalAddress | undefined {
    if (!node) return undefined;
    return {
      street: text(node, 'StreetName'),
      additionalStreet: text(node, 'AdditionalStreetName'),
      city: text(node, 'CityName'),
      postalZone: text(node, 'PostalZone'),
      subdivision: text(node, 'CountrySubentity'),
      addressLine: text(node, 'AddressLine', 'Line'),
      country: text(node, 'Country', 'IdentificationCode'),
    };
  }

  private party(node: unknown, field: string): Party {
    if (!node) throw this.missing(field);
    const tradingName = text(node, 'PartyName', 'Name');
    const name = text(node, 'PartyLegalEntity', 'RegistrationName') ?? tradingName;
    if (!name) throw this.missing(`${field} name`);
    const taxSchemes = kids(node, 'PartyTaxScheme');
    const vat = taxSchemes.find((scheme) => (text(scheme, 'TaxScheme', 'ID') ?? 'VAT') === 'VAT');
    const contact = el(node, 'Contact');
    return {
      name,
      tradingName,
      endpoint: this.identifier(el(node, 'EndpointID')),
      identifiers: kids(node, 'PartyIdentification')
        .map((id) => this.identifier(el(id, 'ID')))
        .filter((id): id is Identifier => id !== undefined),
      vatNumber: text(vat, 'CompanyID'),
      legalId: this.identifier(el(node, 'PartyLegalEntity', 'CompanyID')),
      legalForm: text(node, 'PartyLegalEntity', 'CompanyLegalForm'),
      taxRegistrations: taxSchemes
        .filter((scheme) => scheme !== vat && text(scheme, 'CompanyID'))
        .map((scheme) => ({ companyId: text(scheme, 'CompanyID')!, taxScheme: text(scheme, 'TaxScheme', 'ID') ?? '' })),
      address: this.address(el(node, 'PostalAddress')),
      contact: contact
        ? { name: text(contact, 'Name'), phone: text(contact, 'Telephone'), email: text(contact, 'ElectronicMail') }
        : undefined,
    };
  }

  private taxCategory(node: unknown): TaxCategory | undefined {
    if (!node) return undefined;
    return {
      id: text(node, 'ID') ?? '',
      percent: this.optionalDecimal(text(node, 'Percent'), 'Percent'),
      name: text(node, 'Name'),
      exemptionReasonCode: text(node, 'TaxExemptionReasonCode'),
      exemptionReason: text(node, 'TaxExemptionReason'),
    };
  }

  private allowanceCharge(node: unknown): AllowanceCharge {
    return {
      isCharge: text(node, 'ChargeIndicator')?.toLowerCase() === 'true',
      amount: this.amount(el(node, 'Amount'), 'AllowanceCharge/Amount'),
      baseAmount: this.optionalAmount(el(node, 'BaseAmount')),
      percent: this.optionalDecimal(text(node, 'MultiplierFactorNumeric'), 'MultiplierFactorNumeric'),
      reason: text(node, 'AllowanceChargeReason'),
      reasonCode: text(node, 'AllowanceChargeReasonCode'),
      taxCategory: this.taxCategory(el(node, 'TaxCategory')),
    };
  }

  private line(node: Node, quantityName: string): InvoiceLine {
    const quantity = el(node, quantityName);
    const price = el(node, 'Price');
    const priceAllowance = el(price, 'AllowanceCharge');
    const baseQuantity = el(price, 'BaseQuantity');
    const item = el(node, 'Item');
    return {
      id: this.required(node, 'ID'),
      quantity: this.decimal(textOf(quantity), quantityName),
      unitCode: attr(quantity, 'unitCode'),
      lineExtensionAmount: this.amount(el(node, 'LineExtensionAmount'), 'line LineExtensionAmount'),
      itemName: text(item, 'Name') ?? '',
      description: text(item, 'Description'),
      sellersItemId: text(item, 'SellersItemIdentification', 'ID'),
      buyersItemId: text(item, 'BuyersItemIdentification', 'ID'),
      standardItemId: this.identifier(el(item, 'StandardItemIdentification', 'ID')),
      classifications: kids(item, 'CommodityClassification')
        .map((classification) => el(classification, 'ItemClassificationCode'))
        .filter((code) => textOf(code) !== undefined)
        .map((code) => ({
          code: textOf(code)!,
          listId: attr(code, 'listID'),
          listVersionId: attr(code, 'listVersionID'),
        })),
      properties: kids(item, 'AdditionalItemProperty').map((property) => ({
        name: text(property, 'Name') ?? '',
        value: text(property, 'Value') ?? '',
      })),
      originCountry: text(item, 'OriginCountry', 'IdentificationCode'),
      price: {
        amount: this.amount(el(price, 'PriceAmount'), 'PriceAmount'),
        baseQuantity: this.optionalDecimal(textOf(baseQuantity), 'BaseQuantity'),
        baseQuantityUnitCode: attr(baseQuantity, 'unitCode'),
        allowance: priceAllowance ? this.allowanceCharge(priceAllowance) : undefined,
      },
      taxCategory: this.taxCategory(el(item, 'ClassifiedTaxCategory')),
      allowanceCharges: kids(node, 'AllowanceCharge').map((charge) => this.allowanceCharge(charge)),
      note: text(node, 'Note'),
      period: this.period(el(node, 'InvoicePeriod')),
      orderLineReference: text(node, 'OrderLineReference', 'LineID'),
      accountingCost: text(node, 'AccountingCost'),
      taxAmount: this.optionalAmount(el(node, 'TaxTotal', 'TaxAmount')),
      objectIdentifier: this.identifier(el(node, 'DocumentReference', 'ID')),
    };
  }

  private period(node: unknown): Period | undefined {
    if (!node) return undefined;
    return {
      start: this.optionalDate(text(node, 'StartDate')),
      end: this.optionalDate(text(node, 'EndDate')),
      descriptionCode: text(node, 'DescriptionCode'),
    };
  }

  private delivery(node: unknown): EInvoice['delivery'] {
    if (!node) return undefined;
    return {
      date: this.optionalDate(text(node, 'ActualDeliveryDate')),
      locationId: this.identifier(el(node, 'DeliveryLocation', 'ID')),
      address: this.address(el(node, 'DeliveryLocation', 'Address')),
      partyName: text(node, 'DeliveryParty', 'PartyName', 'Name'),
      terms: el(node, 'DeliveryTerms')
        ? { id: text(node, 'DeliveryTerms', 'ID'), specialTerms: text(node, 'DeliveryTerms', 'SpecialTerms') }
        : undefined,
    };
  }

  private settlementDiscount(terms: unknown): EInvoice['settlementDiscount'] {
    if (!terms) return undefined;
    return {
      percent: this.decimal(text(terms, 'SettlementDiscountPercent'), 'SettlementDiscountPercent'),
      amount: this.optionalAmount(el(terms, 'Amount')),
      dueDate: this.optionalDate(text(terms, 'PaymentDueDate')),
    };
  }

  private paymentMeans(node: unknown): PaymentMeans {
    const codeNode = el(node, 'PaymentMeansCode');
    const account = el(node, 'PayeeFinancialAccount');
    const card = el(node, 'CardAccount');
    const mandate = el(node, 'PaymentMandate');
    return {
      code: textOf(codeNode) ?? '',
      name: attr(codeNode, 'name'),
      paymentId: text(node, 'PaymentID'),
      account: text(account, 'ID')
        ? {
            id: text(account, 'ID')!,
            name: text(account, 'Name'),
            bic: text(account, 'FinancialInstitutionBranch', 'ID'),
          }
        : undefined,
      card: text(card, 'PrimaryAccountNumberID')
        ? {
            primaryAccountNumber: text(card, 'PrimaryAccountNumberID')!,
            network: text(card, 'NetworkID'),
            holder: text(card, 'HolderName'),
          }
        : undefined,
      mandate: mandate
        ? { id: text(mandate, 'ID'), payerAccount: text(mandate, 'PayerFinancialAccount', 'ID') }
        : undefined,
    };
  }

  private attachment(node: Node): Attachment {
    const binary = el(node, 'Attachment', 'EmbeddedDocumentBinaryObject');
    const written = textOf(binary);
    const encoded = (written && this.binaries.get(written)) ?? written;
    return {
      id: text(node, 'ID') ?? '',
      idScheme: attr(el(node, 'ID'), 'schemeID'),
      description: text(node, 'DocumentDescription'),
      documentType: text(node, 'DocumentType') ?? text(node, 'DocumentTypeCode'),
      documentTypeCode: text(node, 'DocumentTypeCode'),
      mimeCode: attr(binary, 'mimeCode'),
      filename: attr(binary, 'filename'),
      externalUri: text(node, 'Attachment', 'ExternalReference', 'URI'),
      content: encoded ? new Uint8Array(Buffer.from(encoded.replace(/\s+/g, ''), 'base64')) : undefined,
    };
  }
}

function syntaxOf(customizationId: string | undefined, attachments: Attachment[]): InvoiceSyntax {
  const id = customizationId ?? '';
  if (id.includes('urn:UBL.BE')) return 'ubl_be';
  if (/efff/i.test(id) || attachments.some((attachment) => attachment.id === 'eFFF')) return 'efff';
  if (id.includes('poacc:billing:3.0')) return 'peppol_bis_3';
  if (id.includes('en16931')) return 'en16931';
  return 'ubl';
}

/** The embedded PDF that renders the invoice (UBL.BE's CommercialInvoice, e-fff's DocumentType, Peppol's PDF). */
export function pdfRendition(invoice: EInvoice): Attachment | undefined {
  const pdfs = invoice.attachments.filter(
    (attachment) =>
      attachment.content &&
      (attachment.mimeCode === 'application/pdf' || attachment.filename?.toLowerCase().endsWith('.pdf')) &&
      Buffer.from(attachment.content.subarray(0, 5)).toString('latin1') === '%PDF-',
  );
  const labelled = pdfs.find((attachment) =>
    /^(CommercialInvoice|CreditNote|Invoice)$/i.test(attachment.description ?? attachment.documentType ?? ''),
  );
  return labelled ?? pdfs.find((attachment) => attachment.id === invoice.number) ?? pdfs[0];
}
