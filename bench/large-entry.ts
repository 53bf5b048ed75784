/**
 * What building one log entry for a large put costs a member's event loop:
 * wall time, CPU (user + system) and minor page faults per entry, for a
 * 1 MiB value by default. Two paths, each in a fresh process with glibc's
 * default malloc settings and with keel up's (src/cli/up.ts
 * MEMBER_MALLOC_ENV):
 * - before (the anchor): the allocations and copies the member made until
 *   issue 14's change, replayed on the same bytes: a zeroed writer grown
 *   from 256 bytes to twice the value, a copy to fit, and a copy into the
 *   entry;
 * - now: `encodeStoreCommandEntry`, which encodes the command after the
 *   entry's envelope into one buffer of about its size, without the zero
 *   fill (src/codec/fill-bytes.ts).
 * "before" does less work than the old code did (the command's bytes are
 * encoded once, up front, and only its allocations and copies repeat), so
 * the ratio is a lower bound.
 * Usage: npx tsx bench/large-entry.ts [--value-bytes 1048576] [--entries 300]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { MEMBER_MALLOC_ENV } from '../src/cli/up.js';
import { encodeCommandEntry, encodeStoreCommandEntry } from '../src/node/entry-codec.js';
import { type Command, encodeCommand } from '../src/store/command.js';
import { markdownTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    'value-bytes': { type: 'string', default: String(1024 * 1024) },
    entries: { type: 'string', default: '300' },
    child: { type: 'string' },
  },
});
const valueBytes = Number(args['value-bytes']);
const entries = Number(args.entries);
if (!(valueBytes > 0 && valueBytes <= 64 * 1024 * 1024 && entries > 0 && entries <= 100_000)) {
  console.error('bench/large-entry: --value-bytes must be in (0, 64 MiB] and --entries in (0, 100000]');
  process.exit(1);
}
const REQUEST_ID = 'n1-0123456789abcdef';
const WARMUP_ENTRIES = 30;

interface Sample {
  readonly wallMicros: number;
  readonly cpuMicros: number;
  readonly faults: number;
}

function measure(path: string): Sample {
  const command: Command = { type: 'put', request: { key: new TextEncoder().encode('fill-a/000123'), value: new Uint8Array(valueBytes).fill(7) } };
  const encoded = encodeCommand(command);
  const before = (): Uint8Array => {
    // The old encodeCommand: ByteWriter(256) grew by doubling into a zeroed array, then slice() to fit ...
    let capacity = 256;
    while (capacity < encoded.length) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(encoded);
    const fitted = grown.slice(0, encoded.length);
    // ... and the old encodeCommandEntry copied that into a zeroed entry.
    return encodeCommandEntry(REQUEST_ID, fitted);
  };
  const now = (): Uint8Array => encodeStoreCommandEntry(REQUEST_ID, command);
  const build = path === 'before' ? before : now;
  let kept = 0;
  for (let i = 0; i < WARMUP_ENTRIES; i++) kept += build().length;
  const usage = process.resourceUsage();
  const started = performance.now();
  for (let i = 0; i < entries; i++) kept += build().length;
  const wall = performance.now() - started;
  const after = process.resourceUsage();
  if (kept === 0) throw new Error('nothing built');
  return {
    wallMicros: (wall * 1000) / entries,
    cpuMicros: (after.userCPUTime - usage.userCPUTime + after.systemCPUTime - usage.systemCPUTime) / entries,
    faults: (after.minorPageFault - usage.minorPageFault) / entries,
  };
}

if (args.child !== undefined) {
  process.stdout.write(JSON.stringify(measure(args.child)));
  process.exit(0);
}

function inChild(path: string, malloc: boolean): Sample {
  const environment = { ...process.env };
  for (const name of Object.keys(MEMBER_MALLOC_ENV)) delete environment[name];
  const child = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', path, '--value-bytes', String(valueBytes), '--entries', String(entries)], {
    env: malloc ? { ...environment, ...MEMBER_MALLOC_ENV } : environment,
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (child.status !== 0) throw new Error(`child ${path} failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as Sample;
}

const rows: string[][] = [];
const results = new Map<string, Sample>();
for (const malloc of [false, true]) {
  for (const path of ['before', 'now']) {
    const sample = inChild(path, malloc);
    results.set(`${path}/${malloc}`, sample);
    rows.push([path, malloc ? 'keel up (MEMBER_MALLOC_ENV)' : 'glibc default', sample.wallMicros.toFixed(0), sample.cpuMicros.toFixed(0), sample.faults.toFixed(0)]);
  }
}
const anchor = results.get('before/false')!;
for (const row of rows) row.push((anchor.cpuMicros / Number(row[3])).toFixed(1));
console.log(`${entries} entries of a ${valueBytes}-byte put, each path in a fresh process; load average ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`);
console.log(markdownTable(['path', 'malloc settings', 'µs per entry', 'CPU µs per entry', 'minor faults per entry', 'CPU: before with glibc default ÷ this'], rows));
