/** The render page: each resource, its last render and check/reload outcome, guarded writes. */
import { formatAgo, formatDuration } from '../format.js';
import { html } from '../html.js';
import { asArray, asBoolean, asNumber, asString, get } from '../read.js';
import type { ModePage } from '../types.js';
import { badge, facts, section, table } from '../widgets.js';

export const renderPage: ModePage = {
  sections(view) {
    const s = view.status;
    const when = (v: unknown) => (asString(v) ? formatAgo(asString(v)!, view.now) : '-');
    const resources = asArray(get(s, 'resources')).map((r) => {
      const outcome = asString(get(r, 'lastOutcome'));
      const error = asString(get(r, 'lastError'));
      return [
        asString(get(r, 'name')) ?? '',
        html`<code>${asString(get(r, 'dest')) ?? ''}</code>`,
        outcome ? badge(outcome) : '-',
        when(get(r, 'lastRunAt')),
        when(get(r, 'lastWriteAt')),
        asNumber(get(r, 'writes')) ?? 0,
        asNumber(get(r, 'failures')) ?? 0,
        error ? html`<pre class="output">${error}</pre>` : '',
      ];
    });
    const guarded = asArray(get(s, 'resources')).filter((r) => asString(get(r, 'lastOutcome')) === 'guarded');
    const errors = asArray(get(s, 'resourceErrors')).map(asString).filter((e) => e !== undefined);
    const wait = get(s, 'wait');
    return html`${section(
      'summary',
      'Render',
      facts([
        ['mode', asString(get(s, 'mode'))],
        ['dry run (--noop)', asBoolean(get(s, 'noop')) ? 'yes' : undefined],
        ['confdir', asString(get(s, 'confdir'))],
        ['runs', asNumber(get(s, 'runs'))],
        ['pending', asBoolean(get(s, 'pending')) ? badge('pending') : 'no'],
        ['wait', asNumber(get(wait, 'min')) !== undefined ? `${formatDuration(asNumber(get(wait, 'min'))!)} - ${formatDuration(asNumber(get(wait, 'max')) ?? 0)}` : undefined],
        ['guarded writes', guarded.length > 0 ? badge(`${guarded.length} guarded`) : 'none'],
      ]),
    )}${section(
      'resources',
      'Resources',
      table('Resources', ['resource', 'destination', 'last outcome', 'last run', 'last write', 'writes', 'failures', 'last check/reload output'], resources, 'no resources'),
      errors.length > 0 ? table('Resources that could not be loaded', ['error'], errors.map((e) => [e])) : '',
    )}`;
  },
};
