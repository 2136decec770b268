/**
 * The proxy's live route table: the compiled table (src/routes/table.ts) behind a memo of
 * Host header -> candidates, swapped whole when the routes change. Matching rules live in
 * src/routes/; this is the per-process cache around them.
 */
import { candidatesFor, compileTable, type Candidate, type RouteTable, type TableInput } from '../routes/table.js';
import { hostCandidates, type Refusal } from './admission.js';
import { normalizeHost } from '../routes/path.js';

export { normalizeHost };

/** No host name is longer than 255 (with a port, 261): longer Host headers are answered, never kept. */
const MAX_CACHED_HOST = 255;

export class Router {
  private current: RouteTable;
  private readonly cache = new Map<string, readonly Candidate[]>();
  private readonly limit: number;
  /**
   * Bumped on every swap: whoever keeps a Host's candidates (a client connection's last Host)
   * compares it to know they are stale.
   */
  generation = 0;

  constructor(table: RouteTable | TableInput, limit = 4096) {
    this.current = 'exact' in table ? table : compileTable(table);
    this.limit = limit;
  }

  get table(): RouteTable {
    return this.current;
  }

  /** Installs a new table: the next request matches against it. */
  swap(table: RouteTable): void {
    this.current = table;
    this.cache.clear();
    this.generation++;
  }

  /** whether a route names this service (metrics label it; other names from Host headers are not trusted) */
  isNamed(service: string): boolean {
    return this.current.named.has(service);
  }

  /** memoized Host headers (for tests and status) */
  get cached(): number {
    return this.cache.size;
  }

  /** The candidates for a raw Host header, in match order (memoized). */
  candidates(hostHeader: string | undefined): readonly Candidate[] {
    const key = hostHeader ?? '';
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const found = candidatesFor(this.current, normalizeHost(hostHeader));
    if (key.length > MAX_CACHED_HOST) return found;
    if (this.cache.size >= this.limit) this.cache.clear();
    this.cache.set(key, found);
    return found;
  }
}

/**
 * A connection's usual Host, looked up once per route table: the requests of a keep-alive
 * connection nearly always carry the same Host, so its candidates are kept until either changes.
 */
export class HostMemo {
  private host: string | undefined;
  private candidates: readonly Candidate[] | Refusal | undefined;
  private generation = -1;

  lookup(host: string, router: Router): readonly Candidate[] | Refusal {
    let candidates = this.candidates;
    if (host !== this.host || this.generation !== router.generation || candidates === undefined) {
      candidates = hostCandidates(host, (h) => router.candidates(h));
      this.host = host;
      this.candidates = candidates;
      this.generation = router.generation;
    }
    return candidates;
  }
}
