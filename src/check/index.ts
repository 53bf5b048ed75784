/** keel's linearizability checker: formats, models, the check, the recorder. See docs/check.md. */
export * from './errors.js';
export * from './history.js';
export { checkHistory, type CheckOptions, type CheckResult, type Counterexample, type KeyReport, type Method, type Verdict } from './linearizable.js';
export { formatFault } from './formats/keel.js';
export { detectFormat, HISTORY_FORMATS, type HistoryFormat, parseHistory, readHistoryFile } from './formats/index.js';
export { casRegisterModel, inferModel, kvModel, type Model, MODEL_NAMES, type ModelName, modelByName, mutexModel, registerModel } from './models/index.js';
export { historyClock, HistoryRecorder, type RecordedClient, type RecordedWatch, type RecorderOptions, recordWatch, writeOutcome } from './recorder.js';
export { checkRevisions, type RevisionsResult, type RevisionViolation, type RevisionViolationKind } from './revisions.js';
export { simulateHistory, type SimulateOptions, type Simulated, toKeelEvents } from './simulate.js';
export { renderTimeline } from './timeline.js';
