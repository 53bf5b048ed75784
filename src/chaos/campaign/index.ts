/** Jepsen-style runs: a recorded workload, a seeded nemesis through keel chaos, and the linearizability check. */
export { describeReport, runCampaign, type CampaignOptions, type CampaignReport, type CampaignTarget, type CampaignFault } from './campaign.js';
export { isReady, keelUpTarget, waitUntil } from './keel-target.js';
export { defaultNemesisFaults, faultSpecOf, NEMESIS_FAULT_NAMES, NEMESIS_FAULTS, nemesisSchedule, PROCESS_NEMESIS_FAULTS, NEMESIS_STEPS_MAX, type NemesisFaultName, type NemesisStep, type ScheduleOptions } from './schedule.js';
export { longestWriteGapMs, startWorkload, type RunningWorkload, type WorkloadOptions, type WorkloadStats } from './workload.js';
