import * as pulumi from '@pulumi/pulumi';
import { loadStackSettings, tagsFor } from './settings';
import { plainEnvironment } from './container';
import { ALARMS, DEPLOYMENT_ROLLBACK_ALARMS, alarmName } from './alarm-catalog';
import { Network } from './components/network';
import { LoadBalancer } from './components/load-balancer';
import { Cache } from './components/cache';
import { StripeCatalog } from './components/stripe-catalog';
import { Secrets } from './components/secrets';
import { AlertTopic } from './components/alert-topic';
import { PaymentsService } from './components/service';
import { Alarms } from './components/alarms';

// Wiring only: each component checks its own arguments. See docs/infra.md.
const s = loadStackSettings();
const tags = (role: string) => tagsFor(s, role);
const CONTAINER_PORT = 3000;
const serviceUrl = `https://${s.domainName}`;

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
const stripe = new StripeCatalog(s.prefix, {
  serviceUrl, apiVersion: s.stripe.apiVersion, environment: s.environment,
  adoptEndpointId: s.stripe.adoptEndpointId, adoptedSecret: s.stripe.adoptedSecret,
});
const secrets = new Secrets(s.prefix, {
  namePrefix: `upiik-payments/${s.environment}`,
  recoveryWindowInDays: s.environment === 'production' ? 30 : 7,
  values: {
    STRIPE_SECRET_KEY: s.secrets.stripeSecretKey, STRIPE_WEBHOOK_SECRET: stripe.webhookSecret, DATABASE_URL: s.secrets.databaseUrl,
    REDIS_URL: cache.redisUrl, AUTH_JWT_SECRET: s.secrets.authJwtSecret, REDIS_AUTH_TOKEN: cache.authToken,
  },
  tags: tags('secrets'),
});
const alerts = new AlertTopic(s.prefix, { email: s.alerts.email, tags: tags('alerts') });
const service = new PaymentsService(s.prefix, {
  image: s.image, containerPort: CONTAINER_PORT, ...s.service,
  privateSubnetIds: network.privateSubnetIds, securityGroupId: lb.serviceSecurityGroupId,
  environment: pulumi.all([stripe.monthlyPriceId, stripe.yearlyPriceId, alerts.topicArn]).apply(([monthlyPriceId, yearlyPriceId, alertTopicArn]) =>
    plainEnvironment(
      { ...s.app, environment: s.environment, port: CONTAINER_PORT, apiVersion: s.stripe.apiVersion, publishableKey: s.stripe.publishableKey,
        webhookUrl: stripe.webhookUrl, alertEmail: s.alerts.email },
      { monthlyPriceId, yearlyPriceId, alertTopicArn },
    )),
  secretArns: secrets.arns,
  alertTopicArn: alerts.topicArn,
  loadBalancer: {
    primaryTargetGroupArn: lb.primaryTargetGroupArn, alternateTargetGroupArn: lb.alternateTargetGroupArn,
    productionListenerRuleArn: lb.productionListenerRuleArn, trafficShiftRoleArn: lb.trafficShiftRoleArn,
    requestCountLabel: pulumi.interpolate`${lb.albArnSuffix}/${lb.primaryTargetGroupArnSuffix}`,
  },
  deployment: { ...s.service, strategy: s.service.deploymentStrategy, rollbackAlarmNames: DEPLOYMENT_ROLLBACK_ALARMS.map((k) => alarmName(s.prefix, k)) },
  tags: tags('service'),
}, { dependsOn: [cache] });
const alarms = new Alarms(s.prefix, {
  prefix: s.prefix, environment: s.environment, alertTopicArn: alerts.topicArn, runbookBaseUrl: s.alerts.runbookBaseUrl,
  albArnSuffix: lb.albArnSuffix, targetGroupArnSuffixes: [lb.primaryTargetGroupArnSuffix, lb.alternateTargetGroupArnSuffix],
  clusterName: service.clusterName, serviceName: service.serviceName, redisMemberClusterIds: cache.memberClusterIds, tags: tags('alarms'),
});

// Stack outputs for pipelines and scripts. Nothing secret: the policy tests check every value.
export { serviceUrl };
export const albDnsName = lb.dnsName;
export const clusterName = service.clusterName;
export const serviceName = service.serviceName;
export const alarmNames = alarms.alarmNames;
export const deploymentAlarmNames = DEPLOYMENT_ROLLBACK_ALARMS.map((k) => alarmName(s.prefix, k));
export const alertTopicArn = alerts.topicArn;
export const priceIds = { monthly: stripe.monthlyPriceId, yearly: stripe.yearlyPriceId };
export const webhookEndpointId = stripe.webhookEndpointId;
export const webhookUrl = stripe.webhookUrl;
export const logGroupName = service.logGroupName;
export const runbooks = Object.values(ALARMS).map((a) => `${s.alerts.runbookBaseUrl}/${a.slug}.md`);
