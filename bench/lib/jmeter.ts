/**
 * JMeter as an anchor in bench/load.ts, from Debian's `jmeter` package
 * (2.13), run in non-GUI mode on a test plan (JMX) generated here.
 *
 * Debian's `/usr/bin/jmeter -n -t plan.jmx` cannot load any plan on
 * bookworm: its XStream (1.4.20) refuses every type it was not told to
 * allow, and JMeter 2.13 never tells it, so the run stops with
 * "ForbiddenClassException: org.apache.jmeter.save.ScriptWrapper". The bench
 * therefore compiles a ten-line launcher (`javac`, from the JDK) that allows
 * JMeter's own types on JMeter's two XStream instances and then calls
 * JMeter's main with the usual non-GUI arguments (`-n -t plan.jmx -l
 * results.jtl`), on the package's jars. It also runs the JVM directly, so
 * its PID is the process whose CPU and RSS are read.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isExecutable } from './debian.js';
import { measure, type Measured } from './process-tree.js';

export const JMETER_HOME = '/usr/share/jmeter';
const JAVA_BINARY = '/usr/bin/java';
const JAVAC_BINARY = '/usr/bin/javac';
/** What a row says when JMeter cannot run here. */
export const JMETER_NOT_INSTALLED = 'not installed (apt-get install jmeter)';
/** How long compiling the launcher may take. */
const JAVAC_TIMEOUT_MS = 120_000;
/** The summariser's interval (s): the probe reads "Active"/"Started" thread counts from its lines. */
const SUMMARISER_INTERVAL_SECONDS = 2;
/** Printed by JMeter once the plan is loaded, just before its threads start. */
export const JMETER_START_MARK = /^Starting the test @/m;

const LAUNCHER_SOURCE = `import java.lang.reflect.Field;
import com.thoughtworks.xstream.XStream;
import org.apache.jmeter.util.JMeterUtils;

/** Runs JMeter 2.13 with its XStream instances allowed to load JMeter's own types (newer XStream forbids all by default). */
public final class KeelJmeter {
  public static void main(String[] args) throws Exception {
    String home = System.getProperty("jmeter.home");
    JMeterUtils.setJMeterHome(home);
    JMeterUtils.loadJMeterProperties(home + "/bin/jmeter.properties");
    for (String name : new String[] { "JMXSAVER", "JTLSAVER" }) {
      Field field = org.apache.jmeter.save.SaveService.class.getDeclaredField(name);
      field.setAccessible(true);
      ((XStream) field.get(null)).allowTypesByWildcard(new String[] { "org.apache.jmeter.**", "org.apache.jorphan.**" });
    }
    new org.apache.jmeter.JMeter().start(args);
  }
}
`;

/** A JMeter that can run here: the launcher's classpath. */
export interface Jmeter {
  readonly classpath: string;
}

/** Compiles the launcher into `dir`; returns what to print instead of a row when JMeter cannot run. */
export function prepareJmeter(dir: string): Jmeter | string {
  const coreJar = join(JMETER_HOME, 'bin/ApacheJMeter.jar');
  if (!existsSync(coreJar)) return JMETER_NOT_INSTALLED;
  if (!isExecutable(JAVAC_BINARY)) return 'no javac (apt-get install default-jdk-headless)';
  const jars = `${coreJar}:${join(JMETER_HOME, 'lib/jorphan.jar')}:${join(JMETER_HOME, 'lib/ext/*')}`;
  const launcherDir = join(dir, 'jmeter-launcher');
  mkdirSync(launcherDir, { recursive: true });
  writeFileSync(join(launcherDir, 'KeelJmeter.java'), LAUNCHER_SOURCE);
  try {
    execFileSync(JAVAC_BINARY, ['-nowarn', '-cp', jars, '-d', launcherDir, join(launcherDir, 'KeelJmeter.java')], { stdio: 'pipe', timeout: JAVAC_TIMEOUT_MS });
  } catch (error) {
    return `launcher did not compile: ${String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).split('\n')[0]}`;
  }
  return { classpath: `${launcherDir}:${jars}` };
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface ThreadGroupPlan {
  readonly url: string;
  readonly threads: number;
}

export interface PlanOptions {
  readonly durationSeconds: number;
  readonly rampSeconds: number;
  /** A constant timer before each request (ms); 0: none, a closed loop as fast as it goes. */
  readonly pauseMs: number;
}

function threadGroupXml(group: ThreadGroupPlan, index: number, options: PlanOptions): string {
  const url = new URL(group.url);
  const timer = options.pauseMs > 0 ? `\n        <ConstantTimer guiclass="ConstantTimerGui" testclass="ConstantTimer" testname="pause" enabled="true"><stringProp name="ConstantTimer.delay">${options.pauseMs}</stringProp></ConstantTimer>\n        <hashTree/>` : '';
  return `
      <ThreadGroup guiclass="ThreadGroupGui" testclass="ThreadGroup" testname="group ${index}" enabled="true">
        <stringProp name="ThreadGroup.on_sample_error">continue</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController" guiclass="LoopControlPanel" testclass="LoopController" enabled="true">
          <boolProp name="LoopController.continue_forever">false</boolProp>
          <intProp name="LoopController.loops">-1</intProp>
        </elementProp>
        <stringProp name="ThreadGroup.num_threads">${group.threads}</stringProp>
        <stringProp name="ThreadGroup.ramp_time">${options.rampSeconds}</stringProp>
        <boolProp name="ThreadGroup.scheduler">true</boolProp>
        <stringProp name="ThreadGroup.duration">${options.durationSeconds}</stringProp>
        <stringProp name="ThreadGroup.delay">0</stringProp>
      </ThreadGroup>
      <hashTree>
        <HTTPSamplerProxy guiclass="HttpTestSampleGui" testclass="HTTPSamplerProxy" testname="GET" enabled="true">
          <elementProp name="HTTPsampler.Arguments" elementType="Arguments" guiclass="HTTPArgumentsPanel" testclass="Arguments" enabled="true">
            <collectionProp name="Arguments.arguments"/>
          </elementProp>
          <stringProp name="HTTPSampler.domain">${escapeXml(url.hostname)}</stringProp>
          <stringProp name="HTTPSampler.port">${escapeXml(url.port)}</stringProp>
          <stringProp name="HTTPSampler.protocol">${escapeXml(url.protocol.slice(0, -1))}</stringProp>
          <stringProp name="HTTPSampler.path">${escapeXml(url.pathname + url.search)}</stringProp>
          <stringProp name="HTTPSampler.method">GET</stringProp>
          <boolProp name="HTTPSampler.follow_redirects">false</boolProp>
          <boolProp name="HTTPSampler.auto_redirects">false</boolProp>
          <boolProp name="HTTPSampler.use_keepalive">true</boolProp>
          <stringProp name="HTTPSampler.implementation">HttpClient4</stringProp>
        </HTTPSamplerProxy>
        <hashTree/>${timer}
      </hashTree>`;
}

/** A JMeter 2.13 test plan: one thread group per target, each thread looping GET on its URL over keep-alive (HttpClient4, one connection per thread). */
export function jmeterPlan(groups: readonly ThreadGroupPlan[], options: PlanOptions): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="2.8" jmeter="2.13">
  <hashTree>
    <TestPlan guiclass="TestPlanGui" testclass="TestPlan" testname="keel bench anchor" enabled="true">
      <elementProp name="TestPlan.user_defined_variables" elementType="Arguments" guiclass="ArgumentsPanel" testclass="Arguments" enabled="true">
        <collectionProp name="Arguments.arguments"/>
      </elementProp>
      <boolProp name="TestPlan.functional_mode">false</boolProp>
      <boolProp name="TestPlan.serialize_threadgroups">false</boolProp>
    </TestPlan>
    <hashTree>${groups.map((group, index) => threadGroupXml(group, index, options)).join('')}
    </hashTree>
  </hashTree>
</jmeterTestPlan>
`;
}

export interface SummariserTotals {
  /** From the final "summary =" line. */
  readonly requests: number;
  /** JMeter's own rate: requests over the time from the first sample to the last, so the JVM's startup is outside it. */
  readonly perSecond: number;
  readonly errors: number;
  /** Largest "Active:" and "Started:" thread counts of the "summary +" lines. */
  readonly activeMax: number;
  readonly startedMax: number;
}

/**
 * Reads JMeter's summariser lines (non-GUI stdout): a "summary =" line holds
 * the totals so far and follows every interval's "summary +", so the last one
 * holds the run's. Undefined when there is none.
 */
export function parseSummariser(stdout: string): SummariserTotals | undefined {
  const total = [...stdout.matchAll(/^summary =\s+(\d+) in\s+\S+\s*=\s*([\d.]+)\/s.*?Err:\s+(\d+)/gm)].at(-1);
  if (total === undefined) return undefined;
  const counts = (name: string): number => Math.max(0, ...[...stdout.matchAll(new RegExp(`${name}: (\\d+)`, 'g'))].map((match) => Number(match[1])));
  return { requests: Number(total[1]), perSecond: Number(total[2]), errors: Number(total[3]), activeMax: counts('Active'), startedMax: counts('Started') };
}

export interface JmeterRun {
  readonly measured: Measured;
  readonly totals: SummariserTotals | undefined;
  readonly resultsFile: string;
  readonly logFile: string;
}

/** Runs one plan in non-GUI mode, measured (CPU and RSS of the JVM) from the test's start mark on. */
export async function runJmeter(jmeter: Jmeter, dir: string, name: string, planXml: string, jvmArgs: readonly string[], timeoutMs?: number): Promise<JmeterRun> {
  const plan = join(dir, `${name}.jmx`);
  const resultsFile = join(dir, `${name}.jtl`);
  const logFile = join(dir, `${name}.log`);
  writeFileSync(plan, planXml);
  const args = [
    ...jvmArgs,
    `-Djmeter.home=${JMETER_HOME}`,
    '-cp',
    jmeter.classpath,
    'KeelJmeter',
    '-n',
    '-t',
    plan,
    '-l',
    resultsFile,
    '-j',
    logFile,
    '-Jsummariser.name=summary',
    `-Jsummariser.interval=${SUMMARISER_INTERVAL_SECONDS}`,
    // No UDP shutdown listener (it would bind port 4445 and up).
    '-Jjmeterengine.nongui.port=0',
  ];
  const measured = await measure(JAVA_BINARY, args, { startMark: JMETER_START_MARK, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  return { measured, totals: parseSummariser(measured.stdout), resultsFile, logFile };
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The first failed sample's response code and message in a CSV results file (JMeter 2.13's default columns), or the first ERROR line of its log. */
export function firstFailure(run: JmeterRun): string | undefined {
  const failed = readOrEmpty(run.resultsFile)
    .split('\n')
    .find((line) => /,false,/.test(line));
  if (failed !== undefined) return failed.split(',').slice(3, 5).join(' ').slice(0, 160);
  const logged = [run.measured.stdout, readOrEmpty(run.logFile)].join('\n').split('\n').find((line) => /OutOfMemoryError| ERROR /.test(line));
  return logged?.trim().slice(0, 160);
}

/** What a JVM may take to start and load the plan, on a loaded 2-core box, within an attempt's deadline. */
const PROBE_STARTUP_ALLOWANCE_SECONDS = 30;
/**
 * Threads JMeter is assumed to clone and start per second on top of the ramp:
 * 2 to 5 ms a thread was measured here with 10,000 to 19,000 threads already
 * running on 2 cores, so this allows 10 ms.
 */
const PROBE_CREATE_THREADS_PER_SECOND = 100;
/** Threads the deadline allows per second for stopping them at the end. */
const PROBE_STOP_THREADS_PER_SECOND = 500;

export interface ThreadProbeOptions {
  /** Thread counts to try, ascending; the probe stops at the first that fails. */
  readonly steps: readonly number[];
  /** Targets: the threads are split evenly over them, one thread group each. */
  readonly urls: readonly string[];
  readonly rampSecondsFor: (threads: number) => number;
  /** Time every thread runs after the ramp. */
  readonly holdSeconds: number;
  readonly jvmArgs: readonly string[];
  readonly log: (line: string) => void;
}

export interface ThreadProbeAttempt {
  readonly threads: number;
  /** Why it failed; undefined when every thread started, all were active at once, and no request failed. */
  readonly failure: string | undefined;
  /** RSS growth from the test's start to the run's peak, per thread (KB). */
  readonly rssKbPerThread: number;
  /** Highest rate of the summariser's intervals (req/s). */
  readonly perSecondMax: number;
  readonly p99Ms: number;
  /** Seconds from the first request to the first that saw every thread active. */
  readonly reachedSeconds: number | undefined;
}

interface ResultsRead {
  readonly p99Ms: number;
  /** Largest "allThreads" column: threads active in the whole test when a sample ended. */
  readonly allThreadsMax: number;
  /** From the first sample's start to the first sample that saw `threads` active (s); undefined if none did. */
  readonly reachedSeconds: number | undefined;
}

/** Reads a CSV results file (JMeter 2.13's default columns: timeStamp, elapsed, ..., allThreads at index 10). */
function readResults(resultsFile: string, threads: number): ResultsRead {
  const rows = readOrEmpty(resultsFile)
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(','));
  const elapsed = rows.map((fields) => Number(fields[1])).sort((a, b) => a - b);
  const allThreadsMax = rows.reduce((max, fields) => Math.max(max, Number(fields[10]) || 0), 0);
  const firstMs = rows.reduce((min, fields) => Math.min(min, Number(fields[0])), Infinity);
  const reachedMs = rows.reduce((min, fields) => (Number(fields[10]) >= threads ? Math.min(min, Number(fields[0]) + Number(fields[1])) : min), Infinity);
  return {
    p99Ms: elapsed.length === 0 ? 0 : elapsed[Math.min(elapsed.length - 1, Math.floor(0.99 * elapsed.length))]!,
    allThreadsMax,
    reachedSeconds: Number.isFinite(reachedMs) ? (reachedMs - firstMs) / 1000 : undefined,
  };
}

function failureOf(run: JmeterRun, threads: number, timeoutSeconds: number, activeMax: number): string | undefined {
  const { measured, totals } = run;
  if (measured.timedOut) return `killed after the ${timeoutSeconds} s deadline (${activeMax} threads active at most)`;
  if (totals === undefined) return `no summary (exit ${measured.exitCode}): ${firstFailure(run) ?? 'no error logged'}`;
  if (totals.startedMax < threads || activeMax < threads) return `${totals.startedMax} started, ${activeMax} active at once at most: ${firstFailure(run) ?? 'no error logged'}`;
  if (totals.errors > 0) return `${totals.errors} of ${totals.requests} requests failed: ${firstFailure(run) ?? ''}`;
  if (/OutOfMemoryError/.test(measured.stdout)) return firstFailure(run);
  return undefined;
}

async function probeAttempt(jmeter: Jmeter, dir: string, threads: number, options: ThreadProbeOptions): Promise<ThreadProbeAttempt> {
  const rampSeconds = options.rampSecondsFor(threads);
  const groups = options.urls.map((url, index) => ({ url, threads: Math.floor(threads / options.urls.length) + (index < threads % options.urls.length ? 1 : 0) }));
  // The scheduler's end time is counted from each group's start; JMeter 2.13 starts the groups one after the
  // other and clones the plan for each thread on one engine thread before starting it, so on a busy box the last
  // threads start well after the ramp: the duration allows for that, so that all of them can run at once.
  const durationSeconds = rampSeconds + options.holdSeconds + Math.ceil(threads / PROBE_CREATE_THREADS_PER_SECOND);
  const plan = jmeterPlan(
    groups.filter((group) => group.threads > 0),
    { durationSeconds, rampSeconds, pauseMs: 1000 },
  );
  const timeoutSeconds = Math.ceil(PROBE_STARTUP_ALLOWANCE_SECONDS + durationSeconds + threads / PROBE_STOP_THREADS_PER_SECOND);
  const run = await runJmeter(jmeter, dir, `threads-${threads}`, plan, options.jvmArgs, timeoutSeconds * 1000);
  const results = readResults(run.resultsFile, threads);
  const failure = failureOf(run, threads, timeoutSeconds, Math.max(run.totals?.activeMax ?? 0, results.allThreadsMax));
  const rates = [...run.measured.stdout.matchAll(/^summary \+.*?=\s*([\d.]+)\/s/gm)].map((match) => Number(match[1]));
  return {
    threads,
    failure,
    rssKbPerThread: (run.measured.peakRssKb - (run.measured.atMark?.rssKb ?? 0)) / threads,
    perSecondMax: Math.max(0, ...rates),
    p99Ms: results.p99Ms,
    reachedSeconds: results.reachedSeconds,
  };
}

/**
 * How many threads JMeter holds here: for each step, N threads (one JVM)
 * each sending one GET per second (a 1 s constant timer before each) over
 * its own keep-alive connection, ramped as keel's VUs are, then held; each
 * attempt ends by its deadline (the JVM's process group is killed). Returns
 * the attempts made; the last one failed unless every step held.
 */
export async function probeThreads(jmeter: Jmeter, dir: string, options: ThreadProbeOptions): Promise<ThreadProbeAttempt[]> {
  const attempts: ThreadProbeAttempt[] = [];
  for (const threads of options.steps) {
    options.log(`JMeter: ${threads} threads...`);
    const attempt = await probeAttempt(jmeter, dir, threads, options);
    options.log(`JMeter: ${threads} threads: ${attempt.failure ?? `held, ${attempt.rssKbPerThread.toFixed(1)} KB RSS per thread`}`);
    attempts.push(attempt);
    if (attempt.failure !== undefined) break;
  }
  return attempts;
}
