import { Command } from 'commander';
import { unwatchFile, watchFile } from 'node:fs';
import { Gateway } from '../gateway/gateway.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { createPinoLogger, parseLogFormat } from '../node/logger.js';
import type { LogFormat } from '../node/logger.js';
import { EXIT_PERMANENT } from './exit-codes.js';

/** `keel gateway --config gw.yaml`: the L7 load balancer. SIGHUP reloads the config; SIGTERM/SIGINT drain and exit. */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run the keel L7 gateway (SIGHUP reloads the config without dropping connections; SIGTERM drains)')
    .requiredOption('--config <file>', 'gateway YAML config (see docs/gateway.md)')
    .option('--log-level <level>', 'debug, info, warn, error or silent (default info)', 'info')
    .option('--log-format <format>', 'json (pino lines, ISO time) or pretty (readable lines)', parseLogFormat, 'json' as LogFormat)
    .option('--watch', 'also reload when the config file changes')
    .action(async (flags: { config: string; logLevel: string; logFormat: LogFormat; watch?: boolean }) => {
      process.exitCode = await runGateway(flags.config, flags.logLevel, flags.logFormat, flags.watch === true);
    });
}

/** A bind error's host:port, from the fields Node sets on it. */
function bindAddressOf(error: unknown): string {
  const { address, port } = error as { address?: unknown; port?: unknown };
  return typeof port === 'number' ? `${typeof address === 'string' ? address : '0.0.0.0'}:${port}` : 'a listener address';
}

/** How often `--watch` stats the file (polling survives editors that replace the file rather than write it). */
const WATCH_INTERVAL_MS = 500;
/** Editors write a file in several steps: wait this long after the last change before reloading. */
const WATCH_DEBOUNCE_MS = 200;

async function runGateway(file: string, logLevel: string, logFormat: LogFormat, watchChanges: boolean): Promise<number> {
  let config;
  try {
    config = loadGatewayConfig(file);
  } catch (error) {
    console.error(`keel gateway: ${(error as Error).message}`);
    return 1;
  }
  const log = createPinoLogger({ level: logLevel, format: logFormat, bindings: { part: 'gateway' } });
  let gateway: Gateway;
  try {
    gateway = await Gateway.start({ config, configFile: file, log });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const address = bindAddressOf(error);
    const message = code === 'EADDRINUSE' ? `${address} is already in use by another process (EADDRINUSE); stop it or change the listener's port in ${file}` : (error as Error).message;
    log.error({ code, address }, `could not start: ${message}`);
    console.error(`keel gateway: ${message}`);
    // The exit code a restart cannot fix (as keel node's): keel up does not restart it.
    return code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EACCES' ? EXIT_PERMANENT : 1;
  }
  log.info({ ports: gateway.ports, admin: gateway.adminPort }, 'gateway listening');
  // A refused reload is logged once, by the gateway, with its code and message.
  const reload = () => void gateway.reloadFromFile();
  process.on('SIGHUP', reload);
  let debounce: ReturnType<typeof setTimeout> | undefined;
  if (watchChanges) {
    watchFile(file, { interval: WATCH_INTERVAL_MS }, () => {
      clearTimeout(debounce);
      debounce = setTimeout(reload, WATCH_DEBOUNCE_MS);
    });
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'draining');
      void gateway.drain().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  if (watchChanges) unwatchFile(file);
  clearTimeout(debounce);
  log.info('gateway stopped');
  return 0;
}
