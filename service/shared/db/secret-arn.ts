/**
 * A Secrets Manager secret ARN: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6>`.
 * Names allow letters, digits and /_+=.@- ; secrets a service manages (RDS: `rds!db-<uuid>`) also
 * carry `!`. Kept apart from the client so the config schema can use it without loading the SDK.
 */
export const SECRET_ARN_PATTERN = /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$/;
