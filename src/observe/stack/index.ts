/** `keel up --observe`: Prometheus, Alertmanager and an alert receiver for a local cluster. */
export { ObserveStack, type ObserveStackOptions, type ObserveStackDescription, type RuleFile } from './stack.js';
export { findObserveBinaries, type ObserveBinaries } from './binaries.js';
export { ObserveStackError, OBSERVE_STACK_ERROR_CODES, type ObserveStackErrorCode } from './errors.js';
export { alertmanagerConfig, type AlertTiming, GROUP_BY, RECEIVER_NAME } from './alertmanager-config.js';
export { prometheusConfig, type MemberTarget, type PrometheusConfigInput } from './prometheus-config.js';
export { startAlertReceiver, parseNotification, describeNotification, RECEIVER_PATH, type AlertNotification } from './alert-receiver.js';
export {
  collectScrapeTarget, parsePromDuration, parseScrapeTarget, parseWebhookUrl,
  EXTRA_TARGET_JOB, GATEWAY_JOB, MEMBERS_JOB, type PromDuration, type ScrapeTarget,
} from './options.js';
export { shippedFile, KEEL_ALERTS_FILE } from './shipped-files.js';
