import type { Recording } from '../db/recordings';
import { AppError } from '../errors';
import type { Principal } from './principal';
import { may } from './roles';

/**
 * What one person may know of one recording. Staff see only calls they took part in: their
 * username among the call's staff, or their extension on the call. Anything else is answered as
 * if the recording did not exist (404), so guessing ids tells a staff member nothing.
 */

export function tookPart(principal: Principal, recording: Pick<Recording, 'staff' | 'extension'>): boolean {
  if (recording.staff.includes(principal.username)) return true;
  return principal.extension !== null && recording.extension === principal.extension;
}

/** Throws E_RECORDING_NOT_FOUND when this person may not know the recording exists. */
export function requireVisible(principal: Principal, recording: Recording | null, id: string): Recording {
  if (!recording || (principal.role === 'staff' && !tookPart(principal, recording))) {
    throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${id}`);
  }
  return recording;
}

/** The call's details may be shown to this person (search results, metadata). */
export function requireViewer(principal: Principal): void {
  if (!may(principal.role, 'recordings.view')) throw new AppError('E_FORBIDDEN', `a ${principal.role} may not look at call details`);
}

/** Audio can be produced: stored, not being or already destroyed. */
export function requireAudio(recording: Recording): void {
  if (recording.status === 'destroyed') throw new AppError('E_RECORDING_DESTROYED', `recording ${recording.id} was destroyed under its retention rule`);
  if (recording.status === 'destroying') throw new AppError('E_RECORDING_BEING_DESTROYED', `recording ${recording.id} is past its retention date and being destroyed`);
  if (recording.status !== 'stored' || !recording.storageKey || !recording.wrappedKey || !recording.keyId) {
    throw new AppError('E_RECORDING_NOT_STORED', `recording ${recording.id} has no audio (${recording.statusReason ?? recording.status})`);
  }
}
