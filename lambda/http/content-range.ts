import { RangeInvalidError } from '../core/errors';
import type { ByteRange, UploadService } from '../core/services/upload-service';
import type { RegistryRequest } from './request';

/** `<start>-<end>` as the spec writes it, and the `bytes` forms clients also send. */
const CONTENT_RANGE = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/;

/**
 * The byte range a chunk PATCH (or a final PUT) says it carries, or undefined without one. A range
 * that is not `<start>-<end>` with `start <= end` is one the session cannot satisfy: the spec's
 * answer to a chunk it cannot place is 416 with the `Range` the session holds, so the client can
 * resume from there, and that needs the session's current size.
 * @throws RangeInvalidError for a malformed range; BlobUploadUnknownError when there is no session.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-a-blob-in-chunks
 */
export async function chunkRange(
  req: RegistryRequest,
  uploads: UploadService,
  name: string,
  id: string,
): Promise<ByteRange | undefined> {
  const header = req.header('content-range');
  if (header === undefined || header === '') return undefined;
  const m = CONTENT_RANGE.exec(header.trim());
  const range = m ? { start: Number(m[1]), end: Number(m[2]) } : undefined;
  if (range && range.start <= range.end) return range;
  const session = await uploads.status(name, id);
  const why = range ? 'ends before it starts' : 'is not of the form <start>-<end>';
  throw new RangeInvalidError(`Content-Range "${header}" ${why}`, id, name, session.size);
}
