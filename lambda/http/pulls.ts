import type { ManifestRecord } from '../core/ports/metadata';
import { errorFields, log } from './log';
import type { ManifestsServices } from './services';

/**
 * Longest a manifest GET waits for its pull to be recorded before answering anyway: the write is
 * a few milliseconds, but a throttled or unreachable table would otherwise hold the pull through
 * the SDK's retries. A write still running then ends on its own (or with the environment).
 */
export const PULL_RECORD_WAIT_MS = 200;

/**
 * Records a served manifest's pull (at most one write per manifest per day, see
 * `ManifestService.recordPull`). Never throws and never waits long: the pull succeeded whatever
 * becomes of its record, so a failed write is logged and the client gets its manifest.
 */
export async function recordPull(
  services: Pick<ManifestsServices, 'manifests'>,
  name: string,
  record: ManifestRecord,
  /** The tag or digest it was pulled by. */
  reference?: string,
): Promise<void> {
  const write = services.manifests.recordPull(name, record, reference).then(
    () => undefined,
    (err: unknown) =>
      log('the pull was not recorded', { repository: name, digest: record.digest, ...errorFields(err) }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waited = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, PULL_RECORD_WAIT_MS);
    timer.unref?.();
  });
  await Promise.race([write, waited]);
  clearTimeout(timer);
}
