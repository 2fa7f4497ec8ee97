import * as pulumi from '@pulumi/pulumi';
import * as aws from '@pulumi/aws';

export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';

export interface DeployIdentityArgs {
  github: {
    /** `<owner>/<repo>` of this repository. */
    repository: string;
    /** The GitHub environment whose jobs deploy this stack (`staging`, `production`); case-sensitive. */
    environment: string;
  };
  /**
   * IAM allows one provider per URL per account: the first stack in an account creates it, any other
   * stack in the same account adopts it by ARN. Unset = create.
   */
  existingOidcProviderArn?: string;
  /**
   * Also create a role for the build job on `main` (no environment, so no approval gate): it may push
   * images to this repository and nothing else. The deploy role itself trusts only the environment.
   */
  imagePushFromMain: boolean;
  /** Exactly the resources the pipeline may touch. */
  resources: {
    repositoryArn: pulumi.Input<string>;
    clusterArn: pulumi.Input<string>;
    clusterName: pulumi.Input<string>;
    serviceName: pulumi.Input<string>;
    taskDefinitionFamily: pulumi.Input<string>;
    /** The roles the task definition names; the only roles the pipeline may pass (to ECS tasks). */
    executionRoleArn: pulumi.Input<string>;
    taskRoleArn: pulumi.Input<string>;
    logGroupArn: pulumi.Input<string>;
    /** The JWT signing secret: the pipeline signs its short-lived ops token with it. */
    jwtSecretArn: pulumi.Input<string>;
    /** Customer-managed key of that secret, if any: decrypt through Secrets Manager only. */
    secretsKmsKeyArn?: pulumi.Input<string>;
    /** The production listener rule a rollback re-weights. */
    listenerRuleArn: pulumi.Input<string>;
    /** `<prefix>-`: the stack's alarms, which canary analysis and rollback read. */
    alarmNamePrefix: string;
  };
  tags: Record<string, string>;
}

type Condition = Record<string, Record<string, string | string[]>>;
type Statement = { Sid: string; Effect: 'Allow'; Action: string[]; Resource: string | string[]; Condition?: Condition };
export interface PolicyDocument { Version: '2012-10-17'; Statement: Statement[] }
type TrustStatement = { Sid: string; Effect: 'Allow'; Principal: { Federated: string }; Action: string[]; Condition: Condition };
export interface TrustPolicyDocument { Version: '2012-10-17'; Statement: TrustStatement[] }

/** The `sub` claim GitHub puts in the token of a job that references an environment. */
export const environmentSubject = (repository: string, environment: string) => `repo:${repository}:environment:${environment}`;
/** The `sub` claim of a job on a branch without an environment. */
export const branchSubject = (repository: string, branch: string) => `repo:${repository}:ref:refs/heads/${branch}`;

/** Exact match on subject and audience: no wildcard, so no other repository, branch or environment fits. */
export function githubTrustPolicy(providerArn: string, subject: string): TrustPolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [{
      Sid: 'GitHubActions',
      Effect: 'Allow',
      Principal: { Federated: providerArn },
      Action: ['sts:AssumeRoleWithWebIdentity'],
      Condition: { StringEquals: { [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE, [`${GITHUB_OIDC_HOST}:sub`]: subject } },
    }],
  };
}

const ECR_PUSH = ['ecr:BatchCheckLayerAvailability', 'ecr:InitiateLayerUpload', 'ecr:UploadLayerPart', 'ecr:CompleteLayerUpload', 'ecr:PutImage'];
const ECR_READ = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:DescribeImages', 'ecr:DescribeImageScanFindings'];

export function imagePushPolicy(repositoryArn: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      // GetAuthorizationToken has no resource-level permissions: it only yields a login, the
      // repository statement decides what that login may do.
      { Sid: 'EcrLogin', Effect: 'Allow', Action: ['ecr:GetAuthorizationToken'], Resource: '*' },
      { Sid: 'EcrPushThisRepository', Effect: 'Allow', Action: [...ECR_PUSH, ...ECR_READ], Resource: repositoryArn },
    ],
  };
}

export interface ResolvedResources {
  repositoryArn: string; clusterArn: string; clusterName: string; serviceName: string; taskDefinitionFamily: string;
  executionRoleArn: string; taskRoleArn: string; logGroupArn: string; jwtSecretArn: string; secretsKmsKeyArn?: string;
  listenerRuleArn: string; alarmNamePrefix: string;
}

/** Everything one stack's release and rollback need, on that stack's resources only. */
export function deployPolicy(r: ResolvedResources): PolicyDocument {
  const [, partition, , region, account] = r.clusterArn.split(':');
  const ecs = (resource: string) => `arn:${partition}:ecs:${region}:${account}:${resource}`;
  const serviceArn = ecs(`service/${r.clusterName}/${r.serviceName}`);
  const family = ecs(`task-definition/${r.taskDefinitionFamily}`);
  const statements: Statement[] = [
    ...imagePushPolicy(r.repositoryArn).Statement,
    // Register/Deregister/DescribeTaskDefinition take no resource ARN in IAM (Service Authorization
    // Reference); what a registered definition may do is bounded by PassRole below.
    { Sid: 'TaskDefinitions', Effect: 'Allow', Action: ['ecs:RegisterTaskDefinition', 'ecs:DeregisterTaskDefinition', 'ecs:DescribeTaskDefinition'], Resource: '*' },
    { Sid: 'TagOwnTaskDefinitions', Effect: 'Allow', Action: ['ecs:TagResource'], Resource: `${family}:*`, Condition: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } } },
    { Sid: 'DeployTheService', Effect: 'Allow', Action: ['ecs:UpdateService', 'ecs:DescribeServices', 'ecs:ListServiceDeployments'], Resource: serviceArn },
    { Sid: 'ServiceDeployments', Effect: 'Allow', Action: ['ecs:DescribeServiceDeployments', 'ecs:StopServiceDeployment'], Resource: ecs(`service-deployment/${r.clusterName}/${r.serviceName}/*`) },
    // RunTask is checked against the family ARN as given (with or without a revision).
    { Sid: 'OneOffTaskOfTheFamily', Effect: 'Allow', Action: ['ecs:RunTask'], Resource: [family, `${family}:*`], Condition: { ArnEquals: { 'ecs:cluster': r.clusterArn } } },
    { Sid: 'WatchTasksInTheCluster', Effect: 'Allow', Action: ['ecs:DescribeTasks', 'ecs:StopTask'], Resource: ecs(`task/${r.clusterName}/*`) },
    { Sid: 'ListTasksInTheCluster', Effect: 'Allow', Action: ['ecs:ListTasks'], Resource: '*', Condition: { ArnEquals: { 'ecs:cluster': r.clusterArn } } },
    {
      Sid: 'PassOnlyTheTaskRoles', Effect: 'Allow', Action: ['iam:PassRole'], Resource: [r.executionRoleArn, r.taskRoleArn],
      Condition: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    },
    { Sid: 'ReadTheServiceLogs', Effect: 'Allow', Action: ['logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams'], Resource: [r.logGroupArn, `${r.logGroupArn}:*`] },
    { Sid: 'ReadTheJwtSecret', Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: r.jwtSecretArn },
    // elasticloadbalancing:Describe* take no resource ARN; the one write is on the one rule.
    { Sid: 'DescribeLoadBalancing', Effect: 'Allow', Action: ['elasticloadbalancing:DescribeRules', 'elasticloadbalancing:DescribeListeners', 'elasticloadbalancing:DescribeTargetGroups', 'elasticloadbalancing:DescribeTargetHealth'], Resource: '*' },
    { Sid: 'ReweightTheProductionRule', Effect: 'Allow', Action: ['elasticloadbalancing:ModifyRule'], Resource: r.listenerRuleArn },
    // GetMetricData has no resource-level permissions (read-only metrics for canary analysis).
    { Sid: 'ReadMetrics', Effect: 'Allow', Action: ['cloudwatch:GetMetricData'], Resource: '*' },
    { Sid: 'ReadTheStackAlarms', Effect: 'Allow', Action: ['cloudwatch:DescribeAlarms'], Resource: `arn:${partition}:cloudwatch:${region}:${account}:alarm:${r.alarmNamePrefix}*` },
  ];
  if (r.secretsKmsKeyArn) {
    statements.push({
      Sid: 'DecryptTheJwtSecret', Effect: 'Allow', Action: ['kms:Decrypt'], Resource: r.secretsKmsKeyArn,
      Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } },
    });
  }
  return { Version: '2012-10-17', Statement: statements };
}

/**
 * GitHub Actions' way into this stack's AWS resources, without stored keys: the account's GitHub
 * OIDC provider (created or adopted) and a deploy role only jobs of this repository's GitHub
 * environment can assume, scoped to this stack's repository, service, task family, roles, log
 * group, JWT secret, listener rule and alarms. Optionally a push-only role for the build on `main`.
 */
export class DeployIdentity extends pulumi.ComponentResource {
  public readonly oidcProviderArn: pulumi.Output<string>;
  public readonly deployRoleArn: pulumi.Output<string>;
  /** Unset unless `imagePushFromMain`. */
  public readonly imagePushRoleArn: pulumi.Output<string | undefined>;

  constructor(name: string, args: DeployIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    // Checked before super(): a half-registered component would leave the engine a dangling resource.
    validate(args);
    super('upiik:identity:DeployIdentity', name, {}, opts);
    const parent = { parent: this };
    const { repository, environment } = args.github;

    // No thumbprintLists: for GitHub's issuer IAM validates the certificate against its own trusted
    // CAs and ignores thumbprints (provider docs, aws.iam.OpenIdConnectProvider).
    this.oidcProviderArn = args.existingOidcProviderArn
      ? pulumi.output(args.existingOidcProviderArn)
      : new aws.iam.OpenIdConnectProvider(`${name}-github-oidc`, {
          url: `https://${GITHUB_OIDC_HOST}`,
          clientIdLists: [GITHUB_OIDC_AUDIENCE],
          tags: args.tags,
        }, parent).arn;

    const role = (role: string, subject: string, description: string) => new aws.iam.Role(`${name}-${role}`, {
      description,
      assumeRolePolicy: this.oidcProviderArn.apply((arn) => JSON.stringify(githubTrustPolicy(arn, subject))),
      // A production rollout (canary bake + bake time) outlasts the default hour.
      maxSessionDuration: 7200,
      tags: args.tags,
    }, parent);

    const deployRole = role('deploy-role', environmentSubject(repository, environment), `GitHub Actions deploys of ${repository} (environment ${environment})`);
    new aws.iam.RolePolicy(`${name}-deploy-policy`, {
      role: deployRole.name,
      // `resources` holds only Inputs of strings (alarmNamePrefix is a plain string): resolve them all at once.
      policy: pulumi.output(args.resources).apply((resolved) => JSON.stringify(deployPolicy(resolved))),
    }, parent);
    this.deployRoleArn = deployRole.arn;

    if (args.imagePushFromMain) {
      const pushRole = role('push-role', branchSubject(repository, 'main'), `GitHub Actions image pushes from ${repository}@main`);
      new aws.iam.RolePolicy(`${name}-push-policy`, {
        role: pushRole.name,
        policy: pulumi.output(args.resources.repositoryArn).apply((arn) => JSON.stringify(imagePushPolicy(arn))),
      }, parent);
      this.imagePushRoleArn = pushRole.arn;
    } else {
      this.imagePushRoleArn = pulumi.output(undefined);
    }
    this.registerOutputs({ oidcProviderArn: this.oidcProviderArn, deployRoleArn: this.deployRoleArn, imagePushRoleArn: this.imagePushRoleArn });
  }
}

function validate(args: DeployIdentityArgs): void {
  const fail = (arg: string, rule: string): never => {
    throw new Error(`DeployIdentity: ${arg} ${rule}`);
  };
  if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(args.github?.repository ?? ''))
    fail('github.repository', `must be <owner>/<repo>, got "${args.github?.repository}"`);
  // Kept to characters that need no escaping in a sub claim: `:` would let a name forge another claim.
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(args.github.environment ?? ''))
    fail('github.environment', `must be a GitHub environment name of letters, digits, . _ - (no ':' or '*'), got "${args.github.environment}"`);
  if (args.existingOidcProviderArn !== undefined && !new RegExp(`^arn:aws[a-z-]*:iam::\\d{12}:oidc-provider/${GITHUB_OIDC_HOST.replace(/\./g, '\\.')}$`).test(args.existingOidcProviderArn))
    fail('existingOidcProviderArn', `must be the ARN of the account's ${GITHUB_OIDC_HOST} provider (arn:aws:iam::<account>:oidc-provider/${GITHUB_OIDC_HOST}), got "${args.existingOidcProviderArn}"`);
  if (!/^[A-Za-z0-9._-]+-$/.test(args.resources?.alarmNamePrefix ?? ''))
    fail('resources.alarmNamePrefix', `must be the stack's alarm name prefix ending in '-' (no wildcard), got "${args.resources?.alarmNamePrefix}"`);
}
