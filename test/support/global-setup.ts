import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPgliteTemplate } from '../../service/shared/db';

/**
 * Without DATABASE_URL, suites run on embedded PGlite. Creating and migrating one costs ~3 s; a
 * migrated template dumped once here loads in ~0.5 s per suite. With DATABASE_URL (CI) each suite
 * creates its own database on the real server instead, and this does nothing. Under Stryker (which
 * runs jest again in the same process for every mutant, UPIIK_KEEP_PGLITE_TEMPLATE=1) the template
 * of the first run is reused.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) return;
  const existing = process.env.UPIIK_PGLITE_TEMPLATE;
  if (process.env.UPIIK_KEEP_PGLITE_TEMPLATE && existing && existsSync(existing)) return;
  const template = await buildPgliteTemplate();
  const path = join(tmpdir(), `upiik-pglite-template-${process.pid}.tar`);
  writeFileSync(path, Buffer.from(await template.arrayBuffer()));
  // Workers are started after global setup and inherit this.
  process.env.UPIIK_PGLITE_TEMPLATE = path;
  // Kept across Stryker's jest runs (global-teardown leaves it): gone when the worker process ends.
  if (process.env.UPIIK_KEEP_PGLITE_TEMPLATE) process.once('exit', () => rmSync(path, { force: true }));
}
