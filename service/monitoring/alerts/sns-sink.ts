import { PublishCommand, SNSClient, type SNSClientConfig } from '@aws-sdk/client-sns';
import { redact, redactString } from '../../shared/redact';
import { ALERT_TYPES, type Alert, type AlertSink } from './types';

export interface SnsAlertSinkOptions {
  /** ALERT_SNS_TOPIC_ARN; its email subscription (STRIPE_ALERT_EMAIL) is declared by infra. */
  topicArn: string;
  /** A ready client (tests); otherwise one is built for the topic's region with the default credential chain (the ECS task role). */
  client?: SNSClient;
  clientConfig?: SNSClientConfig;
}

/** SNS subjects: ASCII, no newlines, at most 100 characters. */
function subjectOf(alert: Alert): string {
  const text = `[${alert.severity.toUpperCase()}] ${alert.title} (${alert.environment}, x${alert.count})`;
  return text.replace(/[^\x20-\x7e]/g, ' ').slice(0, 100);
}

function bodyOf(alert: Alert): string {
  return [
    alert.message,
    '',
    `Type: ${alert.type}`,
    `Severity: ${alert.severity}`,
    `Environment: ${alert.environment}`,
    `Occurrences: ${alert.count}`,
    `Raised at: ${alert.at}`,
    `No other "${alert.type}" alert is sent within ${Math.round(alert.windowMs / 60_000)} min of this one.`,
    `Runbook: ${ALERT_TYPES[alert.type].runbook}`,
    '',
    JSON.stringify(alert, null, 2),
  ].join('\n');
}

export function regionOfTopic(topicArn: string): string {
  const region = topicArn.split(':')[3];
  if (!region) throw new RangeError(`Not an SNS topic ARN: ${topicArn}`);
  return region;
}

/** Production alerts: one SNS message per alert (email subscribers read subject and body). */
export class SnsAlertSink implements AlertSink {
  readonly name = 'sns';
  private readonly client: SNSClient;

  constructor(private readonly options: SnsAlertSinkOptions) {
    this.client =
      options.client ??
      new SNSClient({
        region: regionOfTopic(options.topicArn),
        // The dispatcher retries once itself; one policy is easier to reason about than two stacked.
        maxAttempts: 1,
        requestHandler: { requestTimeout: 5_000, connectionTimeout: 3_000 },
        ...options.clientConfig,
      });
  }

  /** Subject and body are built from the redacted alert, and the text is redacted once more as written. */
  async send(unredacted: Alert): Promise<void> {
    const alert = redact(unredacted) as Alert;
    await this.client.send(
      new PublishCommand({
        TopicArn: this.options.topicArn,
        Subject: redactString(subjectOf(alert)),
        Message: redactString(bodyOf(alert)),
        MessageAttributes: {
          type: { DataType: 'String', StringValue: alert.type },
          severity: { DataType: 'String', StringValue: alert.severity },
          environment: { DataType: 'String', StringValue: alert.environment },
        },
      }),
    );
  }

  close(): void {
    this.client.destroy();
  }
}
