import { types } from 'pg';

/**
 * Both adapters return the same JavaScript values for the same column types, so business code never
 * depends on the driver: int8 → number (counts and sizes; money is never int8), numeric → string (exact
 * decimals, handled by the caller's decimal type), date → 'YYYY-MM-DD' string (a date is not an instant),
 * timestamptz → Date, json/jsonb → parsed value.
 */
const OID = { int8: 20, numeric: 1700, date: 1082, timestamp: 1114, timestamptz: 1184, json: 114, jsonb: 3802 };

const asNumber = (value: string) => Number(value);
const asString = (value: string) => value;
const asDate = (value: string) => new Date(value);
const asTimestampUtc = (value: string) => new Date(value.replace(' ', 'T') + 'Z');
const asJson = (value: string) => JSON.parse(value);

const PARSERS: Record<number, (value: string) => unknown> = {
  [OID.int8]: asNumber,
  [OID.numeric]: asString,
  [OID.date]: asString,
  [OID.timestamp]: asTimestampUtc,
  [OID.timestamptz]: asDate,
  [OID.json]: asJson,
  [OID.jsonb]: asJson,
};

export const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    const parser = PARSERS[oid];
    if (parser && format !== 'binary') return parser;
    return (types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  },
} as unknown as typeof types;

export const PGLITE_PARSERS: Record<number, (value: string) => unknown> = Object.fromEntries(
  Object.entries(PARSERS).map(([oid, parse]) => [Number(oid), (value: string) => parse(value)]),
);
