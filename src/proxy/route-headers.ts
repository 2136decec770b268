/**
 * A route's request/response header edits (`headers` in the route value), applied to what each
 * engine holds: header lines (`name: value\r\n`, the fast engine) or a flat `[name, value, ...]`
 * list (the portable one). Pure. Routes without edits never get here.
 */
import type { HeaderEdit } from '../routes/route.js';

function dropped(edit: HeaderEdit, lowerName: string): boolean {
  return edit.remove.includes(lowerName) || edit.set.some(([name]) => name === lowerName);
}

/** Header lines with the edit applied: removed and replaced names dropped, set ones appended. */
export function editLines(lines: string, edit: HeaderEdit): string {
  let out = '';
  let start = 0;
  while (start < lines.length) {
    let end = lines.indexOf('\r\n', start);
    if (end === -1) end = lines.length;
    const line = lines.slice(start, end);
    const colon = line.indexOf(':');
    if (colon === -1 || !dropped(edit, line.slice(0, colon).trim().toLowerCase())) out += `${line}\r\n`;
    start = end + 2;
  }
  for (const [name, value] of edit.set) out += `${name}: ${value}\r\n`;
  return out;
}

/** The same on a flat list. */
export function editList(list: readonly string[], edit: HeaderEdit): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (!dropped(edit, list[i]!.toLowerCase())) out.push(list[i]!, list[i + 1]!);
  for (const [name, value] of edit.set) out.push(name, value);
  return out;
}
