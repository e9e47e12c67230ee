// Structured logs (pino): JSON lines on stderr, readable when stderr is a TTY.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(options: { role: string; level?: LevelWithSilent; pretty?: boolean }): Logger {
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const level = options.level ?? 'info';
  if (pretty) {
    return pino({
      level,
      base: { role: options.role },
      transport: {
        target: 'pino-pretty',
        options: { destination: 2, colorize: true, ignore: 'pid,hostname' },
      },
    });
  }
  return pino(
    { level, base: { role: options.role, pid: process.pid } },
    pino.destination({ fd: 2, sync: true }),
  );
}
