import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyPack } from '@pulumi/policy';
import { packPolicies } from './policies';

/**
 * `pulumi preview --policy-pack infra/policy-pack` (and `pulumi up`) where the CLI exists. The
 * rules are the plain functions in infra/policies (unit-tested in test/infra); policies.ts adapts
 * them. The engine tells the pack whether it runs a preview through PULUMI_DRY_RUN (Node.js packs
 * also get PULUMI_NODEJS_DRY_RUN).
 */
const runbooksDir = join(__dirname, '..', '..', 'runbooks');
const isPreview = (process.env.PULUMI_DRY_RUN ?? process.env.PULUMI_NODEJS_DRY_RUN) === 'true';

new PolicyPack('upiik-payments', {
  policies: packPolicies({ runbookExists: (file) => existsSync(join(runbooksDir, file)), isPreview }),
});
