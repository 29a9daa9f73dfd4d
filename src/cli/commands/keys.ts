import type { Command } from 'commander';
import { systemClock } from '../../clock';
import { generateLocalKey, generateRsaKey, readKeyFolder, setCurrentKey } from '../../crypto/key-files';
import { CommandFailure, loadConfigOrExit, print, printJson, withApp } from '../context';
import { auditKeyChange } from '../key-audit';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('master keys');

  keys
    .command('generate')
    .description('create a master key in the key folder')
    .option('--kind <kind>', 'local (a 256-bit key file) or rsa (a key pair; give ingest-only nodes just the .public.pem)')
    .option('--no-make-current', 'keep the current key; only add this one')
    .option('--bits <bits>', 'RSA modulus length', '3072')
    .action(async (options: { kind?: string; makeCurrent: boolean; bits: string }) => {
      const config = loadConfigOrExit();
      const kind = options.kind ?? config.keys.kek;
      if (kind !== 'local' && kind !== 'rsa') throw new CommandFailure('--kind must be local or rsa', 2);
      const dir = config.keys.dir;
      const existing = readKeyFolder(dir);
      const bits = Number(options.bits);
      if (kind === 'rsa' && (!Number.isInteger(bits) || bits < 2048)) throw new CommandFailure('--bits must be at least 2048', 2);
      const key = kind === 'local' ? generateLocalKey(dir, systemClock) : generateRsaKey(dir, systemClock, bits);
      const makeCurrent = options.makeCurrent || existing.length === 0;
      if (makeCurrent) setCurrentKey(dir, key.id);
      print(`generated ${kind} master key ${key.id} in ${dir}${makeCurrent ? ' (now current: new recordings are wrapped with it)' : ''}`);
      if (kind === 'rsa') {
        print(`  ${key.id}.public.pem   copy this one to ingest-only nodes`);
        print(`  ${key.id}.private.pem  keep this on nodes that must play or export recordings, and in escrow`);
      }
      print('Back up the key folder now: without its keys no recording can ever be decrypted.');
      await auditKeyChange(config, { keyId: key.id, kind, current: makeCurrent });
    });

  keys
    .command('status')
    .description('list master keys, which is current, and how many recordings each still protects')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      await withApp(async (app) => {
        const inUse = await app.recordings.countByKeyId();
        const status = app.keyring.status().map((key) => ({ ...key, recordings: inUse.get(key.id) ?? 0 }));
        const unknown = [...inUse.entries()].filter(([id]) => !app.keyring.get(id));
        if (options.json) {
          printJson({ keys: status, missingKeys: unknown.map(([id, recordings]) => ({ id, recordings })) });
        } else {
          print(`key folder: ${app.config.keys.dir}`);
          for (const key of status) {
            print(
              `  ${key.current ? '*' : ' '} ${key.id}  ${key.kind.padEnd(5)}  ${key.canUnwrap ? 'can decrypt   ' : 'encrypt only  '} ${String(key.recordings).padStart(8)} recordings  ${key.createdAt?.toISOString().slice(0, 10) ?? ''}${key.recordings === 0 && !key.current ? '  (no longer needed)' : ''}`,
            );
          }
          for (const [id, recordings] of unknown) print(`  ! ${id}  MISSING from the key folder: ${recordings} recordings cannot be decrypted here`);
        }
        if (unknown.length > 0) throw new CommandFailure(`${unknown.length} master key(s) used by recordings are not in ${app.config.keys.dir}`);
      });
    });
}
