/**
 * What an answer is asked and gives back: the question, the settings and context (clock-derived
 * lease times, out-of-zone results) it is answered with, and the outcome with its `needs`.
 */
import type { RR } from './wire.js';
import { lower } from './answer-names.js';

export interface Question {
  /** as sent, with the trailing dot */
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface AnswerSettings {
  /** lowercase, no trailing dot: `skydns.local` */
  readonly domain: string;
  /** seconds: records without ttl or lease, SOA at the apex */
  readonly ttl: number;
  /** seconds: SOA minimum and negative answers */
  readonly minTtl: number;
  /** SOA serial */
  readonly serial: number;
  /** seconds: no record in the answer carries more (the stale cap while the store is unreachable) */
  readonly maxTtl?: number;
  /**
   * `/skydns/config` `local`: lowercase name with the trailing dot whose records answer
   * `local.dns.<domain>` (this instance's own name, as in SkyDNS)
   */
  readonly local?: string;
}

export interface AnswerContext extends AnswerSettings {
  /** remaining lease time in whole seconds (0 once expired), or undefined while not known */
  leaseSeconds(lease: string): number | undefined;
  /** results of earlier out-of-zone look-ups, by `externalKey`: records, or null when it failed */
  readonly external?: ReadonlyMap<string, readonly RR[] | null>;
}

export interface ExternalNeed {
  readonly name: string;
  readonly type: number;
}

export type Outcome =
  | { readonly kind: 'forward' }
  | {
      readonly kind: 'answer';
      readonly rcode: number;
      readonly authoritative: boolean;
      readonly answer: RR[];
      readonly authority: RR[];
      readonly additional: RR[];
      /** out-of-zone look-ups still to do; empty when the answer is complete */
      readonly needs: readonly ExternalNeed[];
    };

export function externalKey(name: string, type: number): string {
  return `${lower(name)}|${type}`;
}
