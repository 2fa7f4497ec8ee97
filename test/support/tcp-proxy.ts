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
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(target: { host: string; port: number }): Promise<CuttableProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let down = false;
  let accepted = 0;
  const server: Server = createServer((client) => {
    if (down) {
      client.resetAndDestroy();
      return;
    }
    accepted++;
    const upstream = createConnection(target);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
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
    for (const [client, upstream] of pairs) {
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
    cut: () => {
      down = true;
      resetAll();
    },
    restore: () => {
      down = false;
    },
    close: async () => {
      down = true;
      resetAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
