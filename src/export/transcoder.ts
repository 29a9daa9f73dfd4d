import { PassThrough, type Readable } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import { AppError } from '../errors';
import type { Logger } from '../log/logger';

/**
 * Decrypted audio in, MP3 or WAV out, through ffmpeg's pipes: nothing is written to disk and
 * memory stays at a few pipe buffers whatever the recording's length.
 *
 * MP3 is 24 kHz constant bitrate (CALLVAULT_EXPORT_MP3_BITRATE, 32k by default). Phone audio is
 * 8 kHz, where MP3 is the unofficial "MPEG 2.5" that some players refuse, and where ffmpeg left
 * to itself picks 8 kb/s; at 24 kHz (MPEG-2, standard) the encoder's start-up delay and end
 * padding, which a streamed MP3 cannot announce in a header, add at most ~70 ms, so the file
 * plays for the call's length. WAV is 16-bit PCM at the source's rate; streamed, its header
 * carries "unknown" sizes, which players and ffprobe read to the end of the file.
 *
 * The output ends only when ffmpeg has exited successfully and every byte it wrote has passed
 * through; any failure (of the input, of ffmpeg) destroys it with E_TRANSCODE instead, so a
 * consumer never takes a cut-off file for a whole one.
 */

export type ExportFormat = 'mp3' | 'wav';

export const EXPORT_CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = { mp3: 'audio/mpeg', wav: 'audio/wav' };

export const MP3_SAMPLE_RATE = 24_000;

export interface TranscodeOptions {
  /** The stored format (wav, mp3, ogg, flac): ffmpeg reads it from a pipe without guessing. */
  readonly inputFormat: string | null;
  readonly to: ExportFormat;
  readonly mp3Bitrate: string;
  readonly logger: Logger;
}

export function transcode(input: Readable, options: TranscodeOptions): Readable {
  const output = new PassThrough();
  const command = ffmpeg(input);
  if (options.inputFormat) command.inputFormat(options.inputFormat);
  command.noVideo().outputOptions(['-map_metadata', '-1']);
  if (options.to === 'mp3') command.audioCodec('libmp3lame').audioBitrate(options.mp3Bitrate).audioFrequency(MP3_SAMPLE_RATE).format('mp3');
  else command.audioCodec('pcm_s16le').format('wav');

  let stdoutEnded = false;
  let exitedCleanly = false;
  let failed = false;
  const finishIfDone = (): void => {
    if (stdoutEnded && exitedCleanly && !failed) output.end();
  };
  const fail = (error: Error & { inputStreamError?: unknown }): void => {
    if (failed) return;
    failed = true;
    input.destroy();
    // Killed now if it runs; if it has not started yet, killed by the 'start' handler below.
    if ((command as unknown as { ffmpegProc?: unknown }).ffmpegProc) command.kill('SIGKILL');
    if (output.destroyed) return; // the consumer went away first (a client that hung up)
    const cause = error.inputStreamError ?? error;
    options.logger.warn('transcoding failed', { event: 'export.transcode_failed', to: options.to, error: (cause as Error).message?.slice(0, 500) });
    output.destroy(cause instanceof AppError ? cause : new AppError('E_TRANSCODE', `ffmpeg could not convert the recording to ${options.to}`, { cause }));
  };
  // The input may fail (a chunk that does not authenticate) before ffmpeg has even started and
  // fluent-ffmpeg listens to it: catch that here, or ffmpeg would wait on its stdin for ever.
  input.once('error', fail);
  command.on('start', () => {
    if (failed) {
      command.kill('SIGKILL');
      return;
    }
    const proc = (command as unknown as { ffmpegProc?: { stdout?: Readable } }).ffmpegProc;
    proc?.stdout?.once('end', () => {
      stdoutEnded = true;
      finishIfDone();
    });
  });
  command.on('end', () => {
    exitedCleanly = true;
    finishIfDone();
  });
  command.on('error', fail);
  // When the consumer goes away, fluent-ffmpeg sees the output close and kills ffmpeg.
  command.pipe(output, { end: false });
  return output;
}
