import os from 'node:os';
import { requiredText } from '../access/access-requests';
import type { Principal } from '../access/principal';
import type { App } from '../app';
import { CommandFailure } from './context';
import { readPassphrase } from './passphrase';

/**
 * Who is at the command line. Commands that read or export recordings run as a named callvault
 * user (`--user`), who proves it with their password: from standard input when it is a pipe
 * (`printf '%s' "$PW" | callvault export ... --user jsmith`), else typed at the terminal without
 * echo; never as an argument, which shell history and `ps` would keep. The same lockout and
 * audit rules apply as for the API. Administration commands (users, keys) are the operator's,
 * who already holds the configuration and the keys: they are recorded as `cli:<os user>@<host>`.
 */

export function operatorName(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (some containers)
  }
  return `cli:${user}@${os.hostname()}`;
}

export async function signInAs(app: App, username: string): Promise<Principal> {
  const password = await readPassphrase({ prompt: `Password for ${username}: ` });
  return app.access.authentication.checkCredentials(username, password, 'cli');
}

/** The `--reason` of a command that reaches recordings: the same rule as every stated reason (requiredText). */
export function reasonOption(raw: string): string {
  try {
    return requiredText(raw, '--reason', 500);
  } catch (error) {
    throw new CommandFailure((error as Error).message, 2);
  }
}
