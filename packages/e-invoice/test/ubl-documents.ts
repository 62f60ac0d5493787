import { readdirSync } from 'node:fs';
import path from 'node:path';

/** The OpenPEPPOL example invoices (see test/fixtures/peppol/PROVENANCE.tsv), by path below SAMPLES. */
export const SAMPLES = path.resolve(__dirname, '../../../test/fixtures/peppol');
export const sampleFiles = [
  ...readdirSync(SAMPLES).filter((name) => name.endsWith('.xml')),
  ...readdirSync(path.join(SAMPLES, 'release-2026.5')).map((name) => `release-2026.5/${name}`),
];

/** A small UBL.BE invoice (or credit note) with `extra` elements after its header. */
export const minimal = (extra = '', root = 'Invoice') => `<?xml version="1.0"?>
<${root} xmlns="urn:oasis:names:specification:ubl:schema:xsd:${root}-2"
  xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
  xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
  <cbc:CustomizationID>urn:cen.eu:en16931:2017#conformant#urn:UBL.BE:1.0.0.20180214</cbc:CustomizationID>
  <cbc:ID>F-2026-7</cbc:ID><cbc:IssueDate>2026-03-01</cbc:IssueDate><cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
  ${extra}
  <cac:AccountingSupplierParty><cac:Party><cac:PartyName><cbc:Name>Bakkerij Peeters &amp; Zn</cbc:Name></cac:PartyName>
    <cac:PartyTaxScheme><cbc:CompanyID>BE0123456749</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme></cac:Party></cac:AccountingSupplierParty>
  <cac:AccountingCustomerParty><cac:Party><cac:PartyName><cbc:Name>Klant</cbc:Name></cac:PartyName></cac:Party></cac:AccountingCustomerParty>
  <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount><cac:TaxSubtotal><cbc:TaxableAmount currencyID="EUR">100.00</cbc:TaxableAmount>
    <cbc:TaxAmount currencyID="EUR">21.00</cbc:TaxAmount><cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Name>03</cbc:Name><cbc:Percent>21</cbc:Percent></cac:TaxCategory></cac:TaxSubtotal></cac:TaxTotal>
  <cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount><cbc:TaxExclusiveAmount currencyID="EUR">100.00</cbc:TaxExclusiveAmount>
    <cbc:TaxInclusiveAmount currencyID="EUR">121.00</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID="EUR">121.00</cbc:PayableAmount></cac:LegalMonetaryTotal>
  <cac:${root}Line><cbc:ID>1</cbc:ID><cbc:${root === 'Invoice' ? 'Invoiced' : 'Credited'}Quantity unitCode="C62">0.1</cbc:${root === 'Invoice' ? 'Invoiced' : 'Credited'}Quantity>
    <cbc:LineExtensionAmount currencyID="EUR">100.00</cbc:LineExtensionAmount><cac:Item><cbc:Name>Brood</cbc:Name></cac:Item>
    <cac:Price><cbc:PriceAmount currencyID="EUR">1000</cbc:PriceAmount></cac:Price></cac:${root}Line>
</${root}>`;
