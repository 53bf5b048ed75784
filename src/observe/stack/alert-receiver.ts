import { appendFileSync, renameSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ALERTS_FILE_BYTES_MAX, ALERTS_LOGGED_PER_NOTIFICATION_MAX, RECEIVER_BODY_BYTES_MAX } from './limits.js';

/** The part of Alertmanager's webhook payload (version 4) the receiver reads. */
export interface AlertNotification {
  readonly status: string;
  readonly alerts: readonly { status: string; labels: Record<string, string>; annotations?: Record<string, string> }[];
  readonly groupLabels?: Record<string, string>;
}

/** The path Alertmanager posts to. */
export const RECEIVER_PATH = '/alerts';

/**
 * keel up's built-in alert receiver when no --alert-webhook is given: it
 * appends every notification Alertmanager posts (one JSON line, with the
 * time it arrived) to `file` and logs one line per notification, so a local
 * cluster's alerts are visible without any other service.
 */
export function startAlertReceiver(options: { host: string; port: number; file: string; log: (line: string) => void }): Promise<Server> {
  const server = createServer((request, response) => handle(request, response, options));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function answer(response: ServerResponse, status: number, message: string): void {
  response.writeHead(status, { 'content-type': 'text/plain' });
  response.end(`${message}\n`);
}

function handle(request: IncomingMessage, response: ServerResponse, options: { file: string; log: (line: string) => void }): void {
  if ((request.url ?? '').split('?')[0] !== RECEIVER_PATH) return answer(response, 404, `post Alertmanager notifications to ${RECEIVER_PATH}`);
  if (request.method !== 'POST') return answer(response, 405, 'POST only');
  const chunks: Buffer[] = [];
  let size = 0;
  let refused = false;
  request.on('data', (chunk: Buffer) => {
    if (refused) return;
    size += chunk.length;
    if (size > RECEIVER_BODY_BYTES_MAX) {
      refused = true;
      answer(response, 413, `a notification may be at most ${RECEIVER_BODY_BYTES_MAX} bytes`);
      request.resume();
      return;
    }
    chunks.push(chunk);
  });
  request.on('error', () => response.destroy());
  request.on('end', () => {
    if (refused) return;
    let notification: AlertNotification;
    try {
      notification = parseNotification(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      return answer(response, 400, (error as Error).message);
    }
    try {
      record(options.file, notification);
    } catch (error) {
      options.log(`alert receiver: cannot write ${options.file}: ${(error as Error).message}`);
      return answer(response, 500, 'cannot record the notification');
    }
    options.log(describeNotification(notification));
    answer(response, 200, 'ok');
  });
}

/** Checks the fields the receiver relies on; names the first one missing. */
export function parseNotification(text: string): AlertNotification {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('the body is not JSON');
  }
  const value = body as Partial<AlertNotification> | null;
  if (typeof value !== 'object' || value === null) throw new Error('the body is not a JSON object');
  if (typeof value.status !== 'string') throw new Error('status: must be a string');
  if (!Array.isArray(value.alerts)) throw new Error('alerts: must be an array');
  value.alerts.forEach((alert, index) => {
    if (typeof alert !== 'object' || alert === null || typeof alert.labels !== 'object' || alert.labels === null) throw new Error(`alerts[${index}].labels: must be an object`);
  });
  return value as AlertNotification;
}

function record(file: string, notification: AlertNotification): void {
  // One old file is kept: a long-lived local cluster does not fill the disk with alerts.
  try {
    if (statSync(file).size > ALERTS_FILE_BYTES_MAX) renameSync(file, `${file}.1`);
  } catch {
    // no file yet
  }
  appendFileSync(file, `${JSON.stringify({ receivedAt: new Date().toISOString(), ...notification })}\n`);
}

/** "alert firing: KeelNoLeader{instance=...,severity=critical}, ..." */
export function describeNotification(notification: AlertNotification): string {
  const shown = notification.alerts.slice(0, ALERTS_LOGGED_PER_NOTIFICATION_MAX).map((alert) => {
    const { alertname, ...rest } = alert.labels;
    const labels = Object.entries(rest).map(([name, value]) => `${name}=${value}`).join(',');
    return `${alertname ?? '(no alertname)'}{${labels}} ${alert.status}`;
  });
  const more = notification.alerts.length - shown.length;
  return `alert ${notification.status}: ${shown.join('; ')}${more > 0 ? ` (and ${more} more)` : ''}`;
}
