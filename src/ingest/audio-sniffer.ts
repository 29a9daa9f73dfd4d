import { Transform, type TransformCallback } from 'node:stream';
import { AppError } from '../errors';

/**
 * Looks at the first bytes and refuses anything that is not audio callvault can export later
 * (WAV, MP3, Ogg, FLAC), whatever the sender's Content-Type says: an HTML error page or a JSON
 * message saved as "the recording" would otherwise be stored and retained for years as if it
 * were the call.
 */

export type AudioFormat = 'wav' | 'mp3' | 'ogg' | 'flac';

const CONTENT_TYPES: Record<AudioFormat, string> = {
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
};

export function detectAudioFormat(head: Buffer): AudioFormat | null {
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WAVE') return 'wav';
  if (head.length >= 12 && head.toString('latin1', 0, 4) === 'RF64' && head.toString('latin1', 8, 12) === 'WAVE') return 'wav';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'ID3') return 'mp3';
  // An MPEG audio frame sync: 11 set bits, layer not "reserved".
  if (head.length >= 2 && head[0] === 0xff && (head[1]! & 0xe0) === 0xe0 && (head[1]! & 0x06) !== 0) return 'mp3';
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'OggS') return 'ogg';
  if (head.length >= 4 && head.toString('latin1', 0, 4) === 'fLaC') return 'flac';
  return null;
}

export function contentTypeOf(format: AudioFormat): string {
  return CONTENT_TYPES[format];
}

const SNIFF_BYTES = 12;

export class AudioSniffer extends Transform {
  format: AudioFormat | null = null;
  private head: Buffer[] = [];
  private headLength = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.format) {
      callback(null, chunk);
      return;
    }
    this.head.push(chunk);
    this.headLength += chunk.length;
    if (this.headLength < SNIFF_BYTES) {
      callback();
      return;
    }
    this.decide(callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.format) {
      callback();
      return;
    }
    this.decide(callback);
  }

  private decide(callback: TransformCallback): void {
    const head = Buffer.concat(this.head);
    this.head = [];
    this.format = detectAudioFormat(head);
    if (!this.format) {
      callback(new AppError('E_AUDIO_UNSUPPORTED', head.length === 0 ? 'the recording is empty' : 'the content is not WAV, MP3, Ogg or FLAC audio'));
      return;
    }
    callback(null, head);
  }
}
