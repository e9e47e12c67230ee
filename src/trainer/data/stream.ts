// Reads a data file as a stream of text pieces while hashing its bytes, so a 1 GB file never sits in
// memory: a reader keeps only the unfinished record between pieces.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { FlywheelError } from '../../errors.js';

/** An unfinished record longer than this is refused (an unterminated quote, or not a text file). */
export const MAX_RECORD_CHARS = 64 * 1024 * 1024;

/** Calls `onText` with consecutive pieces of the file's UTF-8 text; returns the bytes' sha256. */
export async function streamText(
  path: string,
  source: string,
  onText: (text: string) => void,
): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FlywheelError(
      'FLY_ERR_DATA_NOT_FOUND',
      code === 'ENOENT'
        ? `${source}: file ${path} does not exist`
        : `${source}: cannot read ${path} (${code})`,
      { source, path },
    );
  }
  if (!info.isFile()) {
    throw new FlywheelError('FLY_ERR_DATA_NOT_FOUND', `${source}: ${path} is not a file`, { source, path });
  }
  const hash = createHash('sha256');
  const decoder = new StringDecoder('utf8');
  let first = true;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      const bytes = chunk as Buffer;
      hash.update(bytes);
      let text = decoder.write(bytes);
      if (first && text.length > 0) {
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark
        first = false;
      }
      onText(text);
    }
  } catch (err) {
    if (err instanceof FlywheelError) throw err;
    throw new FlywheelError(
      'FLY_ERR_DATA_NOT_FOUND',
      `${source}: cannot read ${path}: ${(err as Error).message}`,
      {
        source,
        path,
      },
    );
  }
  const rest = decoder.end();
  if (rest.length > 0) onText(rest);
  return hash.digest('hex');
}
