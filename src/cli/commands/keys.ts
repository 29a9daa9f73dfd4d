import fs from 'node:fs';
import type { Command } from 'commander';
import { systemClock } from '../../clock';
import { exportKeys, readEscrow, restoreKeys } from '../../crypto/key-escrow';
import { generateLocalKey, generateRsaKey, loadKeyring, readKeyFolder, setCurrentKey } from '../../crypto/key-files';
import { rewrapAll } from '../../crypto/key-rotation';
import { clearRotationMarker, readRotationMarker, writeRotationMarker } from '../../crypto/rotation-marker';
import type { MasterKey, MasterKeyKind } from '../../crypto/keyring';
import { DEFAULT_ITERATIONS } from '../../crypto/pkcs12';
import { WrappedKeysRepository } from '../../db/wrapped-keys';
import { AppError } from '../../errors';
import { failpoint } from '../../failpoint';
import { CommandFailure, EXIT_USAGE, commandLogger, loadConfigOrExit, print, printJson, positiveInteger, withApp } from '../context';
import { readPassphrase } from '../passphrase';
import { startProgress } from '../progress';
import { auditKeyChange } from '../key-audit';
import { operatorName } from '../operator';

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
      const bits = parseBits(options.bits, kind);
      const key = generateKey(kind, dir, bits);
      const makeCurrent = options.makeCurrent || existing.length === 0;
      if (makeCurrent) setCurrentKey(dir, key.id);
      print(`generated ${kind} master key ${key.id} in ${dir}${makeCurrent ? ' (now current: new recordings are wrapped with it)' : ''}`);
      if (kind === 'rsa') {
        print(`  ${key.id}.public.pem   copy this one to ingest-only nodes`);
        print(`  ${key.id}.private.pem  keep this on nodes that must play or export recordings, and in escrow`);
      }
      if (makeCurrent && existing.length > 0) print('Existing recordings stay under their old keys until you run "callvault keys rotate --current".');
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
        const status = app.keyring.status().map((key) => ({ ...key, recordings: inUse.get(key.id) ?? 0, neededByRecordings: (inUse.get(key.id) ?? 0) > 0 }));
        const unknown = [...inUse.entries()].filter(([id]) => !app.keyring.get(id));
        const notCurrent = status.filter((key) => !key.current && key.recordings > 0).reduce((sum, key) => sum + key.recordings, 0);
        if (options.json) {
          printJson({ current: app.keyring.currentKeyId, keys: status, missingKeys: unknown.map(([id, recordings]) => ({ id, recordings })), rotationPending: notCurrent });
        } else {
          print(`key folder: ${app.config.keys.dir}`);
          for (const key of status) {
            const note = key.current ? '  (current: new recordings are wrapped with it)' : key.recordings > 0 ? '  (still needed: these recordings are under it; "callvault keys rotate" moves them to the current key)' : '  (no longer needed by any recording; keep it while backups older than the last rotation exist)';
            print(`  ${key.current ? '*' : ' '} ${key.id}  ${key.kind.padEnd(5)}  ${key.canUnwrap ? 'can decrypt   ' : 'encrypt only  '} ${String(key.recordings).padStart(8)} recordings  ${key.createdAt?.toISOString().slice(0, 10) ?? ''}${note}`);
          }
          for (const [id, recordings] of unknown) print(`  ! ${id}  MISSING from the key folder: ${recordings} recordings cannot be decrypted here`);
          const unfinished = readRotationMarker(app.config.keys.dir);
          if (unfinished && notCurrent > 0) print(`the rotation to ${unfinished.to} started ${unfinished.startedAt} is unfinished: ${notCurrent} recording(s) are still under older keys; run "callvault keys rotate" to finish it.`);
          else if (notCurrent > 0) print(`${notCurrent} recording(s) are under older keys: run "callvault keys rotate --current" to move them to the current key.`);
        }
        if (unknown.length > 0) throw new CommandFailure(`${unknown.length} master key(s) used by recordings are not in ${app.config.keys.dir}`);
      });
    });

  keys
    .command('rotate')
    .description('make a new master key current and re-wrap every recording\'s data key under it (audio is not rewritten); run again to resume')
    .option('--batch-size <n>', 'recordings per transaction', '500')
    .option('--max-batches <n>', 'stop after this many batches (run again later to continue)')
    .option('--current', 'generate no key: re-wrap under the key that is already current (after "keys generate" was copied to every node)')
    .option('--bits <bits>', 'RSA modulus length of the new key (CALLVAULT_KEK=rsa)', '3072')
    .option('--escrow <file.p12>', 'write a PKCS#12 escrow copy of the new key here before any recording is re-wrapped under it')
    .option('--passphrase-file <file>', 'passphrase for --escrow (otherwise standard input, or a prompt at a terminal)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { batchSize: string; maxBatches?: string; current?: boolean; bits: string; escrow?: string; passphraseFile?: string; json?: boolean }) => {
      const batchSize = positiveInteger(options.batchSize, '--batch-size');
      const maxBatches = options.maxBatches === undefined ? undefined : positiveInteger(options.maxBatches, '--max-batches');
      if (options.escrow && options.current) throw new CommandFailure('--escrow goes with a new key; with --current, escrow the key with "callvault keys export"', EXIT_USAGE);
      if (options.escrow && fs.existsSync(options.escrow)) throw new CommandFailure(`${options.escrow} exists; choose a new file for the escrow copy`, EXIT_USAGE);
      const config = loadConfigOrExit();
      const bits = parseBits(options.bits, config.keys.kek);
      // Asked first, so a mistyped passphrase leaves no spare key behind.
      const escrowPassphrase = options.escrow ? await readPassphrase({ file: options.passphraseFile, confirm: true, prompt: 'Passphrase for the escrow file: ' }) : null;
      await withApp(async (app) => {
        const wrappedKeys = new WrappedKeysRepository(app.db);
        const dir = config.keys.dir;
        const previous = app.keyring.currentKeyId;
        const unfinished = readRotationMarker(dir);
        // An ingest-only node (RSA public keys) can wrap but not unwrap: rotating there would only generate a key.
        const inUse = await app.recordings.countByKeyId();
        const publicOnly = [...inUse.keys()].filter((id) => app.keyring.get(id) !== undefined && !app.keyring.canUnwrap(id));
        if (publicOnly.length > 0) {
          throw new CommandFailure(`this node holds only the public part of ${publicOnly.join(', ')}, so it cannot unwrap those recordings' data keys; run "callvault keys rotate" on a node that holds the private keys`);
        }
        if (options.current) {
          status(options.json, `re-wrapping under the current key ${previous}; no new key is generated`);
        } else if (unfinished?.to === previous) {
          // An interrupted rotation (or one that left failures) is finished first, under its key.
          status(options.json, `resuming the rotation to ${previous} started ${unfinished.startedAt}: ${await wrappedKeys.countNotUnder(previous)} recording(s) still to re-wrap; no new key is generated`);
        } else {
          const key = generateKey(config.keys.kek, dir, bits);
          if (options.escrow && escrowPassphrase) {
            // Escrowed before it becomes current: from the first re-wrapped recording on, losing
            // the key folder without this copy would lose those recordings.
            writePrivateFile(options.escrow, exportKeys([key], escrowPassphrase), false);
            status(options.json, `escrow copy of ${key.id} written to ${options.escrow}`);
          } else {
            process.stderr.write(`callvault: warning: the new key ${key.id} exists only in ${dir} until you escrow it ("callvault keys export --pkcs12 <file>") and back the folder up\n`);
          }
          // Recorded before the key becomes current: a run killed in between leaves a spare key, never a rotation nobody resumes.
          writeRotationMarker(dir, { to: key.id, startedAt: app.clock.now().toISOString() });
          setCurrentKey(dir, key.id);
          app.keyring.add(key, true);
          status(options.json, `generated ${key.kind} master key ${key.id}; it is now current (was ${previous})`);
        }
        const total = await wrappedKeys.countNotUnder(app.keyring.currentKeyId);
        const progress = startProgress({ label: 'rotating', total });
        let result;
        try {
          result = await rewrapAll({
            keyring: app.keyring,
            wrappedKeys,
            clock: app.clock,
            batchSize,
            maxBatches,
            onBatch: ({ processed }) => progress.advance(processed),
            beforeCommit: (batch) => {
              if (batch === 1) failpoint(config, 'keys.rotate.before-commit');
            },
          });
        } finally {
          progress.stop();
        }
        if (result.remaining === 0) clearRotationMarker(dir);
        await app.access.audit.append({
          actor: operatorName(),
          action: 'key.rotated',
          details: { from: previous, to: result.targetKeyId, rewrapped: result.rewrapped, remaining: result.remaining, failures: result.failures.length, escrowed: Boolean(options.escrow) },
        });
        if (options.json) printJson(result);
        else {
          print(`re-wrapped ${result.rewrapped} recording(s) under ${result.targetKeyId} in ${result.batches} batch(es)${result.skipped > 0 ? `; ${result.skipped} changed meanwhile and were left alone` : ''}`);
          for (const failure of result.failures.slice(0, 20)) print(`  FAILED ${failure.recordingId} (under ${failure.keyId}): ${failure.code}: ${failure.message}`);
          if (result.failures.length > 20) print(`  ... and ${result.failures.length - 20} more`);
          if (result.remaining === 0) {
            print(`every recording is now under ${result.targetKeyId}. Older keys are no longer needed by the index ("callvault keys status"),`);
            print('but keep them (and their escrow) for as long as you keep database backups taken before this rotation.');
          } else if (result.stoppedEarly) {
            print(`stopped after ${result.batches} batch(es) as asked: ${result.remaining} recording(s) still under older keys; run "callvault keys rotate" again to continue.`);
          } else {
            print(`${result.remaining} recording(s) are still under older keys (failures above, or stored meanwhile by a serve process that had not yet picked up the new key); run "callvault keys rotate" again in a minute.`);
          }
          print('A running "callvault serve" on this node picks up the new key within a minute; copy it to other nodes\' key folders.');
          if (!options.escrow) print('Escrow it: "callvault keys export --pkcs12 <file>".');
        }
        if (result.failures.length > 0) throw new CommandFailure(`${result.failures.length} recording(s) could not be re-wrapped`);
      });
    });

  keys
    .command('export')
    .description('export the current master key (or others) as a passphrase-protected PKCS#12 file for escrow')
    .requiredOption('--pkcs12 <file>', 'the file to write (mode 0600; never overwritten unless --force)')
    .option('--key <id>', 'export this key instead of the current one')
    .option('--all', 'export every key this node can decrypt with (old keys are still needed for recordings not yet rotated and for older backups)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (otherwise standard input, or a prompt at a terminal)')
    .option('--force', 'overwrite the file if it exists')
    .action(async (options: { pkcs12: string; key?: string; all?: boolean; passphraseFile?: string; force?: boolean }) => {
      if (options.key && options.all) throw new CommandFailure('give --key or --all, not both', EXIT_USAGE);
      const config = loadConfigOrExit();
      const keyring = loadKeyring({ dir: config.keys.dir, kind: config.keys.kek, autoGenerate: false, clock: systemClock, logger: commandLogger(config) });
      let chosen: MasterKey[];
      if (options.all) {
        const all = keyring.status().map((key) => keyring.get(key.id)!);
        // The current key first: an import into an empty folder makes the first key current.
        chosen = [keyring.get(keyring.currentKeyId)!, ...all.filter((key) => key.id !== keyring.currentKeyId)].filter((key) => key.canUnwrap);
        for (const key of all.filter((k) => !k.canUnwrap)) process.stderr.write(`callvault: skipping ${key.id}: only its public key is on this node\n`);
      } else {
        const id = options.key ?? keyring.currentKeyId;
        const key = keyring.get(id);
        if (!key) throw new AppError('E_KEY_NOT_FOUND', `no master key ${id} in ${config.keys.dir}`);
        chosen = [key];
      }
      if (!options.force && fs.existsSync(options.pkcs12)) throw new CommandFailure(`${options.pkcs12} exists; pass --force to overwrite it`, EXIT_USAGE);
      const passphrase = await readPassphrase({ file: options.passphraseFile, confirm: true, prompt: 'Passphrase for the escrow file: ' });
      const file = exportKeys(chosen, passphrase);
      writePrivateFile(options.pkcs12, file, Boolean(options.force));
      await auditKeyChange(config, { keyIds: chosen.map((key) => key.id), file: options.pkcs12 }, 'key.exported');
      print(`exported ${chosen.map((key) => `${key.id} (${key.kind})`).join(', ')} to ${options.pkcs12}`);
      print(`  PKCS#12, each key encrypted with AES-256-CBC under PBKDF2-HMAC-SHA256 (${DEFAULT_ITERATIONS} iterations), HMAC-SHA256 integrity.`);
      print('Keep the file and its passphrase apart from each other and from the recordings. Check it reads back with');
      print(`  callvault keys import ${options.pkcs12} --dry-run`);
    });

  keys
    .command('import')
    .description('restore master keys from a PKCS#12 escrow file into the key folder (mode 0600)')
    .argument('<file.p12>', 'the escrow file')
    .option('--passphrase-file <file>', 'read the passphrase from this file (otherwise standard input, or a prompt at a terminal)')
    .option('--make-current', 'make the (first) imported key current even if the folder already has a current key')
    .option('--dry-run', 'only check that the file opens and list its keys; write nothing')
    .action(async (file: string, options: { passphraseFile?: string; makeCurrent?: boolean; dryRun?: boolean }) => {
      const config = loadConfigOrExit();
      let bytes: Buffer;
      try {
        bytes = fs.readFileSync(file);
      } catch (error) {
        throw new CommandFailure(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, EXIT_USAGE);
      }
      const passphrase = await readPassphrase({ file: options.passphraseFile, prompt: 'Passphrase of the escrow file: ' });
      const restoredKeys = readEscrow(bytes, passphrase);
      if (options.dryRun) {
        print(`${file} opens with this passphrase and holds ${restoredKeys.length} key(s):`);
        for (const key of restoredKeys) print(`  ${key.id}  ${key.kind}`);
        return;
      }
      const result = restoreKeys(config.keys.dir, restoredKeys, { makeCurrent: options.makeCurrent });
      for (const id of result.restored) print(`restored ${id} into ${config.keys.dir}`);
      if (result.restored.length > 0) await auditKeyChange(config, { keyIds: result.restored, current: result.current ?? null }, 'key.imported');
      for (const id of result.present) print(`${id} is already in ${config.keys.dir} (identical); left as it is`);
      if (result.current) {
        print(`${result.current} is now the current key`);
        const kind = restoredKeys.find((key) => key.id === result.current)!.kind;
        if (kind !== config.keys.kek) print(`note: it is a ${kind} key; set CALLVAULT_KEK=${kind} before starting callvault`);
      }
      print('Check that every recording can be read: callvault verify --all');
    });
}

function generateKey(kind: MasterKeyKind, dir: string, bits: number): MasterKey {
  return kind === 'local' ? generateLocalKey(dir, systemClock) : generateRsaKey(dir, systemClock, bits);
}

function parseBits(text: string, kind: string): number {
  const bits = Number(text);
  if (kind === 'rsa' && (!Number.isInteger(bits) || bits < 2048)) throw new CommandFailure('--bits must be at least 2048', EXIT_USAGE);
  return bits;
}

function status(json: boolean | undefined, line: string): void {
  // With --json, stdout is the result alone; say what is happening on stderr.
  if (json) process.stderr.write(`callvault: ${line}\n`);
  else print(line);
}

/** Written with mode 0600 from the first byte; an existing file is replaced only when forced. */
function writePrivateFile(file: string, content: Buffer, force: boolean): void {
  const fd = fs.openSync(file, force ? 'w' : 'wx', 0o600);
  try {
    // An existing file keeps its old mode on open: tighten it before a key byte goes in.
    fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
