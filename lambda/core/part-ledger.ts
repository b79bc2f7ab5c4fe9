import { createHash } from 'node:crypto';
import { BlobUploadInvalidError } from './errors';
import type { PartRef, StoredPart } from './ports/blob-store';
import type { PartLedger, RecordedPart } from './ports/upload-session';

/** The ledger of a multipart upload no part was committed to. */
export const NO_PARTS: PartLedger = { count: 0, size: 0, chain: '' };

/**
 * The ledger with `parts` committed after the ones it holds. They must be numbered on from
 * `ledger.count + 1`, in order and without gaps, as a request writes them.
 * @throws Error when they are not: a defect of the caller, never a client's doing.
 */
export function extendLedger(ledger: PartLedger, parts: readonly RecordedPart[]): PartLedger {
  let { count, size, chain } = ledger;
  for (const part of parts) {
    if (part.partNumber !== count + 1) {
      throw new Error(`part ${part.partNumber} cannot follow part ${count} in the ledger`);
    }
    count += 1;
    size += part.size;
    chain = link(chain, part);
  }
  return { count, size, chain };
}

/**
 * The parts a ledger committed, out of those the blob store lists for its multipart upload: parts 1
 * to `ledger.count`, each with the size and ETag its request recorded. Parts numbered beyond the
 * ledger were written by requests that never committed (a body that broke off, the loser of a race)
 * and are left out, so the store drops them on completion.
 * @throws BlobUploadInvalidError when a committed part is missing or is not the one committed: a
 * request that lost a race overwrote it, and its bytes are not the ones hashed.
 */
export function committedParts(ledger: PartLedger, listed: readonly StoredPart[]): PartRef[] {
  const parts = listed.filter((p) => p.partNumber <= ledger.count).sort((a, b) => a.partNumber - b.partNumber);
  const missing = parts.findIndex((p, i) => p.partNumber !== i + 1);
  if (missing >= 0 || parts.length < ledger.count) {
    const partNumber = missing >= 0 ? missing + 1 : parts.length + 1;
    throw new BlobUploadInvalidError(`part ${partNumber} of this upload is gone from storage; start a new upload`);
  }
  if (extendLedger(NO_PARTS, parts).chain !== ledger.chain) {
    throw new BlobUploadInvalidError(
      'a part of this upload was overwritten by a request that did not complete; start a new upload',
    );
  }
  return parts.map(({ partNumber, etag }) => ({ partNumber, etag }));
}

/**
 * One more link of the chain: a SHA-256 over the chain so far and the part's number, size and ETag.
 * ETags are compared without their quotes, which S3-compatible stores do not all put alike on
 * every response.
 */
function link(chain: string, part: RecordedPart): string {
  const etag = part.etag.replace(/^"(.*)"$/, '$1');
  return createHash('sha256').update(`${chain}\n${part.partNumber} ${part.size} ${etag}`).digest('hex');
}
