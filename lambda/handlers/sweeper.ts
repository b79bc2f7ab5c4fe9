import type { Context, ScheduledEvent } from 'aws-lambda';
import { loadConfig } from '../config/config';
import type { SweepResult, UploadSweeper } from '../core/services/upload-sweeper';
import { composeUploadSweeper } from './wiring/maintenance';

/** Time left for the sessions in flight when the sweeper stops taking new ones. */
const STOP_BEFORE_TIMEOUT_MS = 30_000;

let sweeper: UploadSweeper | undefined;

/**
 * Lambda entry point of the upload sweeper, run on a schedule (lib/constructs/maintenance.ts): removes
 * expired upload sessions and frees their staged chunks and multipart uploads. Stops in time before
 * the function's timeout; the next run goes on where this one stopped. Logs one JSON line per run,
 * and fails the invocation (visible in the Errors metric) when a session could not be swept.
 */
export async function handler(
  _event: ScheduledEvent | Record<string, never>,
  context: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<SweepResult> {
  sweeper ??= composeUploadSweeper(loadConfig(process.env));
  const started = Date.now();
  const result = await sweeper.sweep({
    deadline: started + Math.max(0, context.getRemainingTimeInMillis() - STOP_BEFORE_TIMEOUT_MS),
  });
  const line = {
    level: result.failed > 0 ? 'error' : 'info',
    message: 'upload sweep',
    time: new Date().toISOString(),
    durationMs: Date.now() - started,
    ...result,
  };
  console.log(JSON.stringify(line));
  if (result.failed > 0) {
    throw new Error(
      `upload sweep: ${result.failed} session(s) failed, first: ${result.errors[0]} (retried next run; bytes of removed sessions are left to the bucket's lifecycle rules)`,
    );
  }
  return result;
}
