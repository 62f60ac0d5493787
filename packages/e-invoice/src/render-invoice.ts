import Decimal from 'decimal.js';
import type { Amount, EInvoice, Party, PostalAddress } from './model';
import { writeTextPdf, type TextBlock } from './text-pdf';

const money = (amount: Amount | undefined) =>
  amount ? `${new Decimal(amount.value).toFixed(2)} ${amount.currency}` : '';

const addressLine = (address?: PostalAddress) =>
  [
    address?.street,
    address?.additionalStreet,
    [address?.postalZone, address?.city].filter(Boolean).join(' '),
    address?.country,
  ]
    .filter(Boolean)
    .join(', ');

function partyBlocks(label: string, party: Party): TextBlock[] {
  return [
    { text: label, bold: true, gap: 10 },
    { text: party.name },
    ...(party.tradingName && party.tradingName !== party.name ? [{ text: party.tradingName }] : []),
    ...(addressLine(party.address) ? [{ text: addressLine(party.address) }] : []),
    ...(party.vatNumber ? [{ text: `VAT ${party.vatNumber}` }] : []),
    ...(party.legalId ? [{ text: `Registration ${party.legalId.value}` }] : []),
  ];
}

const LINE_COLUMNS = [0, 30, 250, 310, 380, 430];
const VAT_COLUMNS = [0, 120, 220, 330];

/** A readable PDF of an e-invoice that came without one: parties, number, dates, lines, VAT breakdown, totals. */
export function renderInvoicePdf(invoice: EInvoice): Promise<Uint8Array> {
  const title = `${invoice.kind === 'credit_note' ? 'Credit note' : 'Invoice'} ${invoice.number}`;
  const blocks: TextBlock[] = [
    { text: title, bold: true, size: 16 },
    { text: `Issue date ${invoice.issueDate}${invoice.dueDate ? `    Due date ${invoice.dueDate}` : ''}`, gap: 4 },
    ...(invoice.buyerReference ? [{ text: `Buyer reference ${invoice.buyerReference}` }] : []),
    ...(invoice.orderReference ? [{ text: `Order ${invoice.orderReference}` }] : []),
    ...invoice.billingReferences.map((ref) => ({
      text: `Corrects ${ref.id}${ref.issueDate ? ` of ${ref.issueDate}` : ''}`,
    })),
    ...partyBlocks('Seller', invoice.seller),
    ...partyBlocks('Buyer', invoice.buyer),
    { text: '#\tItem\tQuantity\tPrice\tVAT\tNet amount', bold: true, gap: 14, columns: LINE_COLUMNS },
    ...invoice.lines.map((line) => ({
      text: [
        line.id,
        line.itemName,
        `${line.quantity} ${line.unitCode ?? ''}`.trim(),
        new Decimal(line.price.amount.value).toFixed(2),
        line.taxCategory ? `${line.taxCategory.id} ${line.taxCategory.percent ?? ''}%` : '',
        money(line.lineExtensionAmount),
      ].join('\t'),
      columns: LINE_COLUMNS,
    })),
    ...invoice.allowanceCharges.map((charge) => ({
      text: `${charge.isCharge ? 'Charge' : 'Allowance'}: ${charge.reason ?? charge.reasonCode ?? ''}  ${money(charge.amount)}`,
    })),
    { text: 'VAT category\tRate\tTaxable amount\tVAT', bold: true, gap: 14, columns: VAT_COLUMNS },
    ...invoice.vatBreakdown.map((row) => ({
      text: [
        [row.category.id, row.category.name].filter(Boolean).join(' / '),
        row.category.percent !== undefined ? `${row.category.percent}%` : '',
        money(row.taxableAmount),
        money(row.taxAmount),
      ].join('\t'),
      columns: VAT_COLUMNS,
    })),
    { text: `Total without VAT  ${money(invoice.totals.taxExclusive)}`, gap: 14 },
    { text: `VAT  ${money(invoice.taxTotal)}` },
    { text: `Total with VAT  ${money(invoice.totals.taxInclusive)}` },
    ...(invoice.totals.prepaid ? [{ text: `Paid  ${money(invoice.totals.prepaid)}` }] : []),
    { text: `Amount due  ${money(invoice.totals.payable)}`, bold: true },
    ...invoice.paymentMeans
      .filter((means) => means.account)
      .map((means) => ({
        text: `Pay to ${means.account!.id}${means.paymentId ? `, reference ${means.paymentId}` : ''}`,
        gap: 8,
      })),
    ...(invoice.paymentTerms ? [{ text: invoice.paymentTerms }] : []),
    ...(invoice.note ? [{ text: invoice.note, gap: 8 }] : []),
  ];
  return writeTextPdf(title, blocks);
}
