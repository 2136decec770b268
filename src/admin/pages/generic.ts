/** Any other long-running mode: its status as a definition list of the top-level fields. */
import { html } from '../html.js';
import type { ModePage } from '../types.js';
import { section } from '../widgets.js';

export const genericPage: ModePage = {
  sections(view) {
    return section('status', 'Status', html`<pre class="output">${JSON.stringify(view.status, null, 2)}</pre>`);
  },
};
