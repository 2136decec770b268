/** Splits a shell command line into words: quotes and backslash escapes, no expansion. */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

const MODES = new Set(['announce', 'dns', 'proxy', 'render', 'services', 'demo']);

/**
 * Every `beacon <mode> ...` invocation in a text (a unit file, a README): the words after the
 * program name (`beacon`, `beacon:latest`, `dist/cli.js`), up to a shell separator.
 */
export function beaconInvocations(text: string): string[][] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  const found: string[][] = [];
  for (const line of joined.split('\n')) {
    const words = shellWords(line.replace(/^\s*(\$|>)\s+/, ''));
    for (let i = 0; i < words.length; i++) {
      const program = words[i]!;
      if (!/(^|\/)beacon(:[\w.-]+)?$|(^|\/)cli\.js$/.test(program)) continue;
      const mode = words[i + 1];
      if (!mode || !MODES.has(mode)) continue;
      const args: string[] = [];
      for (let j = i + 2; j < words.length; j++) {
        const w = words[j]!;
        if (['|', '&&', '||', ';', '&'].includes(w) || w.startsWith('#')) break;
        args.push(w);
      }
      // A usage synopsis (`[--flag VALUE]`, `...`) documents a form; it is not a command to run.
      if (args.some((a) => a.startsWith('[') || a === '...')) continue;
      found.push([mode, ...args]);
      i += 1 + args.length;
    }
  }
  return found;
}

/** The code in a Markdown text: fenced and indented blocks, and inline code spans, one per line. */
export function markdownCode(text: string): string {
  const out: string[] = [];
  let fenced = false;
  for (const line of text.split('\n')) {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      continue;
    }
    if (fenced || /^( {4}|\t)/.test(line)) {
      out.push(line);
      continue;
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) out.push(m[1]!);
  }
  return out.join('\n');
}
