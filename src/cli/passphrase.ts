import fs from 'node:fs';
import { text } from 'node:stream/consumers';
import { CommandFailure, EXIT_USAGE } from './context';

/**
 * Passphrases for key escrow: from a file (`--passphrase-file`, e.g. one a password manager
 * wrote), from standard input when it is not a terminal (a pipe), or typed at a terminal without
 * echo. Never from a command-line argument: those end up in shell history and `ps`.
 */

export interface PassphraseSource {
  readonly file?: string;
  /** Ask twice at a terminal (a new passphrase: a typo would lock the escrow forever). */
  readonly confirm?: boolean;
  readonly prompt: string;
}

export async function readPassphrase(source: PassphraseSource): Promise<string> {
  let passphrase: string;
  if (source.file) {
    try {
      passphrase = fs.readFileSync(source.file, 'utf8');
    } catch (error) {
      throw new CommandFailure(`cannot read --passphrase-file ${source.file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, EXIT_USAGE);
    }
    if ((fs.statSync(source.file).mode & 0o077) !== 0) process.stderr.write(`callvault: warning: ${source.file} can be read by other users; keep passphrase files mode 600\n`);
  } else if (!process.stdin.isTTY) {
    passphrase = await text(process.stdin);
  } else {
    passphrase = await promptHidden(source.prompt);
    if (source.confirm && (await promptHidden('Type it again: ')) !== passphrase) throw new CommandFailure('the two passphrases differ', EXIT_USAGE);
  }
  // A file or pipe usually ends with the newline an editor or echo added; it is not part of the passphrase.
  passphrase = passphrase.replace(/\r?\n$/, '');
  if (passphrase === '') throw new CommandFailure('the passphrase is empty', EXIT_USAGE);
  return passphrase;
}

/** Reads one line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const input = process.stdin;
    process.stderr.write(prompt);
    input.setRawMode(true);
    input.resume();
    input.setEncoding('utf8');
    let typed = '';
    const finish = (error?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.removeListener('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string): void => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new CommandFailure('cancelled', EXIT_USAGE));
        if (char === '\u007f' || char === '\b') typed = [...typed].slice(0, -1).join('');
        else typed += char;
      }
    };
    input.on('data', onData);
  });
}
