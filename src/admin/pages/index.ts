import type { ModePage } from '../types.js';
import { announcePage } from './announce.js';
import { dnsPage } from './dns.js';
import { genericPage } from './generic.js';
import { proxyPage } from './proxy.js';
import { renderPage } from './render.js';

const PAGES: Readonly<Record<string, ModePage>> = { proxy: proxyPage, dns: dnsPage, announce: announcePage, render: renderPage };

/** The page of a mode by its name; modes without one get their status as JSON. */
export function pageFor(mode: string): ModePage {
  return PAGES[mode] ?? genericPage;
}
