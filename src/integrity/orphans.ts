import { folderOf, type IntegrityRepository } from '../db/integrity';
import { toAppError } from '../errors';
import { RECORDINGS_PREFIX, type ObjectStore } from '../storage/object-store';
import type { ObjectInfo } from '../../storage-adapters/types';

/**
 * Storage against the index, both ways, without decrypting anything:
 * - orphaned objects: under recordings/ in storage, but no stored recording points to them
 *   (left by a crash before the index commit, by a destruction whose delete failed, or by
 *   someone copying files in). An object that an unfinished ingest job is writing, or will clean
 *   up (its pending or abandoned object key), is work in progress, never an orphan.
 * - missing objects: a stored recording whose object is not in storage.
 *
 * Storage lists keys in order, and object keys are fanned out into folders
 * (recordings/3f/3f0c....cv), so the scan takes one folder at a time: the folder's objects from
 * the listing, the folder's recordings from the index, compared both ways. Memory holds one
 * folder, not the whole store. Every finding is confirmed before it is reported (orphans against
 * the index and the job queue after the listing; missing objects with a HEAD), so a recording
 * stored or destroyed during the scan is never misreported.
 */

export interface MissingObject {
  readonly recordingId: string;
  readonly storageKey: string;
}

export interface StorageScan {
  readonly objects: number;
  readonly orphans: readonly ObjectInfo[];
  /** Objects that belong to unfinished ingest jobs. */
  readonly inProgress: number;
  readonly missing: readonly MissingObject[];
}

export async function scanStorage(store: ObjectStore, repo: IntegrityRepository, onObject?: () => void): Promise<StorageScan> {
  let objects = 0;
  let folder: string | null = null;
  const inFolder = new Map<string, ObjectInfo>();
  const seenFolders = new Set<string>();
  const orphanCandidates: ObjectInfo[] = [];
  const missingCandidates: MissingObject[] = [];

  const compareFolder = async (): Promise<void> => {
    if (folder === null) return;
    const indexed = await repo.storedInFolder(folder);
    for (const [key, info] of inFolder) if (!indexed.has(key)) orphanCandidates.push(info);
    for (const [key, recordingId] of indexed) if (!inFolder.has(key)) missingCandidates.push({ recordingId, storageKey: key });
    seenFolders.add(folder);
    inFolder.clear();
  };

  for await (const info of store.list(RECORDINGS_PREFIX)) {
    objects += 1;
    onObject?.();
    const current = folderOf(info.key);
    if (current !== folder) {
      await compareFolder();
      folder = current;
    }
    inFolder.set(info.key, info);
  }
  await compareFolder();

  // Recordings in folders that have no object at all never met the listing.
  for await (const ref of repo.allStored()) {
    if (!seenFolders.has(folderOf(ref.storageKey))) missingCandidates.push({ recordingId: ref.id, storageKey: ref.storageKey });
  }

  const { indexed, inProgress } = await repo.referencedKeys(orphanCandidates.map((info) => info.key));
  const orphans = orphanCandidates.filter((info) => !indexed.has(info.key) && !inProgress.has(info.key));

  const missing: MissingObject[] = [];
  const reported = new Set<string>();
  for (const candidate of missingCandidates) {
    if (reported.has(candidate.recordingId)) continue;
    if ((await store.head(candidate.storageKey)) === null && (await repo.isStoredAt(candidate.recordingId, candidate.storageKey))) {
      missing.push(candidate);
      reported.add(candidate.recordingId);
    }
  }
  orphans.sort((a, b) => a.key.localeCompare(b.key));
  return { objects, orphans, inProgress: inProgress.size, missing };
}

export interface OrphanRemoval {
  readonly removed: readonly ObjectInfo[];
  /** Orphans younger than the grace period: left alone. */
  readonly tooRecent: readonly ObjectInfo[];
  readonly failed: ReadonlyArray<{ readonly key: string; readonly message: string }>;
}

/**
 * Deletes orphans last modified before `now - olderThanMs`. Each is checked once more against
 * the index and the job queue just before its deletion.
 */
export async function removeOrphans(
  store: ObjectStore,
  repo: IntegrityRepository,
  orphans: readonly ObjectInfo[],
  options: { olderThanMs: number; now: Date },
): Promise<OrphanRemoval> {
  const cutoff = options.now.getTime() - options.olderThanMs;
  const removed: ObjectInfo[] = [];
  const tooRecent: ObjectInfo[] = [];
  const failed: Array<{ key: string; message: string }> = [];
  for (const orphan of orphans) {
    if (orphan.lastModified.getTime() > cutoff) {
      tooRecent.push(orphan);
      continue;
    }
    const { indexed, inProgress } = await repo.referencedKeys([orphan.key]);
    if (indexed.has(orphan.key) || inProgress.has(orphan.key)) continue;
    try {
      await store.delete(orphan.key);
      removed.push(orphan);
    } catch (error) {
      failed.push({ key: orphan.key, message: toAppError(error).message });
    }
  }
  return { removed, tooRecent, failed };
}

/** Grace periods such as 24h, 7d or 2w; at least an hour, so work in progress is never at risk. */
export function parseGracePeriod(text: string): number | null {
  const match = /^\s*(\d{1,5})\s*(h|d|w)\s*$/i.exec(text);
  if (!match) return null;
  const hours = Number(match[1]) * { h: 1, d: 24, w: 168 }[match[2]!.toLowerCase() as 'h' | 'd' | 'w'];
  return hours >= 1 ? hours * 3600_000 : null;
}
