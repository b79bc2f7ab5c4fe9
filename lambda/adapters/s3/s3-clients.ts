import { S3Client } from '@aws-sdk/client-s3';
import { commonClientConfig, retryConfig, type AwsClientOptions } from '../client-options';
import { reuseSigner } from '../reused-signer';

export interface S3Clients {
  readonly s3: S3Client;
  /**
   * Signs the URLs handed to clients (blob GETs, direct upload parts), at the address clients reach
   * S3 by. It adds no checksum to what it signs: see `createS3Clients`.
   */
  readonly presign: S3Client;
}

/** The bucket's clients: one that calls S3 (retrying within `options.retry`), one that presigns. */
export function createS3Clients(options: AwsClientOptions = {}): S3Clients {
  const common = commonClientConfig(options);
  const s3 = new S3Client({
    ...common,
    ...retryConfig(options),
    forcePathStyle: options.forcePathStyle ?? false,
    ...(options.s3Endpoint ? { endpoint: options.s3Endpoint } : {}),
  });
  // The presigning client computes and asks for checksums only where an operation requires them.
  // By default (since @aws-sdk/client-s3 3.729) it would sign the CRC32 of the empty body it has at
  // signing time into every part and object PUT URL (`x-amz-checksum-crc32=AAAAAA==` with
  // `x-amz-sdk-checksum-algorithm`), which several S3 implementations hold the real body to, and ask
  // for checksum headers in every GET URL (`x-amz-checksum-mode`). Who holds a URL sends or reads
  // bytes the registry verifies itself.
  const presign = new S3Client({
    ...common,
    forcePathStyle: options.forcePathStyle ?? false,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.s3PublicEndpoint || options.s3Endpoint
      ? { endpoint: options.s3PublicEndpoint ?? options.s3Endpoint }
      : {}),
  });
  // One SigV4 signer for all of the client's calls (see reuseSigner). Presigning makes its own.
  reuseSigner(s3);
  return { s3, presign };
}
