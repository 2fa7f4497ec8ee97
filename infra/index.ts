import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';
import { loadStackSettings, tagsFor } from './settings';
import { type DatabaseParts, plainEnvironment } from './container';
import { ALARMS, alarmsFor } from './alarm-catalog';
import { Network } from './components/network';
import { LoadBalancer } from './components/load-balancer';
import { Cache } from './components/cache';
import { Database } from './components/database';
import { Registry } from './components/registry';
import { StripeCatalog } from './components/stripe-catalog';
import { Encryption } from './components/encryption';
import { Secrets } from './components/secrets';
import { AlertTopic } from './components/alert-topic';
import { PaymentsService } from './components/service';
import { Alarms } from './components/alarms';
import { DeploymentEvents } from './components/deployment-events';
import { DeployIdentity } from './components/deploy-identity';
import { Dns } from './components/dns';

// Wiring only: each component checks its own arguments. Order matters where noted; see docs/infra.md.
const s = loadStackSettings();
const tags = (role: string) => tagsFor(s, role);
const CONTAINER_PORT = 3000;

const network = new Network(s.prefix, { ...s.network, flowLogRetentionDays: s.service.logRetentionDays, tags: tags('network') });
const lb = new LoadBalancer(s.prefix, {
  shortName: `upiik-pay-${s.environment}`, vpcId: network.vpcId, vpcCidr: network.vpcCidr, publicSubnetIds: network.publicSubnetIds,
  certificateArn: s.certificateArn, containerPort: CONTAINER_PORT, healthCheckPath: '/health/ready',
  deletionProtection: s.environment === 'production', accessLogRetentionDays: s.service.logRetentionDays, tags: tags('edge'),
});
const cache = new Cache(s.prefix, {
  vpcId: network.vpcId, privateSubnetIds: network.privateSubnetIds, clientSecurityGroupId: lb.serviceSecurityGroupId,
  nodeType: s.cache.nodeType, multiAz: s.cache.multiAz, tags: tags('cache'),
});
const encryption = new Encryption(s.prefix, { aliasName: s.prefix, deletionWindowInDays: 30, tags: tags('security') });
// rds: the stack's own PostgreSQL, reachable from the tasks' group only (the one-off task runs in it too).
const database = s.database.mode === 'rds'
  ? new Database(s.prefix, {
      ...s.database, environment: s.environment, vpcId: network.vpcId, privateSubnetIds: network.privateSubnetIds,
      clientSecurityGroupIds: [lb.serviceSecurityGroupId], kmsKeyArn: encryption.keyArn, tags: tags('database'),
    })
  : undefined;
const registry = new Registry(s.prefix, { repositoryName: s.prefix, ...s.registry, kmsKeyArn: encryption.keyArn, tags: tags('registry') });
const stripe = new StripeCatalog(s.prefix, {
  serviceUrl: `https://${s.domainName}`, apiVersion: s.stripe.apiVersion, environment: s.environment,
  adoptEndpointId: s.stripe.adoptEndpointId, adoptedSecret: s.stripe.adoptedSecret,
});
const secrets = new Secrets(s.prefix, {
  namePrefix: `upiik-payments/${s.environment}`, kmsKeyArn: encryption.keyArn,
  recoveryWindowInDays: s.environment === 'production' ? 30 : 7,
  values: {
    STRIPE_SECRET_KEY: s.secrets.stripeSecretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, REDIS_URL: cache.redisUrl,
    AUTH_JWT_SECRET: s.secrets.authJwtSecret, REDIS_AUTH_TOKEN: cache.authToken,
    ...(s.database.mode === 'external' ? { DATABASE_URL: s.database.url } : {}),
  },
  tags: tags('secrets'),
});
const alerts = new AlertTopic(s.prefix, { email: s.alerts.email, kmsKeyArn: encryption.keyArn, tags: tags('alerts') });
// Before the service: its deployments roll back on these alarms, which watch the ECS names from settings.
const alarms = new Alarms(s.prefix, {
  prefix: s.prefix, environment: s.environment, alertTopicArn: alerts.topicArn, runbookBaseUrl: s.alerts.runbookBaseUrl,
  albArnSuffix: lb.albArnSuffix, targetGroupArnSuffixes: [lb.primaryTargetGroupArnSuffix, lb.alternateTargetGroupArnSuffix],
  clusterName: s.ecs.clusterName, serviceName: s.ecs.serviceName, redisMemberClusterIds: cache.memberClusterIds, tags: tags('alarms'),
});
// The database "parts" (plain: host, port, name, the credentials secret's ARN); the service reads the secret itself.
const databaseParts: pulumi.Output<DatabaseParts | undefined> = database
  ? pulumi.all([database.address, database.port, database.databaseName, database.masterUserSecretArn])
      .apply(([host, port, name, credentialsArn]) => ({ host, port, name, credentialsArn }))
  : pulumi.output(undefined);
const service = new PaymentsService(s.prefix, {
  image: s.image, containerPort: CONTAINER_PORT, ...s.service, ...s.ecs,
  privateSubnetIds: network.privateSubnetIds, securityGroupId: lb.serviceSecurityGroupId,
  environment: pulumi.all([stripe.monthlyPriceId, stripe.yearlyPriceId, alerts.topicArn, databaseParts]).apply(([monthlyPriceId, yearlyPriceId, alertTopicArn, db]) =>
    plainEnvironment(
      { ...s.app, environment: s.environment, port: CONTAINER_PORT, apiVersion: s.stripe.apiVersion, publishableKey: s.stripe.publishableKey,
        webhookUrl: stripe.webhookUrl, alertEmail: s.alerts.email },
      // What runs is the image's digest (the pipeline pins `image` by digest): GET /api/admin/payments/ops shows it.
      { monthlyPriceId, yearlyPriceId, alertTopicArn, database: db, version: s.image.split('@')[1] },
    )),
  secretArns: secrets.arns, secretVersionIds: secrets.versionIds, kmsKeyArn: encryption.keyArn,
  alertTopicArn: alerts.topicArn,
  databaseCredentials: database ? { secretArn: database.masterUserSecretArn, kmsKeyArn: encryption.keyArn } : undefined,
  loadBalancer: {
    primaryTargetGroupArn: lb.primaryTargetGroupArn, alternateTargetGroupArn: lb.alternateTargetGroupArn,
    productionListenerRuleArn: lb.productionListenerRuleArn, trafficShiftRoleArn: lb.trafficShiftRoleArn,
    requestCountLabels: [lb.primaryTargetGroupArnSuffix, lb.alternateTargetGroupArnSuffix].map((tg) => pulumi.interpolate`${lb.albArnSuffix}/${tg}`),
  },
  deployment: { ...s.service, strategy: s.service.deploymentStrategy, rollbackAlarmNames: alarms.rollbackAlarmNames },
  // The whole LoadBalancer (listener rule, traffic-shift role policy), Cache and Database, every secret value.
  startAfter: [lb, cache, ...(database ? [database] : []), ...secrets.versions, ...alarms.rollbackAlarms],
  tags: tags('service'),
});
new DeploymentEvents(s.prefix, {
  environment: s.environment, serviceArn: service.serviceArn, alertTopicArn: alerts.topicArn,
  runbookUrl: `${s.alerts.runbookBaseUrl}/ecs-deployment-failed.md`, tags: tags('alarms'),
});
const identity = new DeployIdentity(s.prefix, {
  github: { repository: s.github.repository, environment: s.github.environment },
  existingOidcProviderArn: s.github.oidcProviderArn, imagePushFromMain: s.github.imagePushFromMain,
  resources: {
    repositoryArn: registry.repositoryArn, clusterArn: service.clusterArn, clusterName: service.clusterName, serviceName: service.serviceName,
    taskDefinitionFamily: service.taskDefinitionFamily, executionRoleArn: service.executionRoleArn, taskRoleArn: service.taskRoleArn,
    logGroupArn: service.logGroupArn, jwtSecretArn: secrets.arns.AUTH_JWT_SECRET, secretsKmsKeyArn: encryption.keyArn,
    listenerRuleArn: lb.productionListenerRuleArn, alarmNamePrefix: `${s.prefix}-`,
  },
  tags: tags('identity'),
});
const dns = s.hostedZoneId
  ? new Dns(s.prefix, {
      domainName: s.domainName, hostedZoneId: s.hostedZoneId, albDnsName: lb.dnsName,
      albZoneId: aws.lb.getLoadBalancerOutput({ arn: lb.albArn }).zoneId,
    })
  : undefined;

// Stack outputs for pipelines and scripts. Nothing secret: the policy tests check every value.
export const serviceUrl = dns ? pulumi.interpolate`https://${dns.fqdn}` : `https://${s.domainName}`;
export const albDnsName = lb.dnsName;
export const clusterName = service.clusterName;
export const clusterArn = service.clusterArn;
export const serviceName = service.serviceName;
export const taskDefinitionFamily = service.taskDefinitionFamily;
export const taskDefinitionArn = service.taskDefinitionArn;
export const targetGroupArns = { primary: lb.primaryTargetGroupArn, alternate: lb.alternateTargetGroupArn };
export const httpsListenerArn = lb.httpsListenerArn;
export const productionListenerRuleArn = lb.productionListenerRuleArn;
// A one-off task of the service's own task definition: cluster, family, these subnets and group, the log group.
export const privateSubnetIds = network.privateSubnetIds;
export const taskSecurityGroupId = lb.serviceSecurityGroupId;
export const logGroupName = service.logGroupName;
export const ecrRepositoryUrl = registry.repositoryUrl;
export const deployRoleArn = identity.deployRoleArn;
export const imagePushRoleArn = identity.imagePushRoleArn;
// Another stack in the same account adopts this provider (IAM allows one per URL).
export const githubOidcProviderArn = identity.oidcProviderArn;
// rds only (undefined with an external database): endpoint, the identifier snapshots take, the credentials secret's ARN.
export const databaseEndpoint = database ? pulumi.interpolate`${database.address}:${database.port}` : undefined;
export const databaseInstanceIdentifier = database?.instanceIdentifier;
export const databaseSecurityGroupId = database?.securityGroupId;
export const databaseCredentialsSecretArn = database?.masterUserSecretArn;
export const alarmNames = alarms.alarmNames;
export const deploymentAlarmNames = alarms.rollbackAlarmNames;
export const alertTopicArn = alerts.topicArn;
export const metricsTokenSecretArn = secrets.arns.METRICS_AUTH_TOKEN;
// What the operational commands read through the caller's AWS role (scripts/lib/ops-env.ts): the
// secrets' ARNs, never their values, and the region they live in.
// stripeWebhookSecret: where `npm run stripe:webhooks -- --apply` puts the secret of an endpoint it had to create.
export const opsSecretArns = { authJwtSecret: secrets.arns.AUTH_JWT_SECRET, stripeSecretKey: secrets.arns.STRIPE_SECRET_KEY, stripeWebhookSecret: secrets.arns.STRIPE_WEBHOOK_SECRET };
export const region = aws.getRegionOutput().region;
export const priceIds = { monthly: stripe.monthlyPriceId, yearly: stripe.yearlyPriceId };
export const webhookEndpointId = stripe.webhookEndpointId;
export const webhookUrl = stripe.webhookUrl;
export const runbooks = alarmsFor(s.environment).map((key) => `${s.alerts.runbookBaseUrl}/${ALARMS[key].slug}.md`);
