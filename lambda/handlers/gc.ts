import { loadConfig } from '../config/config';
import { log } from '../http/log';
import { composeGarbageCollector } from './wiring/maintenance';

/**
 * Scheduled garbage collection (docs/garbage-collection.md): one run per invocation, its report in
 * the log. Concurrent runs are safe, but the schedule allows one at a time.
 */
export const handler = async (): Promise<unknown> => {
  const collector = await composeGarbageCollector(loadConfig(process.env));
  const report = await collector.run();
  // The list of what the not-pulled rule removed can be long; the log line keeps its start.
  log('garbage collection finished', { report: { ...report, notPulled: report.notPulled.slice(0, 100) } });
  return report;
};
