import { connectDependencies } from '../../service/dependencies';
import { captureLogger } from '../support/logger';
import { testConfig } from '../support/config';

// The service's start-up path (the same function the operational commands use) must hand the
// database parts to the pool: without them a task configured with DATABASE_HOST would quietly run
// on an embedded in-memory database. A CA bundle that does not exist makes the difference visible
// before any network or AWS call (no AWS here; nothing is mocked in this test).
describe('connectDependencies with the database as parts', () => {
  it('connects through the parts (TLS with the CA file), never the embedded database', async () => {
    const config = testConfig({
      DATABASE_URL: undefined,
      DATABASE_HOST: 'payments.abc123.eu-central-1.rds.amazonaws.com',
      DATABASE_NAME: 'payments',
      DATABASE_CREDENTIALS_ARN: 'arn:aws:secretsmanager:eu-central-1:111122223333:secret:rds!db-0f4c2a7e-Ab12Cd',
      DATABASE_CA_FILE: '/nonexistent/rds-global-bundle.pem',
    });
    expect(config.database.parts?.host).toBe('payments.abc123.eu-central-1.rds.amazonaws.com');
    const logs = captureLogger();
    await expect(connectDependencies(config, logs.logger)).rejects.toThrow('DATABASE_CA_FILE: cannot read /nonexistent/rds-global-bundle.pem');
    expect(logs.lines().some((l) => l.message === 'database ready')).toBe(false);
  });
});
