/**
 * Running policies from code (what koffloadd and npm start use): the
 * daemon, records, replay, metrics. Policy modules import ./index.js, which
 * stays free of these.
 */
export { type DaemonConfig, type DaemonOptions, type SubsystemConfig, Daemon, validateConfig } from './daemon.js';
export { type Level, createLogger } from './logger.js';
export { type RecordLine, RECORD_VERSION, Recorder, readRecords, toRecordLine } from './record.js';
export { type ReplayOptions, type ReplayReport, formatReplayReport, replayRecording } from './replay.js';
export { loadPolicyModule } from './loader.js';
export { DaemonMetrics } from './metrics.js';
export { type Target, resolveTarget } from './target.js';
