import { buildComponent, load, ComponentRun, ACCOUNT, REGION } from './mocks';
import type * as RegistryModule from '../../../infra/components/registry';

type M = typeof RegistryModule;
const T = { repo: 'aws:ecr/repository:Repository', lifecycle: 'aws:ecr/lifecyclePolicy:LifecyclePolicy' };

const baseArgs: RegistryModule.RegistryArgs = {
  repositoryName: 'upiik-payments-staging',
  keepTaggedImages: 50,
  untaggedExpiryDays: 7,
  tags: { Environment: 'staging' },
};
const build = (args: RegistryModule.RegistryArgs) =>
  buildComponent(() => {
    const { Registry } = load<M>('../../../infra/components/registry');
    return new Registry('upiik-payments-staging', args);
  });

interface Rule { rulePriority: number; selection: Record<string, unknown>; action: { type: string } }

describe('the image registry', () => {
  let run: ComponentRun<RegistryModule.Registry>;
  let repo: Record<string, unknown>;
  beforeAll(async () => {
    run = await build(baseArgs);
    repo = run.one(T.repo).inputs;
  });

  test('never lets a tag move to another image', () => {
    expect(repo.imageTagMutability).toBe('IMMUTABLE');
    expect(repo.imageTagMutabilityExclusionFilters).toBeUndefined();
  });

  test('scans every image on push', () => {
    expect(repo.imageScanningConfiguration).toEqual({ scanOnPush: true });
  });

  test('encrypts images with KMS (the AWS-managed key unless one is given)', async () => {
    expect(repo.encryptionConfigurations).toEqual([{ encryptionType: 'KMS' }]);
    const withKey = await build({ ...baseArgs, kmsKeyArn: 'arn:aws:kms:eu-central-1:123456789012:key/k1' });
    expect(withKey.one(T.repo).inputs.encryptionConfigurations).toEqual([{ encryptionType: 'KMS', kmsKey: 'arn:aws:kms:eu-central-1:123456789012:key/k1' }]);
  });

  test('cannot be deleted while it holds images', () => {
    expect(repo.forceDelete).toBe(false);
  });

  test('expires untagged images after a few days and keeps the last N tagged ones', () => {
    const lifecycle = run.one(T.lifecycle).inputs;
    expect(lifecycle.repository).toBe('upiik-payments-staging');
    const rules = (JSON.parse(String(lifecycle.policy)) as { rules: Rule[] }).rules;
    expect(rules).toEqual([
      expect.objectContaining({
        rulePriority: 1,
        selection: { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 },
        action: { type: 'expire' },
      }),
      expect.objectContaining({
        rulePriority: 2,
        selection: { tagStatus: 'tagged', tagPatternList: ['*'], countType: 'imageCountMoreThan', countNumber: 50 },
        action: { type: 'expire' },
      }),
    ]);
  });

  test('follows ECR\'s lifecycle rule syntax: unique priorities, tagged rules with a pattern, untagged without', () => {
    const rules = (JSON.parse(String(run.one(T.lifecycle).inputs.policy)) as { rules: Rule[] }).rules;
    expect(new Set(rules.map((r) => r.rulePriority)).size).toBe(rules.length);
    for (const { selection } of rules) {
      if (selection.tagStatus === 'tagged') expect(selection.tagPatternList ?? selection.tagPrefixList).toBeDefined();
      if (selection.tagStatus === 'untagged') expect(selection.tagPatternList ?? selection.tagPrefixList).toBeUndefined();
      if (selection.countType === 'sinceImagePushed') expect(selection.countUnit).toBe('days');
      else expect(selection.countUnit).toBeUndefined();
    }
  });

  test('outputs the repository URL, ARN and name', async () => {
    const c = run.component;
    expect(await run.resolve(c.repositoryUrl)).toBe(`${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/upiik-payments-staging`);
    expect(await run.resolve(c.repositoryArn)).toBe(`arn:aws:ecr:${REGION}:${ACCOUNT}:repository/upiik-payments-staging`);
    expect(await run.resolve(c.repositoryName)).toBe('upiik-payments-staging');
  });
});

describe('registry argument checks name the argument', () => {
  test('an invalid repository name', async () => {
    await expect(build({ ...baseArgs, repositoryName: 'Upiik_Payments' })).rejects.toThrow(/Registry: repositoryName/);
    await expect(build({ ...baseArgs, repositoryName: 'upiik--' })).rejects.toThrow(/Registry: repositoryName/);
  });
  test('too few tagged images to roll back to', () =>
    expect(build({ ...baseArgs, keepTaggedImages: 3 })).rejects.toThrow(/Registry: keepTaggedImages/));
  test('an untagged expiry of zero days', () =>
    expect(build({ ...baseArgs, untaggedExpiryDays: 0 })).rejects.toThrow(/Registry: untaggedExpiryDays/));
});
