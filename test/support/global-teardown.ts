import { rmSync } from 'node:fs';

export default async function globalTeardown(): Promise<void> {
  const path = process.env.UPIIK_PGLITE_TEMPLATE;
  // Stryker runs jest once per mutant in one process: the template stays for the next run.
  if (path && !process.env.UPIIK_KEEP_PGLITE_TEMPLATE) rmSync(path, { force: true });
}
