/**
 * confd's template functions (resource/template/template_funcs.go and the memkv lookups),
 * bound to one render's key/value view.
 */
import { existsSync } from 'node:fs';
import { fixed, int, str, variadic, type FuncMap } from './template/exec.js';
import { GoStruct, KVPair, typeName } from './template/values.js';
import { goReplace, goSplit, goToLower, goToUpper } from './gostrings.js';
import { pathBase, pathDir, type KeyValues } from './kv.js';
import { TemplateLookups } from './lookup.js';

export interface FuncOptions {
  env: Readonly<Record<string, string | undefined>>;
  now?: () => Date;
  /**
   * Answers for the DNS lookups; lookups without an answer are recorded there and answer empty
   * (see lookup.ts: evaluateWithLookups resolves them and evaluates again). Default: none known.
   */
  lookups?: TemplateLookups;
}

/** Names every confd template may use (for parsing before any data exists). */
export function confdFuncs(kv: KeyValues, options: FuncOptions): FuncMap {
  const now = options.now ?? (() => new Date());
  const lookups = options.lookups ?? new TemplateLookups();
  return {
    // memkv lookups
    exists: fixed(1, (k: unknown) => kv.exists(str(k))),
    get: fixed(1, (k: unknown) => kv.get(str(k))),
    gets: fixed(1, (p: unknown) => kv.getAll(str(p))),
    getv: variadic(1, (k: unknown, ...def: unknown[]) => {
      const key = str(k);
      if (kv.exists(key)) return kv.get(key).Value;
      if (def.length > 0) return str(def[0]);
      throw new Error(`key does not exist: ${key}`);
    }, 2),
    getvs: fixed(1, (p: unknown) => kv.getAllValues(str(p))),
    ls: fixed(1, (p: unknown) => kv.list(str(p))),
    lsdir: fixed(1, (p: unknown) => kv.listDir(str(p))),
    // strings and paths
    base: fixed(1, (p: unknown) => pathBase(str(p))),
    dir: fixed(1, (p: unknown) => pathDir(str(p))),
    split: fixed(2, (s: unknown, sep: unknown) => goSplit(str(s), str(sep))),
    join: fixed(2, (a: unknown, sep: unknown) => stringSlice(a).join(str(sep))),
    toUpper: fixed(1, (s: unknown) => goToUpper(str(s))),
    toLower: fixed(1, (s: unknown) => goToLower(str(s))),
    contains: fixed(2, (s: unknown, sub: unknown) => str(s).includes(str(sub))),
    replace: fixed(4, (s: unknown, o: unknown, n: unknown, count: unknown) => goReplace(str(s), str(o), str(n), int(count))),
    trimSuffix: fixed(2, (s: unknown, suffix: unknown) => {
      const v = str(s);
      const x = str(suffix);
      return x !== '' && v.endsWith(x) ? v.slice(0, -x.length) : v;
    }),
    base64Encode: fixed(1, (s: unknown) => Buffer.from(str(s)).toString('base64')),
    base64Decode: fixed(1, (s: unknown) => {
      const v = str(s);
      if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v)) throw new Error('illegal base64 data');
      return Buffer.from(v, 'base64').toString();
    }),
    json: fixed(1, (s: unknown) => {
      const v = parseJson(str(s));
      if (v !== null && (typeof v !== 'object' || Array.isArray(v))) throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go value of type map[string]interface {}`);
      return v;
    }),
    jsonArray: fixed(1, (s: unknown) => {
      const v = parseJson(str(s));
      if (v !== null && !Array.isArray(v)) throw new Error(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []interface {}`);
      return v;
    }),
    map: variadic(0, (...values: unknown[]) => {
      if (values.length % 2 !== 0) throw new Error('invalid map call');
      const out: Record<string, unknown> = {};
      for (let i = 0; i < values.length; i += 2) {
        if (typeof values[i] !== 'string') throw new Error('map keys must be strings');
        out[values[i] as string] = values[i + 1];
      }
      return out;
    }),
    getenv: variadic(1, (k: unknown, ...def: unknown[]) => {
      const v = options.env[str(k)];
      return v === undefined || v === '' ? (def.length > 0 ? str(def[0]) : '') : v;
    }, 2),
    datetime: fixed(0, () => new GoTime(now())),
    fileExists: fixed(1, (p: unknown) => existsSync(str(p))),
    lookupIP: fixed(1, (name: unknown) => lookups.ip(str(name))),
    lookupIPV4: fixed(1, (name: unknown) => lookups.ipv4(str(name))),
    lookupIPV6: fixed(1, (name: unknown) => lookups.ipv6(str(name))),
    lookupSRV: fixed(3, (service: unknown, proto: unknown, name: unknown) => lookups.srv(str(service), str(proto), str(name))),
    parseBool: fixed(1, (s: unknown) => {
      const v = str(s);
      if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
      if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
      throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`);
    }),
    reverse: fixed(1, (a: unknown) => {
      if (!Array.isArray(a)) throw new Error(`wrong type for value; expected slice; got ${typeName(a)}`);
      return [...a].reverse();
    }),
    sortByLength: fixed(1, (a: unknown) => [...stringSlice(a)].sort((x, y) => x.length - y.length)),
    sortKVByLength: fixed(1, (a: unknown) => {
      if (!Array.isArray(a) || !a.every((x) => x instanceof KVPair)) throw new Error(`wrong type for value; expected []memkv.KVPair; got ${typeName(a)}`);
      return [...(a as KVPair[])].sort((x, y) => x.Key.length - y.Key.length);
    }),
    // numbers
    seq: fixed(2, (first: unknown, last: unknown) => {
      const out: number[] = [];
      for (let i = int(first); i <= int(last); i++) out.push(i);
      return out;
    }),
    atoi: fixed(1, (s: unknown) => {
      const v = str(s);
      if (!/^[+-]?\d+$/.test(v)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(v)}: invalid syntax`);
      const n = Number(v);
      if (!Number.isSafeInteger(n)) throw new Error(`strconv.Atoi: parsing ${JSON.stringify(v)}: value out of range`);
      return n;
    }),
    add: fixed(2, (a: unknown, b: unknown) => int(a) + int(b)),
    sub: fixed(2, (a: unknown, b: unknown) => int(a) - int(b)),
    mul: fixed(2, (a: unknown, b: unknown) => int(a) * int(b)),
    div: fixed(2, (a: unknown, b: unknown) => {
      if (int(b) === 0) throw new Error('runtime error: integer divide by zero');
      return Math.trunc(int(a) / int(b));
    }),
    mod: fixed(2, (a: unknown, b: unknown) => {
      if (int(b) === 0) throw new Error('runtime error: integer divide by zero');
      return int(a) % int(b);
    }),
  };
}

function stringSlice(a: unknown): string[] {
  if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) throw new Error(`wrong type for value; expected []string; got ${typeName(a)}`);
  return a as string[];
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch (err) {
    throw new Error(`invalid JSON: ${(err as Error).message}`);
  }
}

function jsonKind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'object' : typeof v;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Go's time.Time as `datetime` returns it: prints like Time.String(), has Format/Unix/UTC. */
export class GoTime extends GoStruct {
  constructor(
    readonly date: Date,
    readonly utc = false,
  ) {
    super();
  }
  fieldNames(): readonly string[] {
    return [];
  }
  format(): string {
    return this.Format('2006-01-02 15:04:05.999999999 -0700 MST');
  }
  UTC(): GoTime {
    return new GoTime(this.date, true);
  }
  Local(): GoTime {
    return new GoTime(this.date, false);
  }
  Unix(): number {
    return Math.floor(this.date.getTime() / 1000);
  }
  UnixNano(): number {
    return this.date.getTime() * 1e6;
  }
  Year(): number {
    return this.utc ? this.date.getUTCFullYear() : this.date.getFullYear();
  }
  String(): string {
    return this.format();
  }
  Format(layout: unknown): string {
    const d = this.date;
    const u = this.utc;
    const year = u ? d.getUTCFullYear() : d.getFullYear();
    const month = u ? d.getUTCMonth() : d.getMonth();
    const day = u ? d.getUTCDate() : d.getDate();
    const wday = u ? d.getUTCDay() : d.getDay();
    const hour = u ? d.getUTCHours() : d.getHours();
    const min = u ? d.getUTCMinutes() : d.getMinutes();
    const sec = u ? d.getUTCSeconds() : d.getSeconds();
    const ms = d.getMilliseconds();
    const offsetMin = u ? 0 : -d.getTimezoneOffset();
    const yday = Math.floor((Date.UTC(year, month, day) - Date.UTC(year, 0, 1)) / 86_400_000) + 1;
    const p2 = (n: number): string => String(n).padStart(2, '0');
    const zone = (colon: boolean, z: boolean, secs: boolean, short: boolean): string => {
      if (z && offsetMin === 0) return 'Z';
      const sign = offsetMin < 0 ? '-' : '+';
      const a = Math.abs(offsetMin);
      const hh = p2(Math.floor(a / 60));
      const mm = p2(a % 60);
      if (short) return sign + hh;
      return sign + hh + (colon ? ':' : '') + mm + (secs ? (colon ? ':00' : '00') : '');
    };
    const zoneName = (): string => {
      if (offsetMin === 0) return 'UTC';
      const name = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((x) => x.type === 'timeZoneName')?.value;
      return name && /^[A-Z]{3,5}$/.test(name) ? name : zone(false, false, false, false);
    };
    const re = /January|Jan|Monday|Mon|MST|2006|002|__2|_2|-07:00:00|-070000|-07:00|-0700|-07|Z07:00:00|Z070000|Z07:00|Z0700|Z07|[.,](?:0+|9+)(?!\d)|15|01|02|03|04|05|06|PM|pm|1|2|3|4|5/g;
    return str(layout).replace(re, (tok) => {
      switch (tok) {
        case 'January': return MONTHS[month]!;
        case 'Jan': return MONTHS[month]!.slice(0, 3);
        case 'Monday': return DAYS[wday]!;
        case 'Mon': return DAYS[wday]!.slice(0, 3);
        case 'MST': return zoneName();
        case '2006': return String(year).padStart(4, '0');
        case '06': return p2(year % 100);
        case '01': return p2(month + 1);
        case '1': return String(month + 1);
        case '02': return p2(day);
        case '2': return String(day);
        case '_2': return String(day).padStart(2, ' ');
        case '002': return String(yday).padStart(3, '0');
        case '__2': return String(yday).padStart(3, ' ');
        case '15': return p2(hour);
        case '03': return p2(hour % 12 || 12);
        case '3': return String(hour % 12 || 12);
        case '04': return p2(min);
        case '4': return String(min);
        case '05': return p2(sec);
        case '5': return String(sec);
        case 'PM': return hour >= 12 ? 'PM' : 'AM';
        case 'pm': return hour >= 12 ? 'pm' : 'am';
        case '-07:00:00': return zone(true, false, true, false);
        case '-070000': return zone(false, false, true, false);
        case '-07:00': return zone(true, false, false, false);
        case '-0700': return zone(false, false, false, false);
        case '-07': return zone(false, false, false, true);
        case 'Z07:00:00': return zone(true, true, true, false);
        case 'Z070000': return zone(false, true, true, false);
        case 'Z07:00': return zone(true, true, false, false);
        case 'Z0700': return zone(false, true, false, false);
        case 'Z07': return zone(false, true, false, true);
        default: {
          // fractional seconds: .000 (fixed digits) or .999 (trailing zeros trimmed)
          const digits = (String(ms).padStart(3, '0') + '000000').slice(0, tok.length - 1);
          if (tok[1] === '0') return tok[0] + digits;
          const trimmed = digits.replace(/0+$/, '');
          return trimmed === '' ? '' : tok[0] + trimmed;
        }
      }
    });
  }
}
