import Decimal from 'decimal.js';
import type {
  AllowanceCharge,
  Amount,
  Attachment,
  EInvoice,
  Identifier,
  InvoiceLine,
  Party,
  PaymentMeans,
  Period,
  PostalAddress,
  TaxCategory,
} from './model';
import { TEXT_WIDTH, writeTextPdf, type Block, type TableBlock, type TableRow } from './text-pdf';

/** UNTDID 1001: the document type codes EN 16931 allows for invoices and credit notes */
const DOCUMENT_TYPES: Record<string, string> = {
  '71': 'Request for payment',
  '80': 'Debit note related to goods or services',
  '81': 'Credit note related to goods or services',
  '82': 'Metered services invoice',
  '83': 'Credit note related to financial adjustments',
  '84': 'Debit note related to financial adjustments',
  '261': 'Self-billed credit note',
  '262': 'Consolidated credit note',
  '296': 'Credit note for price variation',
  '308': 'Delcredere credit note',
  '325': 'Proforma invoice',
  '326': 'Partial invoice',
  '380': 'Commercial invoice',
  '381': 'Credit note',
  '383': 'Debit note',
  '384': 'Corrected invoice',
  '386': 'Prepayment invoice',
  '389': 'Self-billed invoice',
  '393': 'Factored invoice',
  '396': 'Factored credit note',
  '532': "Forwarder's credit note",
  '575': "Insurer's invoice",
  '623': "Forwarder's invoice",
  '751': 'Invoice information for accounting purposes',
  '780': 'Freight invoice',
};

/** UNCL 5305: VAT category codes */
const VAT_CATEGORIES: Record<string, string> = {
  S: 'Standard rate',
  Z: 'Zero rated goods',
  E: 'Exempt from VAT',
  AE: 'VAT reverse charge',
  K: 'Intra-community supply (VAT exempt)',
  G: 'Export outside the EU (VAT exempt)',
  O: 'Not subject to VAT',
  L: 'Canary Islands general indirect tax',
  M: 'Tax for production, services and importation in Ceuta and Melilla',
  B: 'Transferred (VAT), Italy',
};

/** UNCL 4461: payment means codes */
const PAYMENT_MEANS: Record<string, string> = {
  '1': 'Instrument not defined',
  '10': 'In cash',
  '20': 'Cheque',
  '30': 'Credit transfer',
  '31': 'Debit transfer',
  '42': 'Payment to bank account',
  '48': 'Bank card',
  '49': 'Direct debit',
  '54': 'Credit card',
  '55': 'Debit card',
  '57': 'Standing agreement',
  '58': 'SEPA credit transfer',
  '59': 'SEPA direct debit',
  '68': 'Online payment service',
  '97': 'Clearing between partners',
  ZZZ: 'Mutually defined',
};

/** UN/ECE Recommendation 20: the units an invoice uses most */
const UNITS: Record<string, string> = {
  C62: 'unit',
  H87: 'piece',
  EA: 'each',
  XPP: 'piece',
  SET: 'set',
  PR: 'pair',
  LS: 'lump sum',
  MIN: 'minute',
  HUR: 'hour',
  DAY: 'day',
  WEE: 'week',
  MON: 'month',
  ANN: 'year',
  GRM: 'g',
  KGM: 'kg',
  TNE: 't',
  MTR: 'm',
  KMT: 'km',
  MTK: 'm²',
  MTQ: 'm³',
  LTR: 'l',
  KWH: 'kWh',
};

const nonEmpty = (...values: Array<string | undefined | false>) => values.filter((value): value is string => !!value);
const coded = (names: Record<string, string>, code: string | undefined) =>
  code ? (names[code] ? `${names[code]} (${code})` : code) : '';

/** an exact decimal with at least two decimals: a unit price of 0.0125 is not rounded away */
function decimal(value: string): string {
  try {
    const number = new Decimal(value);
    return number.decimalPlaces() > 2 ? number.toFixed() : number.toFixed(2);
  } catch {
    return value;
  }
}

const money = (amount: Amount | undefined) => (amount ? `${decimal(amount.value)} ${amount.currency}` : '');
/** in a table whose amounts are all in the document currency, only those in another one say so */
const figure = (amount: Amount | undefined, currency: string) =>
  !amount ? '' : amount.currency === currency ? decimal(amount.value) : money(amount);

const withScheme = (id: Identifier | undefined) =>
  id ? `${id.value}${id.scheme ? ` (scheme ${id.scheme})` : ''}` : '';
const period = (value: Period | undefined) =>
  value && (value.start || value.end || value.descriptionCode)
    ? nonEmpty(
        [value.start, value.end].filter(Boolean).join(' to '),
        value.descriptionCode && `VAT due date code ${value.descriptionCode}`,
      ).join(', ')
    : '';
const quantity = (value: string, unitCode: string | undefined) =>
  nonEmpty(value, unitCode && (UNITS[unitCode] ?? unitCode)).join(' ');
const percent = (value: string | undefined) => (value === undefined ? '' : `${value}%`);
const vatRate = (category: TaxCategory | undefined) =>
  category ? nonEmpty(category.id, percent(category.percent)).join(' ') : '';

function addressLines(address: PostalAddress | undefined): string[] {
  if (!address) return [];
  return nonEmpty(
    address.street,
    address.additionalStreet,
    address.addressLine,
    nonEmpty(address.postalZone, address.city).join(' '),
    address.subdivision,
    address.country,
  );
}

function partyText(party: Party): string {
  return nonEmpty(
    party.name,
    party.tradingName && party.tradingName !== party.name && `Trading as ${party.tradingName}`,
    ...addressLines(party.address),
    party.vatNumber && `VAT number ${party.vatNumber}`,
    ...party.taxRegistrations.map(
      (tax) => `Tax registration ${tax.companyId}${tax.taxScheme ? ` (${tax.taxScheme})` : ''}`,
    ),
    party.legalId && `Legal registration ${withScheme(party.legalId)}`,
    party.legalForm && `Legal information ${party.legalForm}`,
    ...party.identifiers.map((id) => `Identifier ${withScheme(id)}`),
    party.endpoint && `Electronic address ${withScheme(party.endpoint)}`,
    party.contact &&
      nonEmpty(party.contact.name, party.contact.phone, party.contact.email).length > 0 &&
      `Contact ${nonEmpty(party.contact.name, party.contact.phone, party.contact.email).join(', ')}`,
  ).join('\n');
}

/** e.g. "Allowance: Discount (95), 10% of 1000.00 EUR: 100.00 EUR, VAT S 25%" */
function allowanceChargeText(charge: AllowanceCharge): string {
  const reason = nonEmpty(charge.reason, charge.reasonCode && `(${charge.reasonCode})`).join(' ');
  const base = charge.baseAmount
    ? `${charge.percent !== undefined ? `${charge.percent}% of ` : 'base '}${money(charge.baseAmount)}`
    : charge.percent !== undefined
      ? `${charge.percent}%`
      : '';
  return `${charge.isCharge ? 'Charge' : 'Allowance'}${reason ? `: ${reason}` : ''}${base ? `, ${base}` : ''}`;
}

/** A Belgian structured communication (+++123/4567/89012+++): ten digits and their remainder modulo 97. */
function isStructuredCommunication(reference: string): boolean {
  const digits = reference.replace(/[+*/\s]/g, '');
  if (!/^\d{12}$/.test(digits)) return false;
  const check = Number(BigInt(digits.slice(0, 10)) % 97n) || 97;
  return check === Number(digits.slice(10));
}

const keyValues = (rows: Array<[string, string | undefined]>, gap = 6): TableBlock[] => {
  const present = rows.filter((row): row is [string, string] => !!row[1]);
  return present.length === 0
    ? []
    : [
        {
          columns: [{ width: 150 }, { width: TEXT_WIDTH - 150 }],
          rows: present,
          size: 9,
          gap,
        },
      ];
};

/** parties side by side, those the invoice names */
function partyColumns(parties: Array<[string, Party | undefined]>, gap: number): TableBlock[] {
  const named = parties.filter((entry): entry is [string, Party] => entry[1] !== undefined);
  if (named.length === 0) return [];
  return [
    {
      columns: [{ width: TEXT_WIDTH / 2 }, { width: TEXT_WIDTH / 2 }],
      header: named.map(([label]) => label),
      rows: [named.map(([, party]) => partyText(party))],
      size: 9,
      gap,
    },
  ];
}

const heading = (text: string): Block => ({ text, bold: true, size: 12, gap: 14, heading: true });

function lineItemText(line: InvoiceLine): string {
  const price = line.price;
  return nonEmpty(
    line.itemName,
    line.description,
    line.sellersItemId && `Seller's item id ${line.sellersItemId}`,
    line.buyersItemId && `Buyer's item id ${line.buyersItemId}`,
    line.standardItemId && `Standard id ${withScheme(line.standardItemId)}`,
    ...line.classifications.map(
      (item) =>
        `Classification ${item.code}${item.listId ? ` (${[item.listId, item.listVersionId].filter(Boolean).join(' ')})` : ''}`,
    ),
    ...line.properties.map((property) => `${property.name}: ${property.value}`),
    line.originCountry && `Origin ${line.originCountry}`,
    period(line.period) && `Period ${period(line.period)}`,
    line.orderLineReference && `Order line ${line.orderLineReference}`,
    line.objectIdentifier && `Object ${withScheme(line.objectIdentifier)}`,
    line.accountingCost && `Accounting reference ${line.accountingCost}`,
    price.baseQuantity !== undefined &&
      `Price for ${quantity(price.baseQuantity, price.baseQuantityUnitCode ?? line.unitCode)}`,
    price.allowance &&
      `Price after a discount of ${money(price.allowance.amount)}${price.allowance.baseAmount ? ` on ${money(price.allowance.baseAmount)}` : ''}`,
    ...line.allowanceCharges.map((charge) => `${allowanceChargeText(charge)}: ${money(charge.amount)}`),
    line.taxAmount && `Line VAT ${money(line.taxAmount)}`,
    line.note && `Note: ${line.note}`,
  ).join('\n');
}

function paymentMeansText(means: PaymentMeans): string {
  return nonEmpty(
    means.name ? `${means.name} (${means.code})` : coded(PAYMENT_MEANS, means.code) || 'Payment',
    means.account && `Account (IBAN) ${means.account.id}`,
    means.account?.name && `Account name ${means.account.name}`,
    means.account?.bic && `BIC ${means.account.bic}`,
    means.paymentId &&
      `${isStructuredCommunication(means.paymentId) ? 'Structured communication' : 'Payment reference'} ${means.paymentId}`,
    means.card &&
      `Card ${means.card.primaryAccountNumber}${nonEmpty(means.card.network, means.card.holder).length ? ` (${nonEmpty(means.card.network, means.card.holder).join(', ')})` : ''}`,
    means.mandate?.id && `Direct debit mandate ${means.mandate.id}`,
    means.mandate?.payerAccount && `Debited account ${means.mandate.payerAccount}`,
  ).join('\n');
}

function attachmentText(attachment: Attachment): string {
  return nonEmpty(
    attachment.filename ?? attachment.id,
    attachment.filename && attachment.id && `(${attachment.id})`,
    attachment.description,
    attachment.documentType && attachment.documentType !== attachment.description && `type ${attachment.documentType}`,
    attachment.mimeCode,
    attachment.externalUri,
    attachment.content && `attached file of ${attachment.content.byteLength} bytes, not shown here`,
  ).join(', ');
}

const LINE_COLUMNS = [
  { width: 28 },
  { width: 187 },
  { width: 70, align: 'right' as const },
  { width: 70, align: 'right' as const },
  { width: 50 },
  { width: 90, align: 'right' as const },
];

/**
 * A readable PDF of an e-invoice that came without one: everything an accountant reads an invoice for. The
 * parties with their addresses and registrations, the number, type, dates, currency and references, the notes and
 * delivery, every line with its item, quantity, price, allowances and charges and VAT, the document's allowances
 * and charges, the VAT breakdown with exemption reasons, all totals, how to pay, and the attached documents by
 * name. Amounts are exact as in the file.
 */
export function renderInvoicePdf(invoice: EInvoice): Promise<Uint8Array> {
  const currency = invoice.currency;
  const kind = invoice.kind === 'credit_note' ? 'Credit note' : 'Invoice';
  const title = `${kind} ${invoice.number}`;
  const billingReferences = invoice.billingReferences.map(
    (ref) => `${ref.id}${ref.issueDate ? ` of ${ref.issueDate}` : ''}`,
  );
  const blocks: Block[] = [
    { text: title, bold: true, size: 16 },
    ...keyValues([
      ['Number', invoice.number],
      ['Type', `${kind}: ${coded(DOCUMENT_TYPES, invoice.typeCode)}`],
      ['Issue date', invoice.issueDate],
      ['Due date', invoice.dueDate],
      ['Tax point date', invoice.taxPointDate],
      ['Invoice period', period(invoice.invoicePeriod)],
      ['Currency', currency],
      ['VAT accounting currency', invoice.taxCurrency !== currency ? invoice.taxCurrency : undefined],
      ['Buyer reference', invoice.buyerReference],
      ['Order reference', invoice.orderReference],
      ['Sales order reference', invoice.salesOrderReference],
      ['Contract reference', invoice.contractReference],
      ['Project reference', invoice.projectReference],
      [
        invoice.kind === 'credit_note' ? 'Credited invoice' : 'Preceding invoice',
        billingReferences.join('\n') || undefined,
      ],
      ['Despatch advice', invoice.despatchReference],
      ['Receiving advice', invoice.receiptReference],
      ['Tender or lot', invoice.originatorReference],
      ["Buyer's accounting reference", invoice.accountingCost],
    ]),
    ...partyColumns(
      [
        ['Seller', invoice.seller],
        ['Buyer', invoice.buyer],
      ],
      14,
    ),
    ...partyColumns(
      [
        ['Payee', invoice.payee],
        ["Seller's tax representative", invoice.taxRepresentative],
      ],
      10,
    ),
    ...(invoice.note ? [heading('Notes'), { text: invoice.note, size: 9 }] : []),
    ...(invoice.delivery
      ? [
          heading('Delivery'),
          ...keyValues(
            [
              ['Delivery date', invoice.delivery.date],
              ['Delivered to', invoice.delivery.partyName],
              ['Location', withScheme(invoice.delivery.locationId)],
              ['Address', addressLines(invoice.delivery.address).join('\n')],
              [
                'Delivery terms',
                nonEmpty(invoice.delivery.terms?.id, invoice.delivery.terms?.specialTerms).join(': ') || undefined,
              ],
            ],
            0,
          ),
        ]
      : []),
    heading(`Lines (amounts in ${currency})`),
    {
      columns: LINE_COLUMNS,
      header: ['#', 'Item', 'Quantity', 'Unit price', 'VAT', 'Net amount'],
      rows: invoice.lines.map((line) => [
        line.id,
        lineItemText(line),
        quantity(line.quantity, line.unitCode),
        figure(line.price.amount, currency),
        vatRate(line.taxCategory),
        figure(line.lineExtensionAmount, currency),
      ]),
    },
    ...(invoice.allowanceCharges.length > 0
      ? [
          heading('Allowances and charges on the document'),
          {
            columns: [{ width: 285 }, { width: 60 }, { width: 150, align: 'right' as const }],
            header: ['Allowance or charge', 'VAT', 'Amount'],
            rows: invoice.allowanceCharges.map((charge) => [
              allowanceChargeText(charge),
              vatRate(charge.taxCategory),
              money(charge.amount),
            ]),
          },
        ]
      : []),
    heading('VAT breakdown'),
    {
      columns: [
        { width: 235 },
        { width: 50, align: 'right' as const },
        { width: 105, align: 'right' as const },
        { width: 105, align: 'right' as const },
      ],
      header: ['VAT category', 'Rate', 'Taxable amount', 'VAT'],
      rows: invoice.vatBreakdown.map((row) => [
        nonEmpty(
          coded(VAT_CATEGORIES, row.category.id),
          row.category.name && `Belgian category ${row.category.name}`,
          (row.category.exemptionReason || row.category.exemptionReasonCode) &&
            `Exemption: ${nonEmpty(row.category.exemptionReason, row.category.exemptionReasonCode && (row.category.exemptionReason ? `(${row.category.exemptionReasonCode})` : row.category.exemptionReasonCode)).join(' ')}`,
        ).join('\n'),
        percent(row.category.percent),
        money(row.taxableAmount),
        money(row.taxAmount),
      ]),
    },
    heading('Totals'),
    {
      columns: [{ width: 345 }, { width: 150, align: 'right' as const }],
      rows: [
        ['Sum of line net amounts', money(invoice.totals.lineExtension)],
        ...totalRow('Allowances on the document', invoice.totals.allowanceTotal),
        ...totalRow('Charges on the document', invoice.totals.chargeTotal),
        ['Total without VAT', money(invoice.totals.taxExclusive)],
        ['VAT', money(invoice.taxTotal)],
        ...totalRow('VAT in the accounting currency', invoice.taxTotalInTaxCurrency),
        ['Total with VAT', money(invoice.totals.taxInclusive)],
        ...totalRow('Paid in advance', invoice.totals.prepaid),
        ...totalRow('Rounding', invoice.totals.payableRounding),
        { cells: ['Amount due', money(invoice.totals.payable)], bold: true },
      ],
    },
    ...(invoice.paymentMeans.length > 0 || invoice.paymentTerms || invoice.settlementDiscount
      ? [
          heading('Payment'),
          ...invoice.paymentMeans.map((means, index): Block => ({
            text: paymentMeansText(means),
            size: 9,
            gap: index ? 6 : 0,
          })),
          ...(invoice.paymentTerms ? [{ text: `Payment terms: ${invoice.paymentTerms}`, size: 9, gap: 6 }] : []),
          ...(invoice.settlementDiscount
            ? [
                {
                  text: `Cash discount ${invoice.settlementDiscount.percent}%${invoice.settlementDiscount.amount ? ` (${money(invoice.settlementDiscount.amount)})` : ''}${invoice.settlementDiscount.dueDate ? ` if paid by ${invoice.settlementDiscount.dueDate}` : ''}`,
                  size: 9,
                  gap: 6,
                },
              ]
            : []),
        ]
      : []),
    ...(invoice.attachments.length > 0
      ? [
          heading('Attached documents'),
          ...invoice.attachments.map((attachment): Block => ({ text: attachmentText(attachment), size: 9 })),
        ]
      : []),
  ];
  return writeTextPdf(title, blocks, {
    replacementNote:
      'Characters this PDF cannot show are printed as "?"; the e-invoice file itself holds the exact text.',
  });
}

const totalRow = (label: string, amount: Amount | undefined): TableRow[] =>
  amount ? [{ cells: [label, money(amount)] }] : [];
