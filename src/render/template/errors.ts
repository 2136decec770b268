export interface Position {
  readonly line: number;
  readonly column: number;
}

/** 1-based line and column (in characters) of an offset. */
export function positionOf(src: string, offset: number): Position {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < src.length; i++) {
    if (src.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** A parse or execution error, naming the template file, line and column: `file:3:14: message`. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    readonly file: string,
    readonly position: Position,
    readonly detail: string,
  ) {
    super(`${file}:${position.line}:${position.column}: ${detail}`);
  }
}
