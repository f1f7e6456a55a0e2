/**
 * For text the CLI prints that it did not compose itself (a daemon's error answer, an exception's
 * message naming a config object, a command-line argument): raw control characters and line separators
 * are escaped (src/notify/escape.ts), so the text stays on its line and cannot drive the terminal.
 * Backslashes are left alone, so text that is already escaped (formatted diagnostics) prints unchanged.
 */
import { escapeLine } from '../notify/escape.js';

const CONTROLS = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/** One line: every control character escaped, newlines included. */
export function oneLine(text: string): string {
  return text.replace(/\n/g, '\\n').replace(CONTROLS, (c) => escapeLine(c));
}

/** Several lines: the newlines between them kept, every other control character escaped. */
export function safeLines(text: string): string {
  return text.replace(CONTROLS, (c) => escapeLine(c));
}
