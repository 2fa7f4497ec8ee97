import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SNSClient } from '@aws-sdk/client-sns';
import { type Alert, regionOfTopic, SnsAlertSink } from '../../../service/monitoring';

/** A local stand-in for the SNS query API: records each request, answers like SNS. No network. */
let server: Server;
let endpoint: string;
const requests: Array<{ headers: IncomingMessage['headers']; form: URLSearchParams }> = [];
let failNext = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      requests.push({ headers: req.headers, form: new URLSearchParams(body) });
      if (failNext > 0) {
        failNext -= 1;
        res.writeHead(500, { 'content-type': 'text/xml' });
        res.end('<ErrorResponse><Error><Type>Receiver</Type><Code>InternalError</Code><Message>boom</Message></Error><RequestId>r0</RequestId></ErrorResponse>');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(
        '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>msg-1</MessageId></PublishResult>' +
          '<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></PublishResponse>',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:upiik-payments-alerts';
const alert: Alert = {
  type: 'payment_failure',
  severity: 'high',
  title: 'Payments are failing',
  message: '100 payments failed since the previous payment-failure alert.',
  count: 100,
  environment: 'production',
  at: '2031-01-01T00:00:00.000Z',
  windowMs: 900_000,
  details: { lastFailureCode: 'card_declined' },
};

function sink() {
  const client = new SNSClient({ region: regionOfTopic(TOPIC), endpoint, credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret' }, maxAttempts: 1 });
  return { sink: new SnsAlertSink({ topicArn: TOPIC, client }), client };
}

describe('SnsAlertSink', () => {
  it('publishes one signed message to the topic with a short subject, the count and attributes', async () => {
    const { sink: s, client } = sink();
    await s.send(alert);
    client.destroy();
    const [req] = requests.splice(0);
    expect(req?.form.get('Action')).toBe('Publish');
    expect(req?.form.get('TopicArn')).toBe(TOPIC);
    expect(req?.form.get('Subject')).toBe('[HIGH] Payments are failing (production, x100)');
    expect(req?.form.get('Message')).toContain('Occurrences: 100');
    expect(req?.form.get('Message')).toContain('"lastFailureCode": "card_declined"');
    expect(req?.form.get('MessageAttributes.entry.1.Name')).toBe('type');
    expect(req?.form.get('MessageAttributes.entry.1.Value.StringValue')).toBe('payment_failure');
    expect(String(req?.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/sns\/aws4_request/);
  });

  it('keeps subjects within 100 printable ASCII characters', async () => {
    const { sink: s, client } = sink();
    await s.send({ ...alert, title: `Über-long ${'x'.repeat(200)}\nsecond line` });
    client.destroy();
    const subject = requests.splice(0)[0]?.form.get('Subject') ?? '';
    expect(subject.length).toBeLessThanOrEqual(100);
    expect(subject).toMatch(/^[\x20-\x7e]+$/);
  });

  it('rejects when SNS answers an error, so the dispatcher can log and retry', async () => {
    failNext = 1;
    const { sink: s, client } = sink();
    await expect(s.send(alert)).rejects.toThrow();
    client.destroy();
    requests.splice(0);
  });

  it('derives the client region from the topic ARN', () => {
    expect(regionOfTopic(TOPIC)).toBe('eu-west-1');
    expect(() => regionOfTopic('not-an-arn')).toThrow(RangeError);
  });
});
