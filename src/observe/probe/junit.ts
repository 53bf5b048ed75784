/**
 * JUnit XML for CI pipelines (Jenkins, GitLab, GitHub test reporters): one
 * <testsuite> named for the checks file, one <testcase> per check with its
 * time in seconds, a <failure> carrying the check's message when it failed.
 * Every attribute and text is escaped, and characters XML 1.0 cannot hold at
 * all (most control characters) are replaced, so any server's answer quoted
 * in a message still yields a document that parses.
 */
import type { CheckResult } from './result.js';

export interface JunitRun {
  /** The suite's name: the checks file. */
  readonly suiteName: string;
  readonly startedAt: Date;
  /** The run's wall time (checks run concurrently, so it is not the sum of theirs). */
  readonly elapsedMs: number;
}

export function renderJunit(run: JunitRun, results: readonly CheckResult[]): string {
  const failures = results.filter((result) => !result.ok).length;
  const totalSeconds = run.elapsedMs / 1_000;
  const suiteName = run.suiteName;
  const timestamp = run.startedAt;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="keel probe" tests="${results.length}" failures="${failures}" errors="0" time="${seconds(totalSeconds)}">`,
    `  <testsuite name="${escapeXml(suiteName)}" tests="${results.length}" failures="${failures}" errors="0" skipped="0" time="${seconds(totalSeconds)}" timestamp="${timestamp.toISOString().replace(/\.\d+Z$/, '')}">`,
  ];
  for (const result of results) {
    const open = `    <testcase name="${escapeXml(result.name)}" classname="${escapeXml(`probe.${result.kind}`)}" time="${seconds(result.durationMs / 1_000)}"`;
    const properties = Object.entries(result.labels);
    if (result.ok && properties.length === 0) {
      lines.push(`${open}/>`);
      continue;
    }
    lines.push(`${open}>`);
    if (properties.length > 0) {
      lines.push('      <properties>');
      for (const [name, value] of properties) lines.push(`        <property name="${escapeXml(name)}" value="${escapeXml(value)}"/>`);
      lines.push('      </properties>');
    }
    if (!result.ok) {
      const message = result.message ?? 'failed';
      const type = result.timedOut ? 'timeout' : 'assertion';
      lines.push(`      <failure message="${escapeXml(message)}" type="${type}">${escapeXml(message)}</failure>`);
    }
    lines.push('    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

const seconds = (value: number): string => value.toFixed(3);

/** Escapes the five XML specials and replaces characters XML 1.0 forbids (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/FFFF). */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;')
    .replace(/\t/g, '&#9;');
}
