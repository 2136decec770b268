/**
 * How Go values look in this interpreter: strings, numbers, booleans, null (nil), arrays
 * (slices), plain objects (map[string]interface{}), and classes for Go structs (KVPair, Time).
 * Printing follows fmt's %v as text/template uses it.
 */

/** A Go struct: fields are readable with `.Field`, methods callable with `.Method args`. */
export abstract class GoStruct {
  abstract fieldNames(): readonly string[];
  /** fmt %v of the struct */
  abstract format(): string;
}

export class KVPair extends GoStruct {
  constructor(
    readonly Key: string,
    readonly Value: string,
  ) {
    super();
  }
  fieldNames(): readonly string[] {
    return ['Key', 'Value'];
  }
  format(): string {
    return `{${this.Key} ${this.Value}}`;
  }
}

/** A missing value (map miss, nil): prints as `<no value>`. */
export const NO_VALUE = undefined;

export function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof GoStruct) && Object.getPrototypeOf(v) === Object.prototype;
}

export function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (v instanceof GoStruct) return v.constructor.name;
  if (isMap(v)) return 'map[string]interface {}';
  return typeof v;
}

/** text/template's truth: false, 0, "", nil, empty slices and maps are false. */
export function isTrue(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

/** Go's %v / fmt.Sprint of one value. */
export function formatValue(v: unknown, top = true): string {
  if (v === null || v === undefined) return top ? '<no value>' : '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x, false)).join(' ')}]`;
  if (v instanceof GoStruct) return v.format();
  if (isMap(v)) {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${formatValue(v[k], false)}`)
      .join(' ')}]`;
  }
  return String(v);
}

/**
 * Integers print in full; other numbers as Go's %v for float64: the shortest representation,
 * in %e form when the exponent is < -4 or >= 6 (strconv's 'g' with shortest precision).
 */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  if (Number.isInteger(n)) return Number.isSafeInteger(n) ? String(n) : goExp(n);
  const exp = Number(n.toExponential().split('e')[1]);
  if (exp < -4 || exp >= 6) return goExp(n);
  return String(n);
}

function goExp(n: number): string {
  // JS: 1.5e+25 / 1e-7; Go: 1.5e+25 / 1e-07 (at least two exponent digits)
  return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
}
