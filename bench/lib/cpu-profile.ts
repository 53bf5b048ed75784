/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) as the frames with
 * the most self time, which is what docs/resilience.md quotes before and
 * after each fast-path step.
 *
 * Usage: npx tsx bench/lib/cpu-profile.ts FILE.cpuprofile [--top N] [--without REGEX]
 * (--without drops frames such as the module loader's start-up work from the list; shares stay of the whole profile)
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface FrameShare {
  readonly frame: string;
  readonly selfMs: number;
  readonly share: number;
}

/** Self time per frame (function, file and line), largest first. */
export function selfTimes(profile: Profile, top: number, without?: RegExp): FrameShare[] {
  const frameById = new Map<number, string>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url === '' ? '' : ` ${basename(url)}:${lineNumber + 1}`;
    frameById.set(node.id, `${functionName === '' ? '(anonymous)' : functionName}${where}`);
  }
  const microsByFrame = new Map<string, number>();
  let totalMicros = 0;
  profile.samples.forEach((id, index) => {
    const micros = profile.timeDeltas[index] ?? 0;
    const frame = frameById.get(id) ?? '?';
    microsByFrame.set(frame, (microsByFrame.get(frame) ?? 0) + micros);
    totalMicros += micros;
  });
  return [...microsByFrame.entries()]
    .filter(([frame]) => without === undefined || !without.test(frame))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, micros]) => ({ frame, selfMs: micros / 1_000, share: totalMicros === 0 ? 0 : micros / totalMicros }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: npx tsx bench/lib/cpu-profile.ts FILE.cpuprofile [--top N]');
    process.exit(1);
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex >= 0 ? Number(process.argv[topIndex + 1]) : 12;
  const withoutIndex = process.argv.indexOf('--without');
  const without = withoutIndex >= 0 ? new RegExp(process.argv[withoutIndex + 1] ?? '') : undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  for (const { frame, selfMs, share } of selfTimes(profile, top, without)) console.log(`${(share * 100).toFixed(1).padStart(5)}%  ${selfMs.toFixed(0).padStart(6)} ms  ${frame}`);
}
