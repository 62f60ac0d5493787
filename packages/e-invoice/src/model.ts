/**
 * The platform's one e-invoice model (EN 16931 semantics, UBL vocabulary). Intake reads into it; invoicing
 * will write from it. Amounts and quantities are exact decimals kept as canonical strings ("1656.25",
 * "-3"): never floats, so a reader and a writer agree to the cent.
 */
export type DecimalString = string;

export interface Amount {
  value: DecimalString;
  currency: string;
}

export type DocumentKind = 'invoice' | 'credit_note';

/** Which rule set the document claims to follow, from its CustomizationID. */
export type InvoiceSyntax = 'peppol_bis_3' | 'ubl_be' | 'efff' | 'en16931' | 'ubl';

export interface Identifier {
  value: string;
  scheme?: string;
}

export interface PostalAddress {
  street?: string;
  additionalStreet?: string;
  city?: string;
  postalZone?: string;
  subdivision?: string;
  country?: string;
}

export interface Party {
  name: string;
  tradingName?: string;
  endpoint?: Identifier;
  identifiers: Identifier[];
  vatNumber?: string;
  legalId?: Identifier;
  address?: PostalAddress;
  contact?: { name?: string; phone?: string; email?: string };
}

export interface TaxCategory {
  /** UNCL5305 code: S, Z, E, AE, K, G, O, L, M */
  id: string;
  percent?: DecimalString;
  /** UBL.BE / e-fff: Belgian tax category (BTCC), e.g. 03 */
  name?: string;
  exemptionReasonCode?: string;
  exemptionReason?: string;
}

export interface AllowanceCharge {
  /** true: a charge, false: an allowance */
  isCharge: boolean;
  amount: Amount;
  baseAmount?: Amount;
  percent?: DecimalString;
  reason?: string;
  reasonCode?: string;
  taxCategory?: TaxCategory;
}

export interface InvoiceLine {
  id: string;
  quantity: DecimalString;
  unitCode?: string;
  lineExtensionAmount: Amount;
  itemName: string;
  description?: string;
  sellersItemId?: string;
  price: { amount: Amount; baseQuantity?: DecimalString; allowance?: AllowanceCharge };
  taxCategory?: TaxCategory;
  allowanceCharges: AllowanceCharge[];
  note?: string;
  period?: { start?: string; end?: string };
  orderLineReference?: string;
}

export interface VatBreakdown {
  taxableAmount: Amount;
  taxAmount: Amount;
  category: TaxCategory;
}

export interface MonetaryTotals {
  lineExtension: Amount;
  taxExclusive: Amount;
  taxInclusive: Amount;
  allowanceTotal?: Amount;
  chargeTotal?: Amount;
  prepaid?: Amount;
  payableRounding?: Amount;
  payable: Amount;
}

export interface PaymentMeans {
  code: string;
  name?: string;
  paymentId?: string;
  account?: { id: string; name?: string; bic?: string };
  card?: { primaryAccountNumber: string; network?: string; holder?: string };
  mandate?: { id?: string; payerAccount?: string };
}

/** An AdditionalDocumentReference; `content` is the decoded embedded file, when there is one. */
export interface Attachment {
  id: string;
  description?: string;
  documentType?: string;
  mimeCode?: string;
  filename?: string;
  externalUri?: string;
  content?: Uint8Array;
}

export interface EInvoice {
  kind: DocumentKind;
  syntax: InvoiceSyntax;
  customizationId?: string;
  profileId?: string;
  number: string;
  issueDate: string;
  dueDate?: string;
  typeCode: string;
  currency: string;
  taxCurrency?: string;
  taxPointDate?: string;
  note?: string;
  buyerReference?: string;
  orderReference?: string;
  salesOrderReference?: string;
  accountingCost?: string;
  billingReferences: Array<{ id: string; issueDate?: string }>;
  contractReference?: string;
  projectReference?: string;
  invoicePeriod?: { start?: string; end?: string };
  seller: Party;
  buyer: Party;
  payee?: Party;
  taxRepresentative?: Party;
  delivery?: { date?: string; locationId?: Identifier; address?: PostalAddress; partyName?: string };
  paymentMeans: PaymentMeans[];
  paymentTerms?: string;
  allowanceCharges: AllowanceCharge[];
  taxTotal: Amount;
  /** BT-111: the VAT total in the tax currency, when it differs */
  taxTotalInTaxCurrency?: Amount;
  vatBreakdown: VatBreakdown[];
  totals: MonetaryTotals;
  lines: InvoiceLine[];
  attachments: Attachment[];
}
