import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPgliteTemplate } from '../../service/shared/db';

/**
 * Without DATABASE_URL, suites run on embedded PGlite. Creating and migrating one costs ~3 s; a
 * migrated template dumped once here loads in ~0.5 s per suite. With DATABASE_URL (CI) each suite
 * creates its own database on the real server instead, and this does nothing.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DATABASE_URL) return;
  const template = await buildPgliteTemplate();
  const path = join(tmpdir(), `upiik-pglite-template-${process.pid}.tar`);
  writeFileSync(path, Buffer.from(await template.arrayBuffer()));
  // Workers are started after global setup and inherit this.
  process.env.UPIIK_PGLITE_TEMPLATE = path;
}
