/** The pure parts of bench/lib/jmeter.ts: the generated plan and the summariser's lines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jmeterPlan, parseSummariser } from '../../bench/lib/jmeter.js';

test('the totals come from the last "summary =" line, thread counts from the largest "summary +"', () => {
  const stdout = [
    'Starting the test @ Sat Dec 05 21:09:53 UTC 2026 (1796504993450)',
    'summary +   1000 in     2s =  500.0/s Avg:     1 Min:     0 Max:    74 Err:     0 (0.00%) Active: 40 Started: 40 Finished: 0',
    'summary =   1000 in     2s =  500.0/s Avg:     1 Min:     0 Max:    74 Err:     0 (0.00%)',
    'summary +   3000 in     2s = 1500.0/s Avg:     1 Min:     0 Max:    74 Err:     2 (0.07%) Active: 50 Started: 50 Finished: 0',
    'summary =   4000 in   4.1s =  975.6/s Avg:     1 Min:     0 Max:    74 Err:     2 (0.05%)',
    'Tidying up ...    @ Sat Dec 05 21:09:58 UTC 2026 (1796504998450)',
  ].join('\n');
  assert.deepEqual(parseSummariser(stdout), { requests: 4000, perSecond: 975.6, errors: 2, activeMax: 50, startedMax: 50 });
  assert.equal(parseSummariser('Error in NonGUIDriver'), undefined);
});

test('the plan has one thread group per target, keep-alive on, a timer only when asked', () => {
  const plan = jmeterPlan(
    [
      { url: 'http://127.0.0.1:8080/a?b=1&c=2', threads: 3 },
      { url: 'http://127.0.0.1:8081/', threads: 2 },
    ],
    { durationSeconds: 12, rampSeconds: 5, pauseMs: 1000 },
  );
  assert.equal(plan.match(/<ThreadGroup /g)?.length, 2);
  assert.match(plan, /<stringProp name="HTTPSampler.port">8081<\/stringProp>/);
  assert.match(plan, /<stringProp name="HTTPSampler.path">\/a\?b=1&amp;c=2<\/stringProp>/);
  assert.match(plan, /<boolProp name="HTTPSampler.use_keepalive">true<\/boolProp>/);
  assert.match(plan, /<stringProp name="ThreadGroup.duration">12<\/stringProp>/);
  assert.equal(plan.match(/<ConstantTimer /g)?.length, 2);
  assert.doesNotMatch(jmeterPlan([{ url: 'http://127.0.0.1:8080/', threads: 1 }], { durationSeconds: 1, rampSeconds: 0, pauseMs: 0 }), /ConstantTimer/);
});
