import { planLinkFault, planPartition, sweepNetwork as sweepNamespaces, type LinkFaultSpec, type PartitionSpec } from './network-faults.js';
import type { PlanContext, PlannedFault } from './plan.js';
import { planClockFault, type ClockFaultSpec } from './clock-fault.js';
import { planDiskFault, type DiskFaultSpec } from './disk-fault.js';
import { planFailpoint, type FailpointFaultSpec } from './failpoint-fault.js';
import { planStress, type StressFaultSpec } from './stress.js';

/**
 * Fault kinds beyond process faults, each with its planner. Kept in one table
 * so the CLI, the API and the refusal of unknown kinds agree on the list.
 */
export type ExtraFaultSpec = PartitionSpec | LinkFaultSpec | FailpointFaultSpec | ClockFaultSpec | StressFaultSpec | DiskFaultSpec;

export const FAULT_PLANNERS: Record<string, (spec: never, context: PlanContext) => Promise<PlannedFault>> = {
  partition: planPartition as (spec: never, context: PlanContext) => Promise<PlannedFault>,
  netem: planLinkFault as (spec: never, context: PlanContext) => Promise<PlannedFault>,
  failpoint: planFailpoint as (spec: never, context: PlanContext) => Promise<PlannedFault>,
  clock: planClockFault as (spec: never, context: PlanContext) => Promise<PlannedFault>,
  disk: planDiskFault as (spec: never, context: PlanContext) => Promise<PlannedFault>,
  stress: planStress as (spec: never, context: PlanContext) => Promise<PlannedFault>,
};

/** Removes tagged network state left without a record. */
export async function sweepNetwork(only?: readonly string[]): Promise<string[]> {
  return sweepNamespaces(only);
}
