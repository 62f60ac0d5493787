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
  /** AddressLine/Line: the third address line (BT-162, BT-165 ...) */
  addressLine?: string;
  country?: string;
}

/** InvoicePeriod; the description code (BT-8, UNTDID 2005) occurs at document level only. */
export interface Period {
  start?: string;
  end?: string;
  descriptionCode?: string;
}

export interface Party {
  name: string;
  tradingName?: string;
  endpoint?: Identifier;
  identifiers: Identifier[];
  vatNumber?: string;
  legalId?: Identifier;
  /** PartyLegalEntity/CompanyLegalForm (BT-33), e.g. "Foretaksregisteret" or a share capital */
  legalForm?: string;
  /** PartyTaxScheme entries other than the VAT number, e.g. the seller's tax registration (BT-32) */
  taxRegistrations: Array<{ companyId: string; taxScheme: string }>;
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

/** CommodityClassification/ItemClassificationCode (BT-158), e.g. a CPV or UNSPSC code */
export interface ItemClassification {
  code: string;
  listId?: string;
  listVersionId?: string;
}

export interface InvoiceLine {
  id: string;
  quantity: DecimalString;
  unitCode?: string;
  lineExtensionAmount: Amount;
  itemName: string;
  description?: string;
  sellersItemId?: string;
  buyersItemId?: string;
  /** StandardItemIdentification (BT-157), e.g. a GTIN with scheme 0160 */
  standardItemId?: Identifier;
  classifications: ItemClassification[];
  /** AdditionalItemProperty (BG-32) */
  properties: Array<{ name: string; value: string }>;
  originCountry?: string;
  price: {
    amount: Amount;
    baseQuantity?: DecimalString;
    baseQuantityUnitCode?: string;
    allowance?: AllowanceCharge;
  };
  taxCategory?: TaxCategory;
  allowanceCharges: AllowanceCharge[];
  note?: string;
  period?: Period;
  orderLineReference?: string;
  accountingCost?: string;
  /** UBL.BE: the line's VAT, TaxTotal/TaxAmount (ubl-BE-14) */
  taxAmount?: Amount;
  /** DocumentReference with DocumentTypeCode 130: the invoiced object of the line (BT-128) */
  objectIdentifier?: Identifier;
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

/**
 * An AdditionalDocumentReference, with or without a file; `content` is the decoded embedded file, when there is
 * one. With DocumentTypeCode 130 it is the invoiced object identifier (BT-18), its scheme in `idScheme`.
 */
export interface Attachment {
  id: string;
  idScheme?: string;
  description?: string;
  /** DocumentType (e-fff), or else DocumentTypeCode */
  documentType?: string;
  documentTypeCode?: string;
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
  /** DespatchDocumentReference (BT-16) */
  despatchReference?: string;
  /** ReceiptDocumentReference (BT-15) */
  receiptReference?: string;
  /** OriginatorDocumentReference: the tender or lot (BT-17) */
  originatorReference?: string;
  invoicePeriod?: Period;
  seller: Party;
  buyer: Party;
  payee?: Party;
  taxRepresentative?: Party;
  delivery?: {
    date?: string;
    locationId?: Identifier;
    address?: PostalAddress;
    partyName?: string;
    /** UBL.BE: DeliveryTerms, the legal mention (BELM-001 ... BELM-008) and its text (ubl-BE-05/06) */
    terms?: { id?: string; specialTerms?: string };
  };
  paymentMeans: PaymentMeans[];
  paymentTerms?: string;
  /** UBL.BE: the cash discount in PaymentTerms (ubl-BE-07..09): its percent, amount and last day */
  settlementDiscount?: { percent: DecimalString; amount?: Amount; dueDate?: string };
  allowanceCharges: AllowanceCharge[];
  taxTotal: Amount;
  /** BT-111: the VAT total in the tax currency, when it differs */
  taxTotalInTaxCurrency?: Amount;
  vatBreakdown: VatBreakdown[];
  totals: MonetaryTotals;
  lines: InvoiceLine[];
  attachments: Attachment[];
}
