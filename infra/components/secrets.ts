import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import * as random from '@pulumi/random';

/** The container's secret environment variables, each backed by one Secrets Manager secret. */
export const SECRET_ENV = {
  STRIPE_SECRET_KEY: 'stripe-secret-key',
  STRIPE_WEBHOOK_SECRET: 'stripe-webhook-secret',
  DATABASE_URL: 'database-url',
  REDIS_URL: 'redis-url',
  AUTH_JWT_SECRET: 'jwt-secret',
  METRICS_AUTH_TOKEN: 'metrics-token',
} as const;
export type SecretEnvName = keyof typeof SECRET_ENV;
/** One value per container secret; DATABASE_URL only with an external database. */
export type ContainerSecrets<T> = Record<Exclude<SecretEnvName, 'DATABASE_URL'>, T> & { DATABASE_URL?: T };

export interface SecretsArgs {
  /** `upiik-payments/<environment>`: the secrets' name prefix (env/*.env documents these names). */
  namePrefix: string;
  /**
   * Values; each must already be a Pulumi secret (config secrets, random outputs, provider secrets).
   * METRICS_AUTH_TOKEN is generated here: nobody types it, the Prometheus scraper reads the secret.
   */
  values: Record<Exclude<SecretEnvName, 'METRICS_AUTH_TOKEN' | 'DATABASE_URL'>, pulumi.Input<string>> & {
    REDIS_AUTH_TOKEN: pulumi.Input<string>;
    /** Only with an external database: with RDS the task reads the RDS-managed secret itself (no URL is stored). */
    DATABASE_URL?: pulumi.Input<string>;
  };
  /** Customer-managed key encrypting every secret (Encryption). */
  kmsKeyArn: pulumi.Input<string>;
  recoveryWindowInDays: number;
  tags: Record<string, string>;
}

/**
 * Secrets Manager secrets for everything the container must not see in plain environment, plus
 * the Redis auth token on its own (break-glass redis-cli), all under the stack's KMS key. The
 * webhook signing secret's version is written from the Stripe endpoint the program declares:
 * nobody copies it by hand. `versionIds` change whenever a value changes, so the task definition
 * that carries them rolls the tasks (ECS reads secrets only when a task starts).
 */
export class Secrets extends pulumi.ComponentResource {
  /** ARN per container variable, for the task definition's `secrets[].valueFrom` (DATABASE_URL only when given). */
  public readonly arns: ContainerSecrets<pulumi.Output<string>>;
  /** Exactly the secrets the execution role may read. */
  public readonly containerSecretArns: pulumi.Output<string[]>;
  public readonly redisAuthTokenArn: pulumi.Output<string>;
  /** Version id per container variable: not secret, changes with the value. */
  public readonly versionIds: ContainerSecrets<pulumi.Output<string>>;
  /** Every secret version, for `dependsOn`: a task must not start before its secrets have values. */
  public readonly versions: aws.secretsmanager.SecretVersion[];

  constructor(name: string, args: SecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super('upiik:secrets:Secrets', name, {}, opts);
    if (!/^[a-z0-9-]+\/[a-z]+$/.test(args.namePrefix)) throw new Error(`Secrets: namePrefix must look like upiik-payments/<env>, got ${args.namePrefix}`);
    const versions: aws.secretsmanager.SecretVersion[] = [];
    const secret = (key: string, slug: string, value: pulumi.Input<string>, description: string) => {
      const s = new aws.secretsmanager.Secret(`${name}-${slug}`, {
        name: `${args.namePrefix}/${slug}`,
        description,
        kmsKeyId: args.kmsKeyArn,
        recoveryWindowInDays: args.recoveryWindowInDays,
        tags: { ...args.tags, EnvVar: key },
      }, { parent: this });
      // pulumi.secret again: a value that arrives plain (a bug upstream) still never lands in state unencrypted.
      const version = new aws.secretsmanager.SecretVersion(`${name}-${slug}-version`, { secretId: s.id, secretString: pulumi.secret(value) }, { parent: this });
      versions.push(version);
      return { arn: s.arn, versionId: version.versionId };
    };
    // /metrics is reachable through the ALB: without a token it would publish business counters.
    const metricsToken = new random.RandomPassword(`${name}-metrics-token`, { length: 48, special: false }, { parent: this });
    const values: Partial<Record<SecretEnvName, pulumi.Input<string>>> = { ...args.values, METRICS_AUTH_TOKEN: metricsToken.result };
    const descriptions: Record<SecretEnvName, string> = {
      STRIPE_SECRET_KEY: 'Stripe secret API key (sk_live_ in production, sk_test_ in staging)',
      STRIPE_WEBHOOK_SECRET: 'Signing secret of the Stripe webhook endpoint Pulumi manages',
      DATABASE_URL: 'PostgreSQL connection URL',
      REDIS_URL: 'rediss:// URL of the ElastiCache replication group, with its auth token',
      AUTH_JWT_SECRET: 'HS256 secret shared with the Upiik app that issues user JWTs',
      METRICS_AUTH_TOKEN: 'Bearer token GET /metrics requires (generated; the Prometheus scraper reads it here)',
    };
    const arns = {} as ContainerSecrets<pulumi.Output<string>>;
    const versionIds = {} as ContainerSecrets<pulumi.Output<string>>;
    for (const key of Object.keys(SECRET_ENV) as SecretEnvName[]) {
      const value = values[key];
      if (value === undefined) continue;
      const created = secret(key, SECRET_ENV[key], value, descriptions[key]);
      arns[key] = created.arn;
      versionIds[key] = created.versionId;
    }
    this.arns = arns;
    this.versionIds = versionIds;
    this.containerSecretArns = pulumi.all(Object.values(arns));
    this.redisAuthTokenArn = secret('REDIS_AUTH_TOKEN', 'redis-auth-token', args.values.REDIS_AUTH_TOKEN, 'ElastiCache auth token (also inside REDIS_URL)').arn;
    this.versions = versions;
    this.registerOutputs({ arns: this.arns, versionIds: this.versionIds, containerSecretArns: this.containerSecretArns, redisAuthTokenArn: this.redisAuthTokenArn });
  }
}
