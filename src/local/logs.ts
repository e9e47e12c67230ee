// Children's logs go to the supervisor's stderr, one line per line, tagged with the component
// (gateway, backend-0, trainer). Children log pino JSON lines (their stderr is a pipe), so when the
// supervisor's stderr is not a terminal the tag is added as a JSON field and the output stays one
// parseable JSON stream; on a terminal each line is shortened to "time LEVEL [component] msg {fields}".

export type LogSink = (component: string, line: string) => void;

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};

export function createLogSink(out: NodeJS.WritableStream, pretty: boolean): LogSink {
  return (component, line) => {
    if (line.trim() === '') return;
    out.write(`${pretty ? prettyLine(component, line) : jsonLine(component, line)}\n`);
  };
}

/** The child's JSON line with `component` added first; any other line wrapped in a JSON object. */
export function jsonLine(component: string, line: string): string {
  const tag = JSON.stringify(component);
  const trimmed = line.trim();
  if (trimmed.startsWith('{') && trimmed.endsWith('}')) {
    try {
      JSON.parse(trimmed);
      // Splice the field in rather than re-serialising: cheaper, and keeps the child's field order.
      return trimmed === '{}' ? `{"component":${tag}}` : `{"component":${tag},${trimmed.slice(1)}`;
    } catch {
      // not JSON after all: wrapped below
    }
  }
  return JSON.stringify({ component, level: 30, time: Date.now(), msg: line });
}

export function prettyLine(component: string, line: string): string {
  let record: Record<string, unknown> | null = null;
  try {
    const v: unknown = JSON.parse(line);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) record = v as Record<string, unknown>;
  } catch {
    record = null;
  }
  if (record === null) return `[${component}] ${line}`;
  const { time, level, msg, pid: _pid, hostname: _hostname, role: _role, ...rest } = record;
  const when = typeof time === 'number' ? new Date(time).toISOString().slice(11, 23) : '';
  const lvl = typeof level === 'number' ? (LEVELS[level] ?? String(level)) : 'INFO';
  const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  return `${when} ${lvl.padEnd(5)} [${component}] ${typeof msg === 'string' ? msg : ''}${fields}`;
}

/** Calls `onLine` for each complete line of a stream (a partial last line is flushed at the end). */
export function forEachLine(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    rest += chunk;
    let nl = rest.indexOf('\n');
    while (nl !== -1) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
      nl = rest.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
    rest = '';
  });
}
