import type { Command } from 'commander';
import { AppError, toAppError } from '../../errors';
import { CommandFailure, print, printJson, withApp } from '../context';

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('decrypt a recording and check its SHA-256 against the index')
    .argument('<recording-id>', 'the recording id')
    .option('--json', 'print as JSON')
    .action(async (recordingId: string, options: { json?: boolean }) => {
      await withApp(async (app) => {
        const recording = await app.recordings.get(recordingId);
        if (!recording) throw new AppError('E_RECORDING_NOT_FOUND', `no recording ${recordingId}`);
        if (recording.status !== 'stored') {
          const result = { id: recording.id, status: recording.status, ok: true, reason: recording.statusReason };
          if (options.json) printJson(result);
          else print(`${recording.id}: ${recording.status}${recording.statusReason ? ` (${recording.statusReason})` : ''}; there is no audio to verify`);
          return;
        }
        try {
          const result = await app.vault.verify({
            storageKey: recording.storageKey!,
            keyId: recording.keyId!,
            wrappedKey: recording.wrappedKey!,
            plaintextSize: recording.plaintextSize!,
            sha256: recording.sha256!,
          });
          if (options.json) printJson({ id: recording.id, status: 'stored', ok: true, ...result });
          else print(`${recording.id}: OK  ${result.plaintextSize} bytes  sha256 ${result.sha256}`);
        } catch (error) {
          const appError = toAppError(error);
          if (options.json) printJson({ id: recording.id, status: 'stored', ok: false, code: appError.code, problem: appError.message });
          throw new CommandFailure(`${recording.id}: FAILED ${appError.code}: ${appError.message}`);
        }
      });
    });
}
