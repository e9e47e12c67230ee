// Closes client keep-alive connections left idle too long, with one sweep a second. node:http's own
// keepAliveTimeout re-arms a timer on the socket after every response and clears it on the next
// request, which measured at several percent of the proxy's CPU under load; here a request only
// stamps its socket with a clock the sweep keeps.
import type http from 'node:http';
import type { Socket } from 'node:net';

const kLastRequest = Symbol('flywheel.lastRequest');
type StampedSocket = Socket & { [kLastRequest]?: number };

export class IdleConnections {
  readonly idleMs: number;
  /** Milliseconds, advanced by the sweep: stamping reads it instead of the system clock. */
  #now = Date.now();
  readonly #sockets = new Set<StampedSocket>();
  #timer: NodeJS.Timeout | null = null;
  /** Sweep period; also how stale a stamp can be, so it is added to the idle time before closing. */
  readonly #periodMs: number;

  /**
   * `idleMs` must exceed the longest a request can take (the gateway's deadline): a connection whose
   * last request started that long ago has answered it.
   */
  constructor(server: http.Server, idleMs: number) {
    this.idleMs = idleMs;
    this.#periodMs = Math.min(1000, Math.max(10, Math.floor(idleMs / 4)));
    server.on('connection', (socket: StampedSocket) => {
      socket[kLastRequest] = this.#now;
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Called for every request. */
  touch(socket: Socket): void {
    (socket as StampedSocket)[kLastRequest] = this.#now;
  }

  get open(): number {
    return this.#sockets.size;
  }

  start(): void {
    if (this.#timer !== null) return;
    this.#timer = setInterval(() => this.sweep(Date.now()), this.#periodMs);
    this.#timer.unref();
  }

  sweep(now: number): void {
    this.#now = now;
    for (const socket of this.#sockets) {
      // A stamp lags the real time by up to one period: never close before idleMs of true idleness.
      if (now - (socket[kLastRequest] ?? now) > this.idleMs + this.#periodMs) socket.destroy();
    }
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
  }
}
