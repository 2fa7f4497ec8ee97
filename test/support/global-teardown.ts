import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const path = process.env.UPIIK_PGLITE_TEMPLATE;
  if (path) rmSync(path, { force: true });
}
