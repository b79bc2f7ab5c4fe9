import { randomUUID } from 'node:crypto';
import { digestOf } from '../bytes';
import { looksLikeDigest, parseDigest } from '../digest';
import {
  BlobUnknownError,
  ConcurrentModificationError,
  DeniedError,
  DigestInvalidError,
  ManifestBlobUnknownError,
  ManifestInvalidError,
  ManifestUnknownError,
  SizeInvalidError,
} from '../errors';
import { keys } from '../keys';
import { parseManifest } from '../manifest';
import { isImmutable, type RegistryPolicy } from '../policy';
import { assertValidName, isValidTag } from '../names';
import type { BlobStore } from '../ports/blob-store';
import { systemClock, type Clock } from '../ports/clock';
import { dayOf } from '../pulls';
import type { BlobIndex, ManifestIndex, ManifestRecord } from '../ports/metadata';

export interface ManifestServiceOptions {
  /** Largest manifest accepted, in bytes (the spec asks for at least 4 MiB). */
  readonly maxManifestSize: number;
  /** Manifests up to this size are kept inside their index record; larger ones go to the blob store. */
  readonly inlineLimit: number;
  /** The lifecycle policy in force (immutable tags), when one is configured. */
  readonly policy?: () => Promise<RegistryPolicy>;
  /** Whose day a pull is recorded on (`recordPull`). @default systemClock */
  readonly clock?: Clock;
}

/** Largest annotations (as JSON) a manifest with a subject may carry; they live in the index record. */
export const MAX_REFERRER_ANNOTATIONS = 64 * 1024;

/** A reference split into its kind. */
export type Reference =
  { readonly tag: string; readonly digest?: undefined } | { readonly digest: string; readonly tag?: undefined };

/** A manifest as served: its record and, for GET, its exact bytes. */
export interface ManifestContent {
  readonly record: ManifestRecord;
  readonly body?: Uint8Array;
}

/**
 * Pushing, pulling and deleting manifests by tag or digest.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pushing-manifests
 */
export class ManifestService {
  constructor(
    private readonly store: BlobStore,
    private readonly blobs: BlobIndex,
    private readonly manifests: ManifestIndex,
    private readonly options: ManifestServiceOptions,
  ) {}

  /**
   * Resolves a reference to a stored manifest; with `withBody`, also its exact bytes.
   * @throws ManifestUnknownError when the tag or digest is unknown (an invalid tag is unknown too).
   */
  async get(name: string, reference: string, withBody: boolean): Promise<ManifestContent> {
    assertValidName(name);
    const ref = parseReference(reference);
    let digest = ref.digest;
    if (ref.tag !== undefined) {
      const tagged = await this.manifests.resolveTag(name, ref.tag);
      // What a HEAD answers with the tag keeps: one read instead of two.
      if (!withBody && tagged?.descriptor) return { record: tagged.descriptor };
      digest = tagged?.digest;
    }
    const record = digest && (await this.manifests.getManifest(name, digest));
    if (!record) throw new ManifestUnknownError(`manifest ${reference} is unknown to repository ${name}`);
    if (!withBody) return { record };
    const body = record.body ?? (await this.readBody(record.key as string, name, reference));
    return { record, body };
  }

  /**
   * Records that a manifest `get` served (its `record`, which carries the stored day) was pulled
   * today: one conditional write when the stored day is another, nothing otherwise, so a manifest
   * costs at most one write a day however often it is pulled. Returns whether it wrote. Errors are
   * the store's; a caller keeps them off the pull's outcome.
   */
  async recordPull(name: string, record: ManifestRecord): Promise<boolean> {
    const today = dayOf((this.options.clock ?? systemClock).now());
    if (record.pulledOn !== undefined && record.pulledOn >= today) return false;
    await this.manifests.recordPull(name, record.digest, today);
    return true;
  }

  /**
   * Stores a manifest under its digest, and under the tag when the reference is one.
   * @throws SizeInvalidError (too large), ManifestInvalidError, DigestInvalidError (digest reference
   * that does not match the body), ManifestBlobUnknownError (a referenced blob or manifest is not in
   * the repository; a `subject` need not be).
   */
  async put(
    name: string,
    reference: string,
    contentType: string | undefined,
    body: Uint8Array,
  ): Promise<ManifestRecord> {
    assertValidName(name);
    if (body.length > this.options.maxManifestSize) {
      throw new SizeInvalidError(
        `manifest is ${body.length} bytes; the limit is ${this.options.maxManifestSize}`,
        true,
      );
    }
    const ref = parseReference(reference, true);
    const algorithm = ref.digest ? parseDigest(ref.digest).algorithm : 'sha256';
    const digest = digestOf(body, algorithm);
    if (ref.digest && ref.digest !== digest) {
      throw new DigestInvalidError(`manifest body has digest ${digest}, not ${ref.digest}`, {
        expected: ref.digest,
        actual: digest,
      });
    }
    if (ref.tag !== undefined) await this.checkTagMutable(name, ref.tag, digest);
    const parsed = parseManifest(body, contentType);
    // Annotations are kept only for the referrers API, in the index record, which must stay small.
    const annotations = parsed.subject ? parsed.annotations : undefined;
    if (annotations && JSON.stringify(annotations).length > MAX_REFERRER_ANNOTATIONS) {
      throw new ManifestInvalidError(
        `annotations of a manifest with a subject are limited to ${MAX_REFERRER_ANNOTATIONS} bytes of JSON, as they are served by the referrers API`,
      );
    }
    const [missingBlobs, missingManifests] = await Promise.all([
      parsed.blobs.length ? this.blobs.missingLinks(name, unique(parsed.blobs)) : [],
      parsed.manifests.length ? this.manifests.missingManifests(name, unique(parsed.manifests)) : [],
    ]);
    const missing = [...missingBlobs, ...missingManifests];
    if (missing.length > 0) {
      throw new ManifestBlobUnknownError(
        `manifest references ${missing.length} unknown blob(s) or manifest(s): ${missing.slice(0, 5).join(', ')}`,
        {
          missing,
        },
      );
    }
    const inline = body.length <= this.options.inlineLimit;
    const key = inline ? undefined : keys.manifest(digest, randomUUID().slice(0, 8));
    if (key) await this.store.put(key, body, algorithm === 'sha256' ? digest.slice(7) : undefined);
    const record: ManifestRecord = {
      digest,
      mediaType: parsed.mediaType,
      size: body.length,
      ...(inline ? { body } : { key }),
      subject: parsed.subject,
      artifactType: parsed.subject ? parsed.artifactType : undefined,
      annotations,
    };
    try {
      await this.manifests.putManifest(name, record, ref.tag, {
        blobs: unique(parsed.blobs),
        manifests: unique(parsed.manifests),
      });
    } catch (err) {
      if (!(err instanceof ConcurrentModificationError)) throw err;
      throw new ManifestBlobUnknownError(
        'a blob or manifest this manifest references was removed while it was being stored (garbage collection); push them again',
      );
    }
    return record;
  }

  /** An immutable tag may be set once and pushed again with the same manifest, never moved. */
  private async checkTagMutable(name: string, tag: string, digest: string): Promise<void> {
    if (!this.options.policy) return;
    const policy = await this.options.policy();
    if (!isImmutable(policy, name, tag)) return;
    const current = await this.manifests.getTag(name, tag);
    if (current !== undefined && current !== digest) {
      throw new DeniedError(`tag ${tag} of ${name} is immutable: it points at ${current}; push under a new tag`);
    }
  }

  /**
   * By digest, deletes the revision and its tags; by tag, deletes only the tag.
   * @throws ManifestUnknownError when there was nothing to delete.
   */
  async delete(name: string, reference: string): Promise<void> {
    assertValidName(name);
    const ref = parseReference(reference);
    const deleted =
      ref.tag === undefined
        ? await this.manifests.deleteManifest(name, ref.digest)
        : await this.manifests.deleteTag(name, ref.tag);
    if (!deleted) throw new ManifestUnknownError(`manifest ${reference} is unknown to repository ${name}`);
  }

  /** A body in the bucket that is gone (a delete raced this read) is an unknown manifest, not an unknown blob. */
  private async readBody(key: string, name: string, reference: string): Promise<Uint8Array> {
    try {
      return await this.store.get(key);
    } catch (err) {
      if (err instanceof BlobUnknownError) {
        throw new ManifestUnknownError(`manifest ${reference} is unknown to repository ${name}`);
      }
      throw err;
    }
  }
}

/**
 * Splits a reference into tag or digest. An invalid tag is reported as an unknown manifest when
 * reading (no such tag can exist) and as an invalid manifest reference when writing.
 */
export function parseReference(reference: string, forWrite = false): Reference {
  if (looksLikeDigest(reference)) return { digest: parseDigest(reference).value };
  if (!isValidTag(reference)) {
    const message = `invalid tag "${reference}": tags match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`;
    throw forWrite ? new ManifestInvalidError(message) : new ManifestUnknownError(message);
  }
  return { tag: reference };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
