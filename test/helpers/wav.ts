import { Readable } from 'node:stream';

/**
 * WAV audio made in the test: 16-bit PCM with a tone, so ffprobe reads its exact duration and
 * ffmpeg can transcode it. `wavStream` generates long recordings as they are read.
 */

export function wavHeader(dataBytes: number, sampleRate: number, channels: number): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + dataBytes, 4);
  header.write('WAVE', 8, 'latin1');
  header.write('fmt ', 12, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(dataBytes, 40);
  return header;
}

function samples(startSample: number, count: number, sampleRate: number, channels: number, frequency: number): Buffer {
  const out = Buffer.alloc(count * channels * 2);
  for (let i = 0; i < count; i += 1) {
    // A tone with a slow wobble, so no two seconds are byte-identical.
    const t = (startSample + i) / sampleRate;
    const value = Math.round(12000 * Math.sin(2 * Math.PI * (frequency + 20 * Math.sin(t / 3)) * t));
    for (let c = 0; c < channels; c += 1) out.writeInt16LE(value, (i * channels + c) * 2);
  }
  return out;
}

export function makeWav(options: { seconds: number; sampleRate?: number; channels?: number; frequency?: number }): Buffer {
  const sampleRate = options.sampleRate ?? 8000;
  const channels = options.channels ?? 1;
  const count = Math.round(options.seconds * sampleRate);
  return Buffer.concat([wavHeader(count * channels * 2, sampleRate, channels), samples(0, count, sampleRate, channels, options.frequency ?? 440)]);
}

export function wavStream(options: { seconds: number; sampleRate?: number; channels?: number }): { stream: Readable; bytes: number } {
  const sampleRate = options.sampleRate ?? 8000;
  const channels = options.channels ?? 1;
  const total = Math.round(options.seconds * sampleRate);
  let produced = 0;
  let headerSent = false;
  const stream = new Readable({
    read() {
      if (!headerSent) {
        headerSent = true;
        this.push(wavHeader(total * channels * 2, sampleRate, channels));
        return;
      }
      if (produced >= total) {
        this.push(null);
        return;
      }
      const count = Math.min(sampleRate, total - produced);
      this.push(samples(produced, count, sampleRate, channels, 440));
      produced += count;
    },
  });
  return { stream, bytes: 44 + total * channels * 2 };
}
