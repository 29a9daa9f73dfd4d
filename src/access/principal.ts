import type { Role } from './roles';

/** A signed-in person, as every access decision and audit entry sees them. */
export interface Principal {
  readonly userId: string;
  readonly username: string;
  readonly role: Role;
  /** Staff: calls on this extension are theirs too. */
  readonly extension: string | null;
}
