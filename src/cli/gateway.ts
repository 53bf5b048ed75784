import { Command } from 'commander';
import { pino } from 'pino';
import { Gateway } from '../gateway/gateway.js';
import { loadGatewayConfig } from '../gateway/config.js';

/** `keel gateway --config gw.yaml`: the L7 load balancer. SIGHUP reloads the config; SIGTERM/SIGINT drain and exit. */
export function gatewayCommand(): Command {
  return new Command('gateway')
    .description('run the keel L7 gateway (SIGHUP reloads the config without dropping connections; SIGTERM drains)')
    .requiredOption('--config <file>', 'gateway YAML config (see docs/gateway.md)')
    .option('--log-level <level>', 'debug, info, warn, error or silent (default info)', 'info')
    .action(async (flags: { config: string; logLevel: string }) => {
      process.exitCode = await runGateway(flags.config, flags.logLevel);
    });
}

async function runGateway(file: string, logLevel: string): Promise<number> {
  let config;
  try {
    config = loadGatewayConfig(file);
  } catch (error) {
    console.error(`keel gateway: ${(error as Error).message}`);
    return 1;
  }
  const log = pino({ level: logLevel, base: { part: 'gateway' } });
  const gateway = await Gateway.start({ config, configFile: file, log });
  log.info({ ports: gateway.ports, admin: gateway.adminPort }, 'gateway listening');
  process.on('SIGHUP', () => {
    const result = gateway.reloadFromFile();
    if (!result.ok) log.error({ error: result.error }, 'reload refused');
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'draining');
      void gateway.drain().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  log.info('gateway stopped');
  return 0;
}
