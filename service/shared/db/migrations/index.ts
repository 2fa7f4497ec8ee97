import type { Migration, MigrationProvider } from 'kysely';
import * as initialSchema from './0001-initial-schema';
import * as webhookProcessing from './0002-webhook-processing';
import * as refundsAndDisputes from './0003-refunds-and-disputes';
import * as dashboardRollups from './0004-dashboard-rollups';
import * as opsMarkers from './0005-ops-markers';
import * as webhookRetries from './0006-webhook-retries';

/**
 * Migrations are listed in code (not discovered on disk) so the same list runs under tsx, jest and
 * the compiled container without a file-loading step. Names sort in the order they must run.
 */
const migrations: Record<string, Migration> = {
  '0001-initial-schema': initialSchema,
  '0002-webhook-processing': webhookProcessing,
  '0003-refunds-and-disputes': refundsAndDisputes,
  '0004-dashboard-rollups': dashboardRollups,
  '0005-ops-markers': opsMarkers,
  '0006-webhook-retries': webhookRetries,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
