/**
 * The page around a mode's sections: one self-contained document (inline CSS and script, no
 * outside requests), readable without script (tables rendered here; a <noscript> refresh), and
 * live with it (the script swaps #live for each server-sent update, which this module renders
 * too, so the markup and its escaping have one source).
 */
import { createHash } from 'node:crypto';
import { formatClock } from './format.js';
import { html, trusted, type Html } from './html.js';
import type { ModePage, PageView } from './types.js';
import { storeBar } from './widgets.js';

const STYLE = `
:root{color-scheme:light dark;--bg:#fff;--fg:#1b1f24;--mute:#5b636e;--line:#d8dde3;--card:#f6f8fa;--good:#1a7f37;--bad:#c0262d;--warn:#9a6700;--accent:#0a5bd3}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--fg:#e6e9ed;--mute:#9aa4ae;--line:#2c333b;--card:#171b21;--good:#3fb950;--bad:#f85149;--warn:#d29922;--accent:#58a6ff}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:baseline;padding:.75rem 1rem;border-bottom:1px solid var(--line);position:sticky;top:0;background:var(--bg);z-index:1}
header h1{font-size:1.1rem;margin:0}
header .version,#stamp{color:var(--mute);font-size:.85rem}
#stamp.ok::before{content:"\\25CF ";color:var(--good)}#stamp.bad{color:var(--bad)}
main{padding:0 1rem 2rem;max-width:80rem;margin:0 auto}
section{margin:1.25rem 0}
h2{font-size:1rem;margin:0 0 .5rem;text-transform:uppercase;letter-spacing:.04em;color:var(--mute)}
h3{font-size:1rem;margin:.25rem 0 .5rem}h3 small{color:var(--mute);font-weight:normal}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.5rem;margin:0}
.facts div{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:.4rem .6rem;min-width:0}
.facts dt{font-size:.75rem;color:var(--mute)}.facts dd{margin:0;overflow-wrap:anywhere}
.service{border:1px solid var(--line);border-radius:8px;padding:.5rem .75rem;margin:.75rem 0;background:var(--card)}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}
caption{text-align:left;font-size:.8rem;color:var(--mute);padding:.25rem 0}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;font-size:.8rem;color:var(--mute)}
code,pre{font:.85rem/1.35 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre.output{white-space:pre-wrap;margin:0;max-height:12rem;overflow:auto}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.8rem;border:1px solid currentColor}
.badge.good{color:var(--good)}.badge.bad{color:var(--bad);font-weight:600}.badge.warn{color:var(--warn)}
.sparks{display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;margin:.25rem 0 .5rem}
.spark{display:inline-flex;align-items:center;gap:.35rem;font-size:.85rem}
.spark svg{width:7.5rem;height:1.5rem;background:var(--bg);border:1px solid var(--line);border-radius:3px}
.spark polyline{fill:none;stroke:var(--accent);stroke-width:1.5;vector-effect:non-scaling-stroke}
.spark.bad polyline{stroke:var(--bad)}.spark-label{color:var(--mute)}
.empty{color:var(--mute);font-style:italic}
.events{margin:0;padding-left:1.25rem;font-size:.9rem;max-height:14rem;overflow:auto}
.events time{color:var(--mute);font-family:ui-monospace,monospace}
.ev-ejected{color:var(--bad)}.ev-recovered{color:var(--good)}
form.search{display:flex;gap:.5rem;flex-wrap:wrap}form.search input{flex:1 1 14rem;padding:.4rem;font:inherit;background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:4px}
form.search button{padding:.4rem .9rem;font:inherit}
footer{color:var(--mute);font-size:.8rem;padding:1rem}
@media (max-width:40rem){
 thead{display:none}table,tbody,tr,td{display:block;width:100%}
 tr{border:1px solid var(--line);border-radius:6px;margin:.5rem 0;padding:.25rem}
 td{border:0;display:flex;gap:.75rem}td::before{content:attr(data-label);color:var(--mute);font-size:.8rem;flex:0 0 6.5rem}
 .spark svg{width:5.5rem}
}`;

const SCRIPT = `(() => {
  const live = document.getElementById('live');
  const stamp = document.getElementById('stamp');
  if (!live || !window.EventSource) return;
  const events = new EventSource('events');
  events.addEventListener('update', (e) => {
    live.innerHTML = e.data;
    stamp.textContent = 'live, updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
    stamp.className = 'ok';
  });
  events.addEventListener('error', () => {
    stamp.textContent = 'connection to beacon lost; retrying';
    stamp.className = 'bad';
  });
  const form = document.getElementById('search');
  const results = document.getElementById('results');
  if (form && results) {
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = new FormData(form).get('name') || '';
      try {
        const reply = await fetch('lookup?format=html&name=' + encodeURIComponent(name));
        results.innerHTML = await reply.text();
        history.replaceState(null, '', '?name=' + encodeURIComponent(name));
      } catch (err) {
        results.textContent = 'lookup failed: ' + err;
      }
    });
  }
})();`;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64');

/** Only this page's own style and script run; nothing is loaded from anywhere. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${sha256(STYLE)}'`,
  `script-src 'sha256-${sha256(SCRIPT)}'`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The part of the page each update replaces: store bar, the mode's sections, the time. */
export function liveFragment(page: ModePage, view: PageView): Html {
  return html`${storeBar(view.status, view.now)}${page.sections(view)}<p class="empty">Rendered ${formatClock(view.now)} UTC.</p>`;
}

export interface DocumentParts {
  mode: string;
  version: string;
  page: ModePage;
  view: PageView;
  /** the search box's current name and its server-rendered results (dns without script) */
  search?: { value: string; results?: Html };
}

export function pageDocument(parts: DocumentParts): string {
  const { mode, version, page, view } = parts;
  const search = page.search
    ? html`<section id="lookup"><h2>${page.search.label}</h2><form id="search" class="search" method="get" action="" role="search"><input type="search" name="name" value="${parts.search?.value ?? ''}" placeholder="${page.search.placeholder}" aria-label="${page.search.label}" maxlength="253"><button type="submit">Look up</button></form><div id="results">${parts.search?.results ?? ''}</div></section>`
    : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>beacon ${mode}</title><link rel="icon" href="data:,"><noscript><meta http-equiv="refresh" content="10"></noscript>
<style>${trusted(STYLE)}</style></head>
<body><header><h1>beacon ${mode}</h1><span class="version">version ${version}</span><span id="stamp">static view (refreshes every 10 s without script)</span></header>
<main>${search}<div id="live">${liveFragment(page, view)}</div></main>
<footer>Read-only. Times are UTC. JSON: <a href="status">/status</a>, metrics: <a href="metrics">/metrics</a>.</footer>
<script>${trusted(SCRIPT)}</script></body></html>
`.text;
}
