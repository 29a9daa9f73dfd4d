import os from 'node:os';
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

/** The `--reason` of a command that reaches recordings: as the API asks of its callers, 5 to 500 characters. */
export function reasonOption(raw: string): string {
  const text = raw.trim();
  if (text.length < 5) throw new CommandFailure('--reason: state why, in at least 5 characters', 2);
  if (text.length > 500) throw new CommandFailure('--reason: at most 500 characters', 2);
  return text;
}
