/**
 * The container definition as data: the plain environment half of the configuration contract
 * (service/shared/config.ts) and the secret half by `valueFrom` only. A pure function so the
 * policy tests can read exactly what ECS receives.
 */
export interface ContainerSpec {
  name: string;
  image: string;
  port: number;
  logGroup: string;
  region: string;
  /** Plain, non-secret variables. */
  environment: Record<string, string>;
  /** Variable name -> Secrets Manager secret ARN. */
  secrets: Record<string, string>;
  /**
   * Variable name -> the version id of its secret's current value. Part of the container definition
   * (a Docker label), so a new secret value is a new task definition revision and ECS replaces the
   * tasks: running tasks read secrets only when they start.
   */
  secretVersions: Record<string, string>;
}

/**
 * Liveness with the image's own runtime (node:20-bookworm-slim has no curl). ECS ignores the
 * Dockerfile's HEALTHCHECK; only a health check in the task definition replaces a hung task.
 * Ranges (ECS HealthCheck API): interval 5..300 s, timeout 2..60 s, retries 1..10, startPeriod 0..300 s.
 */
export function livenessCheck(port: number): { command: string[]; interval: number; timeout: number; retries: number; startPeriod: number } {
  const probe = `require('http').get('http://127.0.0.1:${port}/health/live',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))`;
  return { command: ['CMD', 'node', '-e', probe], interval: 15, timeout: 5, retries: 3, startPeriod: 30 };
}

export function containerDefinitionsJson(spec: ContainerSpec): string {
  return JSON.stringify([
    {
      name: spec.name,
      image: spec.image,
      essential: true,
      portMappings: [{ containerPort: spec.port, protocol: 'tcp' }],
      environment: Object.entries(spec.environment)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, value]) => ({ name, value })),
      secrets: Object.entries(spec.secrets)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, valueFrom]) => ({ name, valueFrom })),
      readonlyRootFilesystem: true,
      user: 'node',
      // Liveness here (ECS restarts a hung task); readiness is the target group's /health/ready.
      healthCheck: livenessCheck(spec.port),
      dockerLabels: {
        'app.upiik.secret-versions': Object.entries(spec.secretVersions)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, version]) => `${name}=${version}`)
          .join(';'),
      },
      stopTimeout: 30,
      logConfiguration: {
        logDriver: 'awslogs',
        options: { 'awslogs-group': spec.logGroup, 'awslogs-region': spec.region, 'awslogs-stream-prefix': spec.name },
      },
    },
  ]);
}

export interface EnvironmentInputs {
  environment: string;
  port: number;
  logLevel: string;
  apiVersion: string;
  publishableKey: string;
  webhookUrl: string;
  rateLimitWindowMs: number;
  rateLimitMax: number;
  alertEmail: string;
  monitoringEnabled: boolean;
  checkoutSuccessUrl: string;
  checkoutCancelUrl: string;
  billingPortalReturnUrl: string;
  authJwtIssuer?: string;
  authJwtAudience?: string;
  authTokenMaxLifetimeSeconds: number;
  authAdminTokenMaxLifetimeSeconds: number;
  /** Comma-separated https origins; empty = no browser origin allowed. */
  corsAllowedOrigins: string;
}

/** Where the RDS CA bundle sits in the image (Dockerfile); the service verifies the database's certificate against it. */
export const RDS_CA_FILE = '/app/certs/rds-global-bundle.pem';

/**
 * The database "parts" (service/shared/config.ts): where the database is and the ARN of the secret
 * holding its credentials, which the service reads itself; none of it is secret.
 */
export interface DatabaseParts {
  host: string;
  port: number;
  name: string;
  credentialsArn: string;
}

/**
 * The plain half of the service's configuration contract (service/shared/config.ts). Price ids,
 * the topic ARN and the database parts (RDS only; an external database comes as the DATABASE_URL
 * secret) are resolved by the caller; nothing secret belongs here.
 */
export function plainEnvironment(
  i: EnvironmentInputs,
  resolved: { monthlyPriceId: string; yearlyPriceId: string; alertTopicArn: string; database?: DatabaseParts; version?: string },
): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: i.environment,
    ...(resolved.version ? { SERVICE_VERSION: resolved.version } : {}),
    PORT: String(i.port),
    LOG_LEVEL: i.logLevel,
    STRIPE_API_VERSION: i.apiVersion,
    STRIPE_PUBLISHABLE_KEY: i.publishableKey,
    STRIPE_PRICE_MONTHLY: resolved.monthlyPriceId,
    STRIPE_PRICE_YEARLY: resolved.yearlyPriceId,
    STRIPE_WEBHOOK_URL: i.webhookUrl,
    STRIPE_RATE_LIMIT_WINDOW: String(i.rateLimitWindowMs),
    STRIPE_RATE_LIMIT_MAX: String(i.rateLimitMax),
    STRIPE_ALERT_EMAIL: i.alertEmail,
    STRIPE_MONITORING_ENABLED: String(i.monitoringEnabled),
    ALERT_SNS_TOPIC_ARN: resolved.alertTopicArn,
    CHECKOUT_SUCCESS_URL: i.checkoutSuccessUrl,
    CHECKOUT_CANCEL_URL: i.checkoutCancelUrl,
    BILLING_PORTAL_RETURN_URL: i.billingPortalReturnUrl,
    AUTH_TOKEN_MAX_LIFETIME_SECONDS: String(i.authTokenMaxLifetimeSeconds),
    AUTH_ADMIN_TOKEN_MAX_LIFETIME_SECONDS: String(i.authAdminTokenMaxLifetimeSeconds),
  };
  if (resolved.database) {
    const db = resolved.database;
    Object.assign(env, {
      DATABASE_HOST: db.host, DATABASE_PORT: String(db.port), DATABASE_NAME: db.name, DATABASE_CREDENTIALS_ARN: db.credentialsArn, DATABASE_CA_FILE: RDS_CA_FILE,
    });
  }
  if (i.corsAllowedOrigins) env.CORS_ALLOWED_ORIGINS = i.corsAllowedOrigins;
  if (i.authJwtIssuer) env.AUTH_JWT_ISSUER = i.authJwtIssuer;
  if (i.authJwtAudience) env.AUTH_JWT_AUDIENCE = i.authJwtAudience;
  return env;
}
