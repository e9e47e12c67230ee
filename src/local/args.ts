// `--train-args` arrives as one string (a flag or FLYWHEEL_TRAIN_ARGS); the trainer gets it as an
// argument vector. No shell runs in between, so this splits it the way a shell would for the simple
// cases people write: words, 'single' and "double" quotes, backslash escapes.
import { FlywheelError } from '../errors.js';

export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else word += c;
      continue;
    }
    if (
      c === '\\' &&
      i + 1 < text.length &&
      (quote === null || text[i + 1] === '"' || text[i + 1] === '\\')
    ) {
      word += text[++i];
      inWord = true;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else word += c;
      continue;
    }
    if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== null) {
    throw new FlywheelError(
      'FLY_ERR_CONFIG',
      `invalid configuration:\n  --train-args: unclosed ${quote} quote`,
      {
        problems: [`--train-args: unclosed ${quote} quote`],
      },
    );
  }
  if (inWord) out.push(word);
  return out;
}
