/**
 * The portable engine's hedge (see fast/hedge.ts for the idea): a second undici dispatch of an
 * idempotent bodiless request to another instance, its own dispatch handler. The first final
 * response head wins: the hedge's is passed to its exchange, which cuts the slow attempt and
 * takes this one's events from then on; the first attempt's cuts the hedge, which counts for
 * nothing. Made only when a hedge is sent.
 */
import type { Dispatcher } from 'undici';
import type { PortableExchange, PortableUpstream } from './exchange.js';

/** The reason an attempt that lost to the other one is aborted with: ignored where it lands. */
export class HedgeCancelled extends Error {
  override readonly name = 'HedgeCancelled';
}

export class PortableHedge implements Dispatcher.DispatchHandler {
  readonly peer: PortableUpstream;
  private readonly ex: PortableExchange;
  controller: Dispatcher.DispatchController | undefined;
  /** the exchange carries its response from this attempt */
  adopted = false;
  private gone = false;

  constructor(ex: PortableExchange, peer: PortableUpstream) {
    this.ex = ex;
    this.peer = peer;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.gone) controller.abort(new HedgeCancelled('the other attempt answered first'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (this.gone) return controller.abort(new HedgeCancelled('the other attempt answered first'));
    if (!this.adopted) {
      // an interim response says nothing yet: the other attempt may still answer first
      if (statusCode < 200) return;
      this.ex.hedgeAnswered(this);
    }
    this.ex.onResponseStart(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.adopted) this.ex.onResponseData(controller, chunk);
  }

  onResponseEnd(): void {
    if (this.adopted) this.ex.onResponseEnd();
  }

  onResponseError(controller: Dispatcher.DispatchController | null, err: Error): void {
    if (err instanceof HedgeCancelled || this.gone) return;
    if (this.adopted) return this.ex.onResponseError(controller, err);
    this.gone = true;
    this.ex.hedgeFailed(this, err);
  }

  /** Cuts the attempt; says nothing about its instance. */
  cancel(): void {
    if (this.gone || this.adopted) return;
    this.gone = true;
    this.controller?.abort(new HedgeCancelled('the other attempt answered first'));
    this.ex.traffic.neutral(this.peer);
  }
}
