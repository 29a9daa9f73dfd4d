/**
 * Who may do what (SPEC 1), in one table. Routes and commands ask `may(role, action)`; nothing
 * else decides by role. What a role may see of a single recording (staff: only calls they took
 * part in) and whether audio may be heard (a live grant) are decided per recording in
 * recording-policy.ts, on top of this table.
 */

export const ROLES = ['admin', 'manager', 'ig_lead', 'dpo', 'staff'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export type Action =
  | 'recordings.search'
  | 'recordings.view'
  | 'recordings.audio'
  | 'recordings.category'
  | 'recordings.hold'
  | 'access_requests.create'
  | 'access_requests.read_all'
  | 'access_requests.approve'
  | 'access_requests.revoke'
  | 'releases.read'
  | 'releases.record'
  | 'subject_access.export'
  | 'audit.read';

const PERMISSIONS: Readonly<Record<Action, readonly Role[]>> = {
  // admin runs the system and never sees call details unless granted (SPEC 1).
  'recordings.search': ['manager', 'ig_lead', 'staff'],
  'recordings.view': ['manager', 'ig_lead', 'staff'],
  // Everyone may hold a grant; the grant (or a configured exemption, never for admin) decides.
  'recordings.audio': ['admin', 'manager', 'ig_lead', 'dpo', 'staff'],
  'recordings.category': ['ig_lead', 'dpo'],
  'recordings.hold': ['ig_lead', 'dpo'],
  'access_requests.create': ['admin', 'manager', 'ig_lead', 'dpo', 'staff'],
  'access_requests.read_all': ['ig_lead', 'dpo'],
  // The dpo approves only police and disciplinary requests, as a second approval (see AccessRequests).
  'access_requests.approve': ['ig_lead', 'dpo'],
  'access_requests.revoke': ['ig_lead', 'dpo'],
  'releases.read': ['manager', 'ig_lead', 'dpo'],
  'releases.record': ['manager', 'ig_lead', 'dpo'],
  'subject_access.export': ['ig_lead', 'dpo'],
  'audit.read': ['dpo'],
};

export function may(role: Role, action: Action): boolean {
  return PERMISSIONS[action].includes(role);
}

/** The purposes a copy may leave for (the policies' Annex B). */
export const RELEASE_PURPOSES = ['subject_access', 'complaint', 'police', 'disciplinary', 'clinical_record', 'training'] as const;
export type ReleasePurpose = (typeof RELEASE_PURPOSES)[number];

/** Releases the data protection officer must approve too (the policies: police and disciplinary requests). */
export const DPO_PURPOSES: readonly ReleasePurpose[] = ['police', 'disciplinary'];

export function isReleasePurpose(value: unknown): value is ReleasePurpose {
  return typeof value === 'string' && (RELEASE_PURPOSES as readonly string[]).includes(value);
}
