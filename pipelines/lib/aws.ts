/**
 * How the steps build AWS SDK v3 clients: the region from the step's input, credentials from the
 * default chain (in GitHub Actions, the OIDC role that aws-actions/configure-aws-credentials
 * assumed), and the SDK's adaptive retry mode, which backs off on throttling (ThrottlingException,
 * TooManyRequests) and 5xx before a call fails. A poll loop also treats one failed poll as a
 * missed poll within its deadline.
 */
export const awsClientConfig = (region: string) => ({ region, retryMode: 'adaptive' as const, maxAttempts: 8 });

const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'ServiceUnavailable', 'InternalFailure']);
/** A call worth trying again at the next poll: throttled, or AWS answered 5xx. */
export const isTransientAwsError = (error: unknown): boolean => {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
  return THROTTLING.has(e?.name ?? '') || (e?.$metadata?.httpStatusCode ?? 0) >= 500 || e?.$retryable !== undefined;
};
