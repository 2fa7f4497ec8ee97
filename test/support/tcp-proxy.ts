import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy a fault test can cut: in front of PostgreSQL or Redis it stands in for a restart,
 * a failover or a network partition without touching the shared servers other suites use.
 * `cut()` resets every open connection (the client sees ECONNRESET) and refuses new ones until
 * `restore()`.
 */
export interface CuttableProxy {
  host: string;
  port: number;
  /** Connections accepted so far (a reconnecting client opens new ones). */
  readonly accepted: number;
  readonly open: number;
  /**
   * Connections that had already carried traffic when `hold()` began and now have client bytes
   * held (containing `text`, when given): a query sent on an established connection and not yet
   * seen by the server.
   */
  heldInFlight(text?: string): number;
  cut(): void;
  /**
   * Holds what clients send (the server's replies still flow), so a query sent now stays in flight
   * until `release()` forwards it: a fault injected meanwhile meets it deterministically, however
   * fast the server would have answered.
   */
  hold(): void;
  release(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Bytes forwarded to the server so far. */
  forwarded: number;
  /** Whether bytes had been forwarded before the current hold began. */
  establishedAtHold: boolean;
  held: Buffer[];
}

export async function startProxy(target: { host: string; port: number }): Promise<CuttableProxy> {
  const pairs = new Set<Pair>();
  let down = false;
  let holding = false;
  let accepted = 0;
  const forward = (pair: Pair, chunk: Buffer) => {
    pair.forwarded += chunk.length;
    // Backpressure by hand, since the client side is not piped (it must be holdable); one wait
    // for 'drain' however many chunks a release forwards meanwhile.
    if (!pair.upstream.write(chunk) && !pair.client.isPaused()) {
      pair.client.pause();
      pair.upstream.once('drain', () => pair.client.resume());
    }
  };
  const server: Server = createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = createConnection(target);
    const pair: Pair = { client, upstream, forwarded: 0, establishedAtHold: false, held: [] };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => (holding ? pair.held.push(chunk) : forward(pair, chunk)));
    client.on('end', () => upstream.end());
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // A reset (RST) needs a socket whose write side is still open. Once upstream.pipe(client) has
  // ended it (the server closed first, e.g. Redis after QUIT), libuv refuses the reset (EINVAL),
  // Node never closes the handle, and the jest worker spins at exit until it is force-exited:
  // such a socket is just destroyed.
  const reset = (socket: Socket) => (socket.writableEnded ? socket.destroy() : socket.resetAndDestroy());
  const resetAll = () => {
    for (const { client, upstream } of pairs) {
      reset(client);
      upstream.destroy();
    }
    pairs.clear();
  };
  return {
    host: '127.0.0.1',
    port,
    get accepted() {
      return accepted;
    },
    get open() {
      return pairs.size;
    },
    heldInFlight: (text) =>
      [...pairs].filter((pair) => pair.establishedAtHold && pair.held.length > 0 && (text === undefined || Buffer.concat(pair.held).includes(text))).length,
    cut: () => {
      down = true;
      resetAll();
    },
    restore: () => {
      down = false;
    },
    hold: () => {
      holding = true;
      for (const pair of pairs) pair.establishedAtHold = pair.forwarded > 0;
    },
    release: () => {
      holding = false;
      for (const pair of pairs) for (const chunk of pair.held.splice(0)) forward(pair, chunk);
    },
    close: async () => {
      down = true;
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
