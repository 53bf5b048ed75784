// A node:test reporter that writes one JSON object with the run's totals:
// { tests, suites, pass, fail, cancelled, skipped, todo, durationMs }.
// scripts/run-tests.mjs gives it a file as its destination and prints the
// totals itself after the run, so they come last whatever the visible
// reporter (dot, spec) prints at its end.
//
// The figures are the test runner's own: at the end of a run the root emits
// `test:diagnostic` events "tests N", "pass N", ... at nesting 0. Should a
// run end without them (the runner was cut short), the reporter falls back
// to counting the pass and fail events of tests that are not suites.

const KEYS = new Map([
  ['tests', 'tests'], ['suites', 'suites'], ['pass', 'pass'], ['fail', 'fail'], ['cancelled', 'cancelled'],
  ['skipped', 'skipped'], ['todo', 'todo'], ['duration_ms', 'durationMs'],
]);
const DIAGNOSTIC = /^(\w+) (\d+(?:\.\d+)?)$/;

export default async function* totalsReporter(source) {
  const reported = {};
  const counted = { tests: 0, suites: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0, durationMs: 0 };
  const startedAt = performance.now();
  for await (const event of source) {
    if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      const match = DIAGNOSTIC.exec(String(event.data.message));
      if (match && KEYS.has(match[1])) reported[KEYS.get(match[1])] = Number(match[2]);
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      count(counted, event);
    }
  }
  counted.durationMs = performance.now() - startedAt;
  const complete = ['tests', 'pass', 'fail'].every((key) => key in reported);
  yield `${JSON.stringify(complete ? { ...counted, ...reported } : counted)}\n`;
}

function count(counted, event) {
  const { details, skip, todo } = event.data;
  if (details?.type === 'suite') {
    counted.suites++;
    return;
  }
  counted.tests++;
  if (skip !== undefined && skip !== false) counted.skipped++;
  else if (todo !== undefined && todo !== false) counted.todo++;
  else if (event.type === 'test:pass') counted.pass++;
  else if (details?.error?.failureType === 'cancelledByParent') counted.cancelled++;
  else counted.fail++;
}
