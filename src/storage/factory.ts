import type { Config } from '../../config';
import { LocalAdapter } from '../../storage-adapters/local';
import type { S3Adapter } from '../../storage-adapters/s3';
import type { StorageAdapter } from '../../storage-adapters/types';
import { ObjectStore, type StorageErrorObserver } from './object-store';

/** The adapter named by CALLVAULT_STORAGE, behind the facade. */
export function createObjectStore(config: Config, onError?: StorageErrorObserver): ObjectStore {
  return new ObjectStore(createAdapter(config), onError);
}

export function createAdapter(config: Config): StorageAdapter {
  if (config.storage.kind === 'local') return new LocalAdapter({ root: config.storage.localDir });
  // Loaded only when used: the AWS SDK costs about 20 MB per thread, which a local set-up need not pay.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { S3Adapter: Adapter } = require('../../storage-adapters/s3') as { S3Adapter: typeof S3Adapter };
  const s3 = config.storage.s3;
  return new Adapter({
    bucket: s3.bucket!,
    region: s3.region,
    endpoint: s3.endpoint,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    forcePathStyle: s3.forcePathStyle,
    checksum: s3.checksum,
    prefix: s3.prefix,
    partSizeBytes: s3.partSizeMb * 1024 * 1024,
    queueSize: s3.queueSize,
  });
}
