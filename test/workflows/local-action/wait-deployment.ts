/**
 * @github/local-action's entrypoint: it loads this file and calls run(). The step's own entry
 * (pipelines/wait-deployment/main.ts) runs unchanged, given the @actions/core that local-action
 * stubs. local-action intercepts `require('@actions/core')` (CommonJS, below); the steps' own
 * `import('@actions/core')` (ESM-only @actions/core 3) would bypass the stub, so it is passed in.
 */
import { type ActionsCore, runStepEntry } from '../../../pipelines/lib/step';
import { entry } from '../../../pipelines/wait-deployment/main';

export async function run(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the require is what local-action stubs
  const core = require('@actions/core') as ActionsCore;
  process.exitCode = await runStepEntry(entry, { core });
}
