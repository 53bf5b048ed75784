import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { Command } from 'commander';
import { credentials } from '@grpc/grpc-js';
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import { etcdServices } from '../api/grpc/proto.js';
import { BACKUP_HASH_BYTES, restoreDataDir } from '../node/backup.js';
import { parseMemberList } from '../node/config.js';
import { SnapshotIntegrityError } from '../node/errors.js';
import { fsyncDirectory, nodeFileSystem } from '../storage/index.js';

/**
 * `keel snapshot save FILE --endpoints host:port` and `keel snapshot
 * restore FILE --data-dir DIR --id ID --peers ...`, etcdctl's pair for
 * keel's snapshot files (see src/node/backup.ts for the format).
 *
 * Exit codes: 0 ok; 2 the snapshot fails its integrity check (SHA-256 or
 * content), so the file must not be used; 1 anything else (usage, the
 * server, the disk).
 */
export const EXIT_INTEGRITY = 2;
/** Largest gRPC message accepted from the server: a chunk is 64 KiB, so this only guards against a broken server. */
const RECEIVE_BYTES_MAX = 16 * 1024 * 1024;

interface SaveFlags {
  endpoints: string;
  commandTimeoutMs?: string;
}

interface RestoreFlags {
  dataDir: string;
  id: string;
  peers: string;
  clusterName: string;
}

export function snapshotCommand(): Command {
  const command = new Command('snapshot').description('save a member\'s store to a file, or seed a new member\'s data directory from one');
  command
    .command('save <file>')
    .description('stream a consistent snapshot from one member (Maintenance.Snapshot), verify its SHA-256, write it to FILE (FILE.tmp, fsync, rename)')
    .requiredOption('--endpoints <host:port>', 'the one member to read from')
    .option('--command-timeout-ms <n>', 'give up after this long (default: no limit, as etcdctl)')
    .action(async (file: string, flags: SaveFlags) => {
      process.exitCode = await report('save', () => save(file, flags));
    });
  command
    .command('restore <file>')
    .description('verify a snapshot file and create a new cluster member\'s data directory holding its state (like etcdctl snapshot restore)')
    .requiredOption('--data-dir <dir>', 'the new member\'s data directory (must not exist or be empty)')
    .requiredOption('--id <id>', 'the new member\'s id, one of --peers')
    .requiredOption('--peers <list>', 'the new cluster\'s founding members: n1=host:port,n2=host:port,...')
    .option('--cluster-name <name>', 'the new cluster\'s name; start `keel node` with the same --cluster-name', 'keel')
    .action(async (file: string, flags: RestoreFlags) => {
      process.exitCode = await report('restore', async () => {
        const result = restoreDataDir(readFileSync(file), { dataDir: flags.dataDir, id: flags.id, peers: parseMemberList(flags.peers, 'peers'), clusterName: flags.clusterName });
        console.log(`restored revision ${result.revision} into ${flags.dataDir} (member ${flags.id} of cluster ${flags.clusterName}, id ${result.clusterId.toString(16)})`);
      });
    });
  return command;
}

async function report(what: string, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (error) {
    console.error(`keel snapshot ${what}: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof SnapshotIntegrityError ? EXIT_INTEGRITY : 1;
  }
}

async function save(file: string, flags: SaveFlags): Promise<void> {
  const endpoints = flags.endpoints.split(',').map((endpoint) => endpoint.trim().replace(/^https?:\/\//, '')).filter(Boolean);
  if (endpoints.length !== 1) throw new Error(`a snapshot is taken from one member; --endpoints names ${endpoints.length}`);
  const timeoutMs = flags.commandTimeoutMs === undefined ? undefined : Number(flags.commandTimeoutMs);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) throw new Error('--command-timeout-ms must be a positive integer');
  const temporary = `${file}.tmp`;
  const fd = openSync(temporary, 'w');
  try {
    const { bytes } = await fetchInto(endpoints[0]!, fd, timeoutMs);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, file);
    fsyncDirectory(nodeFileSystem, dirname(file));
    console.log(`Snapshot saved at ${file} (${bytes} bytes, sha256 verified)`);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(temporary, { force: true });
    throw error;
  }
}

/**
 * Writes the stream to `fd` as it arrives (memory stays at one message),
 * holding back the last message: it is the SHA-256 of everything before it.
 */
function fetchInto(endpoint: string, fd: number, timeoutMs: number | undefined): Promise<{ bytes: number }> {
  const client = new (etcdServices().Maintenance)(endpoint, credentials.createInsecure(), { 'grpc.max_receive_message_length': RECEIVE_BYTES_MAX });
  return new Promise<{ bytes: number }>((resolve, reject) => {
    const options = timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs };
    const stream = (client as unknown as { Snapshot(request: object, options: object): ClientReadableStream<{ blob: Buffer }> }).Snapshot({}, options);
    const hash = createHash('sha256');
    let held: Buffer | undefined;
    let written = 0;
    let failed = false;
    const fail = (error: Error): void => {
      if (failed) return;
      failed = true;
      stream.cancel();
      reject(error);
    };
    stream.on('data', (message: { blob: Buffer }) => {
      if (failed) return;
      try {
        if (held) {
          writeFullySync(fd, held, written);
          hash.update(held);
          written += held.length;
        }
        held = Buffer.from(message.blob);
      } catch (error) {
        fail(error as Error);
      }
    });
    stream.on('error', (error: ServiceError) => fail(new Error(`${endpoint}: ${error.details || error.message}`)));
    stream.on('end', () => {
      if (failed) return;
      client.close();
      if (!held || held.length !== BACKUP_HASH_BYTES || written === 0) return reject(new SnapshotIntegrityError('the stream ended without content and a SHA-256 trailer'));
      if (!hash.digest().equals(held)) return reject(new SnapshotIntegrityError('the received snapshot does not match its SHA-256'));
      try {
        writeFullySync(fd, held, written);
      } catch (error) {
        return reject(error as Error);
      }
      resolve({ bytes: written + held.length });
    });
  }).finally(() => client.close());
}

function writeFullySync(fd: number, bytes: Uint8Array, position: number): void {
  let offset = 0;
  // Bounded: every round writes at least one byte or throws.
  while (offset < bytes.length) {
    const count = writeSync(fd, bytes, offset, bytes.length - offset, position + offset);
    if (count <= 0) throw new Error('short write');
    offset += count;
  }
}

